"""DESIGN §7 as a script runs it: every command the installed ``tidings`` console script,
each in its own process, on a fresh data directory and the embedded defaults.

The in-process CLI tests share one interpreter in which every module is already loaded;
a script gets a new interpreter per command, and that is where the contract broke before
(``campaign add`` could not find the accounts tables).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from service.net import free_port
from tests.acceptance.outside import (
    DEMO_ISSUE,
    fresh_env,
    parse,
    tidings,
    tidings_json,
    tidings_up,
    wait_finished,
    workbook,
)
from tests.contract import DOMAIN_KEYS, REPORT_KEYS
from tests.documents import build_docx

pytestmark = pytest.mark.slow

IMPORT_KEYS = {"added", "updated", "skipped", "errors"}
PASSWORD = "a long enough password 2026"
ISSUE_KEYS = {"id", "slug", "title", "number", "sections"}
MEMBERS = [
    ("zhang.wei@members.example.org", "张伟", "大连港集团"),
    ("li.na@members.example.org", "李娜", "大连软件园"),
]
GBK_MEMBERS = [("wang.qiang@members.example.org", "王强", "大连商品交易所")]
XLSX_MEMBERS = [("zhao.min@members.example.org", "赵敏", "大连海事大学")]


def _csv(path: Path) -> Path:
    # A row without a valid address among good ones: reported with its line, the rest kept.
    rows = ["email,name,organisation", *(",".join(m) for m in MEMBERS), "not-an-address,坏行,"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _gbk_csv(path: Path) -> Path:
    rows = ["邮箱,姓名,单位", *(",".join(m) for m in GBK_MEMBERS)]
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode("gbk"))
    return path


def _docx(path: Path) -> Path:
    # The demo issue as Word would hold it: headings as heading styles, the rest paragraphs.
    paragraphs = []
    for line in DEMO_ISSUE.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text:
            continue
        level = len(text) - len(text.lstrip("#"))
        style = f"Heading{level}" if 0 < level <= 6 else None
        paragraphs.append((style, [(text.lstrip("#").strip(), False, None)]))
    path.write_bytes(build_docx(paragraphs))
    return path


def _check_import(report: dict[str, object], added: int) -> None:
    assert report.keys() >= IMPORT_KEYS, report
    assert report["added"] == added, report
    assert isinstance(report["errors"], list)
    for error in report["errors"]:
        assert isinstance(error, dict) and {"line", "reason"} <= error.keys(), error


def _check_issue(summary: dict[str, object]) -> int:
    assert summary.keys() >= ISSUE_KEYS, summary
    sections = summary["sections"]
    assert isinstance(sections, list) and sections, summary
    for section in sections:
        assert {"title", "articles"} <= section.keys()
        for article in section["articles"]:
            assert {"title", "source"} <= article.keys()
    assert isinstance(summary["id"], int)
    return summary["id"]


def test_the_section_7_contract_runs_as_a_script_on_the_embedded_defaults(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = fresh_env(data)

    assert tidings_json(env, "db", "upgrade") == {"ok": True}
    staff = tidings_json(
        env, "user", "add", "editor@example.org", "--role", "editor", "--password", PASSWORD
    )
    assert staff["role"] == "editor"
    assert tidings(env, "token", "add", "editor@example.org").stdout.strip()
    listed = tidings_json(env, "list", "add", "members", "--name", "会员单位")
    assert listed["slug"] == "members"

    report = tidings_json(
        env, "subscriber", "import", str(_csv(tmp_path / "m.csv")), "--list", "members"
    )
    _check_import(report, added=len(MEMBERS))
    assert [e["line"] for e in report["errors"]] == [4], report  # type: ignore[index]
    _check_import(
        tidings_json(
            env, "subscriber", "import", str(_gbk_csv(tmp_path / "gbk.csv")), "--list", "members"
        ),
        added=len(GBK_MEMBERS),
    )
    _check_import(
        tidings_json(
            env,
            "subscriber",
            "import",
            str(workbook(tmp_path / "m.xlsx", ["邮箱", "姓名", "单位"], XLSX_MEMBERS)),
            "--list",
            "members",
        ),
        added=len(XLSX_MEMBERS),
    )

    issue_id = _check_issue(tidings_json(env, "issue", "import", str(DEMO_ISSUE)))
    docx_id = _check_issue(
        tidings_json(
            env, "issue", "import", str(_docx(tmp_path / "issue.docx")), "--allow-duplicate"
        )
    )
    assert docx_id != issue_id

    # Plain output is the id alone, so a script can capture it.
    added = tidings(env, "campaign", "add", "--issue", str(issue_id), "--list", "members")
    campaign_id = int(added.stdout.strip())
    first = MEMBERS[0][0]
    eml = tmp_path / "render.eml"
    rendered = tidings_json(
        env, "campaign", "render", str(campaign_id), "--email", first, "--out", str(eml)
    )
    assert rendered["bytes"] == eml.stat().st_size > 0
    message_id = parse(eml.read_bytes())["Message-ID"]

    # A scheduled campaign can be called off before its time.
    later = tidings_json(
        env,
        "campaign",
        "add",
        "--issue",
        str(issue_id),
        "--list",
        "members",
        "--at",
        "2099-01-01T09:00",
    )
    assert tidings_json(env, "campaign", "show", str(later["id"]))["status"] == "scheduled"
    assert tidings_json(env, "campaign", "cancel", str(later["id"]))["ok"] is True

    recipients = len(MEMBERS) + len(GBK_MEMBERS) + len(XLSX_MEMBERS)
    # A script's "send": the service runs (as `tidings up` in the background would), and
    # every further command is still its own process with nothing but the data directory.
    with tidings_up(env, free_port(), "--no-demo"):
        started = tidings_json(env, "campaign", "start", str(campaign_id))
        assert started["ok"] is True
        shown = wait_finished(env, campaign_id)
        assert shown["status"] == "finished", shown
        report = tidings_json(env, "campaign", "report", str(campaign_id))
    assert report.keys() >= REPORT_KEYS, report
    assert report["recipients"] == report["sent"] == recipients, report
    assert report["failed"] == report["unknown"] == 0, report
    # Every member is at one documentation domain: its own provider, never looked up.
    assert [(d["domain"], d["provider"]) for d in report["domains"]] == [
        ("members.example.org", "members.example.org")
    ], report
    assert report["domains"][0].keys() >= DOMAIN_KEYS

    # What went out went to the local capture, and the rendered file was its exact twin.
    outbox = sorted((data / "outbox").glob("*.eml"))
    sent = [parse(p.read_bytes()) for p in outbox]
    assert len(sent) == recipients
    to_first = [m for m in sent if first in str(m["To"])]
    assert [m["Message-ID"] for m in to_first] == [message_id]

    # The demo loads beside what is there (the same issue is reused, not imported twice).
    demo = tidings_json(env, "demo")
    assert demo.keys() >= {"issue_id", "list_id", "subscribers_added"}, demo
    assert demo["issue_id"] == issue_id
