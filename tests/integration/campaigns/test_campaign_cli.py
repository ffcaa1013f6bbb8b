"""`tidings campaign ...` end to end on the test database and the capture SMTP server."""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.campaigns.recipients import materialize
from service.cli import main
from service.cli.demo import load_demo
from service.mail.capture import CaptureStore
from service.model import Delivery


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_add_start_show_render_and_test_through_the_command_line(
    session: Session, capture: CaptureStore, tmp_path: Path, send_queue_held: None
) -> None:
    demo = load_demo(session)
    session.commit()
    cid = int(run("campaign", "add", "--issue", str(demo.issue_id), "--list", "members").strip())
    shown = json.loads(run("campaign", "show", str(cid), "--json"))
    assert shown["status"] == "draft" and shown["total"] == 0
    run("campaign", "start", str(cid))
    materialize(session, cid)
    shown = json.loads(run("campaign", "show", str(cid), "--json"))
    # A worker of the test session may already be sending: every row is on its way.
    on_the_way = sum(shown[k] for k in ("pending", "queued", "sending", "sent"))
    assert shown["status"] == "running" and shown["total"] == on_the_way == 6
    for key in (
        "sent",
        "failed",
        "retry_due",
        "unknown",
        "skipped",
        "rate_per_minute",
        "eta_seconds",
    ):
        assert key in shown

    out = tmp_path / "wang.eml"
    run("campaign", "render", str(cid), "--email", "wang.li@example.org", "--out", str(out))
    msg = message_from_bytes(out.read_bytes(), policy=policy.default)
    delivery_id = session.scalar(select(Delivery.id).where(Delivery.email == "wang.li@example.org"))
    assert msg["Message-ID"].startswith(f"<c{cid}.d{delivery_id}.")
    assert msg["To"].addresses[0].addr_spec == "wang.li@example.org"

    before = set(capture.ids())
    lines = run("campaign", "test", str(cid), "--to", "editor@example.org")
    assert "editor@example.org: sent" in lines
    # The session's worker may be delivering the campaign itself into the same capture.
    new = [
        i
        for i in capture.ids()
        if i not in before and capture.summary(i).rcpt_tos == ["editor@example.org"]
    ]
    assert len(new) == 1
    test_msg = capture.message(new[0])
    assert test_msg["Subject"].startswith("[测试]") and test_msg["X-Tidings-Test"] == "1"
    assert session.scalar(select(Delivery.id).where(Delivery.email == "editor@example.org")) is None

    run("campaign", "pause", str(cid))
    run("campaign", "resume", str(cid))
    run("campaign", "cancel", str(cid))
    final = json.loads(run("campaign", "show", str(cid), "--json"))
    # Cancel skips whatever had not gone out yet; nothing is left in between.
    assert final["status"] == "cancelled"
    assert final["skipped"] + final["sent"] + final["sending"] == 6
    # Nothing would ever send re-queued rows of a cancelled campaign: a clear refusal.
    refused = CliRunner().invoke(main, ["campaign", "resend-unknown", str(cid)])
    assert refused.exit_code == 1 and "cancelled" in refused.output


def test_a_wrong_list_or_state_is_a_clear_error(session: Session) -> None:
    demo = load_demo(session)
    session.commit()
    issue = str(demo.issue_id)
    result = CliRunner().invoke(main, ["campaign", "add", "--issue", issue, "--list", "nope"])
    assert result.exit_code == 1 and "no list 'nope'" in result.output
    result = CliRunner().invoke(main, ["campaign", "pause", "999"])
    assert result.exit_code == 1 and "no campaign 999" in result.output


def test_a_test_rendered_as_a_subscriber_from_the_command_line(
    session: Session, capture: CaptureStore
) -> None:
    demo = load_demo(session)
    session.commit()
    cid = int(run("campaign", "add", "--issue", str(demo.issue_id), "--list", "members").strip())
    before = set(capture.ids())
    lines = run(
        "campaign", "test", str(cid), "--to", "proof@example.org", "--as", "wang.li@example.org"
    )
    assert "proof@example.org: sent" in lines
    (new,) = [i for i in capture.ids() if i not in before]
    assert capture.summary(new).rcpt_tos == ["proof@example.org"]  # not the subscriber
    html = capture.message(new).get_body(("html",)).get_content()
    assert "尊敬的王立，您好！" in html
    refused = CliRunner().invoke(
        main, ["campaign", "test", str(cid), "--to", "proof@example.org", "--as", "no@example.org"]
    )
    assert refused.exit_code == 1 and "no@example.org" in refused.output
    assert [i for i in capture.ids() if i not in before] == [new]  # nothing more was sent
