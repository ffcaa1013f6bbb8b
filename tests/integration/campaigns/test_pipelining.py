"""The relay client that production uses against Postfix and most relays: RFC 2920
PIPELINING (``PipeliningSMTPBackend``), over a real SMTP server that offers it.

The other send tests' sink offers no PIPELINING, so they take smtplib's path; this one
takes the pipelined path and checks what arrives, byte for byte."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
import redis
from sqlalchemy.orm import Session

from service.campaigns import personalise, sender
from service.config import Settings, parse_smtp_url
from service.mail.backends import PermanentSendError, SMTPBackend, TransientSendError
from service.mail.relays import PipeliningSMTPBackend
from tests.integration.campaigns.sink import Sink
from tests.integration.campaigns.test_send_core import _by_email, _campaign
from tests.integration.campaigns.test_send_refusals import _campaign_id

FROM = "bounces@example.org"
MESSAGE = (
    b"From: news@example.org\r\nTo: a@example.com\r\nSubject: dots\r\n"
    b"Message-ID: <dots@example.org>\r\n\r\n"
    b".a line that starts with a dot\r\n..and one with two\r\n.\r\nplain text. The end."
)


@pytest.fixture
def sink() -> Iterator[Sink]:
    sink = Sink(pipelining=True)
    sink.state.keep_raw = True
    yield sink
    sink.stop()


@pytest.fixture
def backend(sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Iterator[PipeliningSMTPBackend]:
    def unpipelined(*_args: object, **_kwargs: object) -> str:
        raise AssertionError("took smtplib's path: the sink offers PIPELINING")

    backend = PipeliningSMTPBackend(parse_smtp_url(sink.url))
    backend.open()
    assert backend._conn is not None and backend._conn.has_extn("pipelining")
    monkeypatch.setattr(SMTPBackend, "send", unpipelined)
    yield backend
    backend.close()


def test_a_pipelined_message_arrives_as_it_was_with_its_dot_lines(
    sink: Sink, backend: PipeliningSMTPBackend
) -> None:
    assert backend.send(FROM, "a@example.com", MESSAGE).startswith("250")
    assert sink.state.raw["a@example.com"] == MESSAGE + b"\r\n"  # dot-stuffing undone
    assert sink.state.mail_from["a@example.com"] == [FROM]


def test_a_refused_recipient_leaves_the_connection_usable(
    sink: Sink, backend: PipeliningSMTPBackend
) -> None:
    sink.state.reject.add("gone@example.com")
    with pytest.raises(PermanentSendError) as refused:
        backend.send(FROM, "gone@example.com", MESSAGE)
    assert refused.value.code == 550 and "no such user" in str(refused.value)
    sink.state.busy_rcpt = 1
    with pytest.raises(TransientSendError) as deferred:
        backend.send(FROM, "later@example.com", MESSAGE)
    assert deferred.value.code == 451
    # The same connection, after the RSET the refusals sent: the next message goes.
    assert backend.connected
    backend.send(FROM, "b@example.com", MESSAGE)
    assert sink.state.counts() == {"b@example.com": 1}
    assert len(sink.state.peers) == 1


def test_a_421_to_mail_drops_the_connection_and_the_next_message_opens_one(
    sink: Sink, backend: PipeliningSMTPBackend
) -> None:
    sink.state.busy_mail = 1
    with pytest.raises(TransientSendError) as busy:
        backend.send(FROM, "a@example.com", MESSAGE)
    assert busy.value.code == 421
    assert not backend.connected
    backend.send(FROM, "a@example.com", MESSAGE)
    assert sink.state.counts() == {"a@example.com": 1}


# ---- BUILT AHEAD (``sender``): the next row's message is built while the relay reads one


@pytest.fixture
def built_ahead(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The addresses whose message was built while the relay read the one before."""
    seen: list[str] = []
    real = sender._Batch.build_ahead

    def spy(self: sender._Batch, r: personalise.Recipient) -> None:
        seen.append(r.email)
        real(self, r)

    monkeypatch.setattr(sender._Batch, "build_ahead", spy)
    return seen


def _batch(
    db: Session, settings: Settings, redis_client: redis.Redis, sink: Sink, emails: list[str]
) -> sender.BatchResult:
    ours = settings.with_overrides(smtp=parse_smtp_url(sink.url))
    ids = _campaign(db, ours, emails)
    return sender.send_batch(db, ours, redis_client, _campaign_id(db), ids)


def test_a_batch_over_a_pipelining_relay_sends_each_row_once_with_its_own_message(
    db: Session, settings: Settings, send_redis: redis.Redis, sink: Sink, built_ahead: list[str]
) -> None:
    emails = [f"m{i}@example.com" for i in range(12)]
    sink.state.reject = {"m5@example.com"}
    result = _batch(db, settings, send_redis, sink, emails)

    assert (result.sent, result.failed) == (11, 1)
    rows = _by_email(db)
    assert sink.state.counts() == {e: 1 for e in emails if e != "m5@example.com"}
    for email, raw in sink.state.raw.items():
        message = message_from_bytes(raw)
        assert email in message["To"]
        assert message["Message-ID"] == rows[email].message_id
    # Every row whose predecessor's content was written was built meanwhile: all but the
    # first, and the one after the refused row (a refusal at RCPT writes no content).
    assert built_ahead == [e for e in emails[1:] if e != "m6@example.com"]


def test_a_row_whose_message_cannot_be_built_ahead_fails_in_its_own_turn(
    db: Session,
    settings: Settings,
    send_redis: redis.Redis,
    sink: Sink,
    built_ahead: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = personalise.CampaignContext.message

    def message(self: personalise.CampaignContext, *args: Any, **kwargs: Any) -> bytes:
        if args[2] == "m2@example.com":  # the recipient's address on the wire
            raise ValueError("a header value this test refuses")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(personalise.CampaignContext, "message", message)
    emails = [f"m{i}@example.com" for i in range(5)]
    result = _batch(db, settings, send_redis, sink, emails)

    assert "m2@example.com" in built_ahead
    assert (result.sent, result.failed) == (4, 1)
    row = _by_email(db)["m2@example.com"]
    assert row.status == "failed" and "cannot build the message" in (row.last_error or "")
    assert "m2@example.com" not in sink.state.counts()
