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
