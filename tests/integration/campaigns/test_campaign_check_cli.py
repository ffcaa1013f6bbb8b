"""`tidings campaign check ID --json` and the preflight of `campaign start`, each command
its own process on the test database (what a script sees)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.orm import Session

from service.campaigns.drafts import create_campaign
from service.cli.demo import DEMO_SUBSCRIBERS, load_demo
from service.config import Settings
from service.issues.render import GMAIL_CLIP_BYTES
from service.model import Campaign

TIDINGS = Path(sys.executable).with_name("tidings")
NAMES = {
    "recipients",
    "message",
    "own_links",
    "external_links",
    "archive_public",
    "spf",
    "dkim_record",
    "dmarc",
    "dkim_signature",
    "list_unsubscribe",
    "html_size",
    "mail_from_alignment",
}


def tidings(test_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TIDINGS), *args],
        env={**os.environ, **test_env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_check_prints_the_contract_and_nothing_blocks_the_capture_without_dns(
    session: Session, settings: Settings, test_env: dict[str, str]
) -> None:
    demo = load_demo(session)
    c = create_campaign(session, settings, issue_id=demo.issue_id, lists=["members"])
    session.commit()
    proc = tidings(test_env, "campaign", "check", str(c.id), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) == {"ok", "checks"} and result["ok"] is True
    assert {c["name"] for c in result["checks"]} == NAMES
    for check in result["checks"]:
        assert set(check) == {"name", "ok", "level", "detail"}
        assert check["level"] in ("error", "warning") and isinstance(check["ok"], bool)
        assert check["ok"] or check["level"] == "warning", check  # the capture: no errors
    by_name = {c["name"]: c for c in result["checks"]}
    assert by_name["recipients"]["detail"].startswith(f"{len(DEMO_SUBSCRIBERS)} recipients")
    # Nothing serves the test base URL: its links are not checked, not called dead.
    assert by_name["own_links"]["detail"].startswith("not checked")


def test_start_refuses_a_failed_error_and_names_it_unless_forced(
    session: Session, settings: Settings, test_env: dict[str, str], send_queue_held: None
) -> None:
    load_demo(session)
    body = "<p>" + "长文本 " * (GMAIL_CLIP_BYTES // 5) + "</p>"
    c = create_campaign(session, settings, body_html=body, subject="Long", lists=["members"])
    session.commit()
    checked = tidings(test_env, "campaign", "check", str(c.id), "--json")
    assert checked.returncode == 1
    result = json.loads(checked.stdout)
    assert result["ok"] is False
    assert [c["name"] for c in result["checks"] if not c["ok"] and c["level"] == "error"] == [
        "html_size"
    ]

    refused = tidings(test_env, "campaign", "start", str(c.id), "--json")
    assert refused.returncode == 1 and "html_size" in refused.stderr, refused
    session.expire_all()
    assert session.get(Campaign, c.id).status == "draft"  # type: ignore[union-attr]

    forced = tidings(test_env, "campaign", "start", str(c.id), "--force", "--json")
    assert forced.returncode == 0, forced.stderr
    assert "html_size" in json.loads(forced.stdout)["warnings"]
    session.expire_all()
    assert session.get(Campaign, c.id).status == "running"  # type: ignore[union-attr]
