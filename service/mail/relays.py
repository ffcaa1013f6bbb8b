"""Several SMTP relays with weights and failover.

``TIDINGS_SMTP_URL`` is the primary relay; staff may add more (with weights) in the sending
settings. Each batch picks a relay at random in proportion to the weights; when it cannot
connect, the next relay (again by weight) is tried, so one relay being down only shifts
its share to the others. A relay that failed to connect is avoided for a short while.
"""

from __future__ import annotations

import random
import smtplib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from service.config import SmtpTarget
from service.mail.backends import (
    CaptureBackend,
    MailBackend,
    SendError,
    SMTPBackend,
    TransientSendError,
    classify_reply,
)

# A relay that refused a connection is tried last for this long.
COOL_DOWN_SECONDS = 30.0


@dataclass(frozen=True)
class Relay:
    """One relay and its share of the traffic."""

    target: SmtpTarget | None  # None: the local capture folder (no SMTP configured)
    weight: float = 1.0

    @property
    def name(self) -> str:
        """A display name without credentials."""
        return self.target.display if self.target else "capture"


class NoRelayAvailable(TransientSendError):
    """No relay accepted a connection; the batch is retried later."""


_cool: dict[str, float] = {}
_cool_lock = threading.Lock()


def _cooling(relay: Relay, now: float) -> bool:
    with _cool_lock:
        return _cool.get(relay.name, 0.0) > now


def _cool_down(relay: Relay) -> None:
    with _cool_lock:
        _cool[relay.name] = time.monotonic() + COOL_DOWN_SECONDS


def weighted_order(relays: Sequence[Relay], rng: random.Random | None = None) -> list[Relay]:
    """The relays in a random order where each is drawn in proportion to its weight.

    Zero-weight relays come last (standby: used only for failover); relays cooling down
    after a failed connection come after those.
    """
    rng = rng or random.Random()
    pool = [r for r in relays if r.weight > 0]
    order: list[Relay] = []
    while pool:
        total = sum(r.weight for r in pool)
        pick = rng.uniform(0, total)
        for index, relay in enumerate(pool):
            pick -= relay.weight
            if pick <= 0 or index == len(pool) - 1:
                order.append(pool.pop(index))
                break
    order += [r for r in relays if r.weight <= 0]
    now = time.monotonic()
    return [r for r in order if not _cooling(r, now)] + [r for r in order if _cooling(r, now)]


# Dots looked at one by one before the search for a line that starts with one gives up
# and lets ``bytes.replace`` do the stuffing (a text with many dots).
DOTS_LOOKED_AT = 64


def smtp_content(data: bytes) -> bytes:
    """What follows DATA's 354 for a CRLF message: ``data`` ending in CRLF, each line that
    starts with a dot given a second one (RFC 5321 §4.5.2), and the final ``.`` line.

    Most messages have no such line (base64 parts; folded header lines start with white
    space), and finding that out by the few dots they hold (``find`` of one byte is
    ``memchr``) costs 3 µs for 60 KB, where ``replace(b"\\r\\n.", …)`` searched the three
    bytes through all of it in 36 µs, 5 % of a worker's time per message.
    """
    body = data if data.endswith(b"\r\n") else data + b"\r\n"
    if _has_dot_line(body):
        body = body.replace(b"\r\n.", b"\r\n..")
        if body.startswith(b"."):
            body = b"." + body
    return body + b".\r\n"


def _has_dot_line(data: bytes) -> bool:
    at = data.find(b".")
    for _ in range(DOTS_LOOKED_AT):
        if at < 0:
            return False
        if at == 0 or data[at - 1] == 0x0A:
            return True
        at = data.find(b".", at + 1)
    return at >= 0  # many dots: let replace look (it finds nothing to do at worst)


