"""An honest finish (issue 14, goal 3): rows whose outcome is unknown are said, with what to
do, wherever the campaign is shown; "resend unknown" sends the same Message-ID again and
the report counts the resent rows apart.

Real parts: the test database, Redis, an aiosmtpd sink that keeps each Message-ID it
accepts, and the command line. The "unknown" rows are made as a crash makes them: the
relay accepted the messages, their results were never written, and the sweep found them
``sending``.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import redis
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.campaigns import ledger, sender
from service.campaigns.sender import send_batch
from service.campaigns.service import resend_unknown
from service.cli import main
from service.config import Settings, parse_smtp_url
from service.model import Campaign, Delivery
from service.reports.queries import campaign_report
from tests.integration.api.conftest import Api, make_token
from tests.integration.campaigns.sink import Sink
from tests.integration.campaigns.test_send_core import _campaign

EMAILS = [f"lost{i}@example.com" for i in range(3)] + ["fine@example.com"]


def _show(campaign_id: int) -> dict[str, object]:
    result = CliRunner().invoke(main, ["campaign", "show", str(campaign_id), "--json"])
    assert result.exit_code == 0, result.output
    shown: dict[str, object] = json.loads(result.output)
    return shown


def _crash_after_the_relay_took(
    db: Session,
    settings: Settings,
    client: redis.Redis,
    ids: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Send ``ids`` while the database refuses every result: the relay has the messages,
    the rows stay ``sending`` — as when a worker is killed before its commit group."""

    def database_gone(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the database went away")

    with monkeypatch.context() as patch:
        patch.setattr(sender, "record_outcomes", database_gone)
        with pytest.raises(RuntimeError):
            send_batch(db, settings, client, _campaign_id(db), ids)
    db.rollback()
    swept = ledger.sweep(db, queued_after=timedelta(hours=1), sending_after=timedelta(0))
    assert swept.unknown == len(ids)


def _campaign_id(db: Session) -> int:
    return db.scalar(select(Campaign.id)) or 0


def _finish(
    db: Session, settings: Settings, client: redis.Redis, cid: int, queued: list[int]
) -> None:
    """Send the rows already queued and whatever dispatch queues now; finalize."""
    ids = list(queued)
    ledger.dispatch(db, cid, lambda _c, b: ids.extend(b), batch_size=100, max_batches_in_flight=5)
    if ids:
        send_batch(db, settings, client, cid, ids)
    assert ledger.finalize(db) == [cid]


@pytest.fixture
def crashed(
    db: Session,
    settings: Settings,
    send_redis: redis.Redis,
    sink: Sink,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[int, Settings]:
    """A finished campaign whose first three rows are unknown (the relay has them once)."""
    ours = settings.with_overrides(smtp=parse_smtp_url(sink.url))
    ids = _campaign(db, ours, EMAILS)
    _crash_after_the_relay_took(db, ours, send_redis, ids[:3], monkeypatch)
    _finish(db, ours, send_redis, _campaign_id(db), ids[3:])
    return _campaign_id(db), ours


def test_a_finished_campaign_with_unknown_rows_says_how_many_and_what_to_do(
    crashed: tuple[int, Settings], db: Session
) -> None:
    cid, _ = crashed
    shown = _show(cid)
    assert shown["status"] == "finished" and shown["unknown"] == 3 and shown["sent"] == 1
    attention = shown["needs_attention"]
    assert isinstance(attention, dict) and attention["unknown"] == 3
    assert "resend unknown" in attention["what_to_do"]
    assert "same Message-ID" in attention["what_to_do"]
    report = campaign_report(db, cid)
    assert report is not None
    assert report["needs_attention"] == attention
    assert (report["resent"], report["resent_sent"]) == (0, 0)
    # Every key of DESIGN §7 is still there.
    for key in ("recipients", "sent", "failed", "unknown", "bounced_hard", "links"):
        assert key in report


def test_a_campaign_with_nothing_unknown_needs_no_attention(
    db: Session, settings: Settings, send_redis: redis.Redis, sink: Sink
) -> None:
    ours = settings.with_overrides(smtp=parse_smtp_url(sink.url))
    ids = _campaign(db, ours, EMAILS)
    cid = _campaign_id(db)
    _finish(db, ours, send_redis, cid, ids)
    shown = _show(cid)
    assert shown["status"] == "finished" and shown["needs_attention"] is None
    assert shown["resent"] == 0


def test_resend_unknown_sends_the_same_message_id_and_the_report_counts_it_apart(
    crashed: tuple[int, Settings], db: Session, send_redis: redis.Redis, sink: Sink
) -> None:
    cid, ours = crashed
    first = {email: list(ids) for email, ids in sink.state.received.items()}
    assert all(len(first[e]) == 1 for e in EMAILS)
    assert resend_unknown(db, cid) == 3
    db.commit()
    _finish(db, ours, send_redis, cid, [])

    received = sink.state.received
    for email in EMAILS[:3]:
        # The second copy carries the Message-ID of the first: a mailbox that has it
        # already drops it.
        assert len(received[email]) == 2 and received[email][0] == received[email][1]
        row = db.scalar(select(Delivery).where(Delivery.email == email))
        assert row is not None and row.message_id == received[email][0]
        assert row.resends == 1 and row.resent_at is not None
    assert received["fine@example.com"] == first["fine@example.com"]

    report = campaign_report(db, cid)
    assert report is not None
    assert (report["sent"], report["unknown"]) == (4, 0)
    assert (report["resent"], report["resent_sent"]) == (3, 3)
    assert report["needs_attention"] is None
    shown = _show(cid)
    assert shown["resent"] == 3 and shown["needs_attention"] is None
    text = CliRunner().invoke(main, ["campaign", "report", str(cid)]).output
    assert "resent: 3" in text and "needs attention: no" in text


def test_the_campaign_page_and_the_report_say_it_needs_attention_in_chinese_and_english(
    crashed: tuple[int, Settings], logged_in: FlaskClient
) -> None:
    cid, _ = crashed
    logged_in.get("/lang/zh")
    page = logged_in.get(f"/campaigns/{cid}").get_data(as_text=True)
    assert "data-needs-attention" in page and "需要处理" in page
    assert "3 位收件人可能收到了" in page and "Message-ID" in page
    report = logged_in.get(f"/reports/{cid}").get_data(as_text=True)
    assert "data-needs-attention" in report and "重新发送状态未知的邮件" in report
    logged_in.get("/lang/en")
    page = logged_in.get(f"/campaigns/{cid}").get_data(as_text=True)
    assert "Needs attention:" in page and "3 recipients may or may not have received it" in page


def test_the_api_status_and_report_carry_needs_attention_too(
    crashed: tuple[int, Settings], db: Session, client: FlaskClient
) -> None:
    cid, _ = crashed
    api = Api(client, make_token(db, "admin"))
    status = api.get(f"/campaigns/{cid}/status").get_json()
    assert status["needs_attention"]["unknown"] == 3 and status["resent"] == 0
    report = api.get(f"/campaigns/{cid}/report").get_json()
    assert report["needs_attention"]["unknown"] == 3 and report["resent"] == 0
