"""The relay client that production uses against Postfix and most relays: RFC 2920
PIPELINING (``PipeliningSMTPBackend``), over a real SMTP server that offers it.

The other send tests' sink offers no PIPELINING, so they take smtplib's path; this one
takes the pipelined path and checks what arrives, byte for byte."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.config import parse_smtp_url
from service.mail.backends import PermanentSendError, SMTPBackend, TransientSendError
from service.mail.relays import PipeliningSMTPBackend
from tests.integration.campaigns.sink import Sink

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