class PipeliningSMTPBackend(SMTPBackend):
    """``SMTPBackend`` that uses RFC 2920 PIPELINING when the relay offers it.

    MAIL FROM, RCPT TO and DATA go out in one write and their three replies are read
    together; the message then follows, dot-stuffed by ``smtp_content`` instead of
    smtplib's regex. Two round trips per message instead of four, which
    matters most when the relay (or the machine) is busy. Errors are classified exactly as
    ``SMTPBackend`` does; without PIPELINING, or for SMTPUTF8 envelopes, it simply is one.
    """

    def send(self, mail_from: str, rcpt: str, data: bytes) -> str:
        """Send one message on the batch connection, classifying any failure."""
        return self.send_overlapping(mail_from, rcpt, data, None)

    def send_overlapping(
        self, mail_from: str, rcpt: str, data: bytes, meanwhile: Callable[[], None] | None
    ) -> str:
        """``send``, calling ``meanwhile`` once the content is written and before its
        reply is read: the relay reads and checks the message while the caller works
        (``Transport.send``). Without PIPELINING (smtplib's path) it is not called."""
        self.open()
        conn = self._conn
        assert conn is not None
        if not conn.has_extn("pipelining") or not (mail_from + rcpt).isascii():
            return super().send(mail_from, rcpt, data)
        try:
            conn.send(f"MAIL FROM:<{mail_from}>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n")
            replies = [conn.getreply() for _ in range(3)]
            for code, text in replies:
                if code == 421:
                    self._conn = None
                    raise classify_reply(code, text)
            (mail_code, mail_text), (rcpt_code, rcpt_text), (data_code, data_text) = replies
            failed = next(
                (
                    (c, t)
                    for c, t, ok in (
                        (mail_code, mail_text, (250,)),
                        (rcpt_code, rcpt_text, (250, 251)),
                        (data_code, data_text, (354,)),
                    )
                    if c not in ok
                ),
                None,
            )
            if failed is not None:
                if data_code == 354:  # the server waits for content: end it empty
                    conn.send(b".\r\n")
                    conn.getreply()
                try:
                    conn.rset()
                except (smtplib.SMTPException, OSError):
                    self._conn = None  # the refusal below is what matters, not this
                raise classify_reply(*failed)
            conn.send(smtp_content(data))
            if meanwhile is not None:
                meanwhile()
            code, text = conn.getreply()
        except SendError:
            raise
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            # Gone mid-transaction: unknown whether the server kept the message.
            self._conn = None
            raise TransientSendError(f"connection lost: {exc}") from exc
        if code != 250:
            if code == 421:
                self._conn = None
            raise classify_reply(code, text)
        return f"{code} {text.decode('utf-8', 'replace')}"


class RelayPool:
    """Connects to one relay of several, failing over in weighted order."""

    def __init__(
        self,
        relays: Sequence[Relay],
        capture_dir: Path,
        factory: Callable[[SmtpTarget], MailBackend] = PipeliningSMTPBackend,
    ) -> None:
        if not relays:
            raise ValueError("at least one relay is needed")
        self.relays = list(relays)
        self.capture_dir = capture_dir
        self.factory = factory
        # Same relays, same settings: a connection to this pool may serve another batch.
        self.key: tuple[object, ...] = (tuple(self.relays), str(capture_dir), factory)

    def connect(self) -> tuple[MailBackend, Relay]:
        """An open backend on the first relay (weighted order) that accepts a connection.

        Raises ``NoRelayAvailable`` (transient) naming every relay's error.
        """
        errors = []
        for relay in weighted_order(self.relays):
            backend = (
                self.factory(relay.target)
                if relay.target is not None
                else CaptureBackend(self.capture_dir)
            )
            try:
                backend.open()
            except TransientSendError as exc:
                _cool_down(relay)
                errors.append(f"{relay.name}: {exc}")
                continue
            return backend, relay
        raise NoRelayAvailable("no relay accepted a connection: " + "; ".join(errors))


def probe_relay(pool: RelayPool, mail_from: str) -> str:
    """Whether the pool would take a message now: connect as a batch does (failing over),
    then ``probe`` and QUIT. Returns the relay and its answer; raises a ``SendError``."""
    backend, relay = pool.connect()
    try:
        return f"{relay.name}: {backend.probe(mail_from)}"
    finally:
        backend.close()


def relays_from_settings(
    primary: SmtpTarget | None, primary_weight: float, extra: Sequence[tuple[SmtpTarget, float]]
) -> list[Relay]:
    """The primary relay (``TIDINGS_SMTP_URL``, or the capture) plus the extra ones."""
    return [Relay(primary, primary_weight), *(Relay(t, w) for t, w in extra)]


def supports_smtputf8(backend: MailBackend) -> bool:
    """Whether the backend can carry a non-ASCII local part (the capture always can)."""
    return bool(getattr(backend, "supports_smtputf8", True))
