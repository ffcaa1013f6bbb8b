"""`tidings issue import` on the real test database."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from flask import Flask

from service.cli import main

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "demo" / "dldta-2026-q1.md"


def test_importing_the_demo_prints_the_design_json_shape(app: Flask) -> None:
    result = CliRunner().invoke(main, ["issue", "import", str(DEMO), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"id", "slug", "title", "number", "sections"}
    assert isinstance(data["id"], int) and data["slug"] == "dldta-2026-q1"
    assert data["title"] == "大连数字贸易" and data["number"] == "2026 年第 1 期 (总第 14 期)"
    assert [s["title"] for s in data["sections"]] == [
        "专家观点",
        "国内资讯",
        "国际资讯",
        "政策报告",
        "协会动态",
    ]
    articles = [a for s in data["sections"] for a in s["articles"]]
    assert len(articles) == 12
    assert all(set(a) == {"title", "source"} for a in articles)
    assert articles[0]["source"] == "国际商报" and articles[-1]["source"] is None


def test_importing_without_json_prints_the_id(app: Flask) -> None:
    result = CliRunner().invoke(main, ["issue", "import", str(DEMO)])
    assert result.exit_code == 0
    assert result.stdout.strip().isdigit()


def test_a_bad_file_exits_with_1_and_a_message(app: Flask, tmp_path: Path) -> None:
    bad = tmp_path / "scan.pdf"
    bad.write_bytes(b"%PDF-1.7")
    result = CliRunner().invoke(main, ["issue", "import", str(bad)])
    assert result.exit_code == 1
    assert "scan.pdf" in result.output and ".md" in result.output
    missing = CliRunner().invoke(main, ["issue", "import", str(tmp_path / "nope.md")])
    assert missing.exit_code == 1 and "cannot read" in missing.output


def test_importing_the_same_file_again_is_refused_with_the_existing_id(app: Flask) -> None:
    first = CliRunner().invoke(main, ["issue", "import", str(DEMO)])
    assert first.exit_code == 0
    first_id = int(first.stdout.strip())

    again = CliRunner().invoke(main, ["issue", "import", str(DEMO)])
    assert again.exit_code != 0 and again.stdout == ""
    assert f"already imported as issue {first_id}" in again.stderr
    assert "--allow-duplicate" in again.stderr

    as_json = CliRunner().invoke(main, ["issue", "import", str(DEMO), "--json"])
    assert as_json.exit_code != 0
    body = json.loads(as_json.stdout)
    assert set(body) == {"error", "duplicate_of"} and body["duplicate_of"] == first_id
    assert f"issue {first_id}" in body["error"]


def test_allow_duplicate_imports_the_same_file_as_a_second_issue(app: Flask) -> None:
    first = CliRunner().invoke(main, ["issue", "import", str(DEMO), "--json"])
    second = CliRunner().invoke(main, ["issue", "import", str(DEMO), "--json", "--allow-duplicate"])
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    one, two = json.loads(first.stdout), json.loads(second.stdout)
    assert set(two) == {"id", "slug", "title", "number", "sections"}
    assert two["id"] != one["id"] and two["slug"] == "dldta-2026-q1-2"
