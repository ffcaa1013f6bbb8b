"""One mail backend interface with SMTP, capture and memory implementations.

The sending engine talks only to ``MailBackend``: tests swap a real SMTP server for the
memory outbox, a newcomer's machine writes to the capture folder, production uses SMTP.
Errors are named for what the caller should do next.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from service.config import SmtpTarget
from service.mail.capture import CaptureStore

CONNECT_TIMEOUT_SECONDS = 15.0
# 552 is "exceeded storage allocation": RFC 5321 allows treating it as temporary, and
# Mailman does; everything else in 5xx is permanent.
TEMPORARY_5XX = frozenset({552})
# RFC 3463 enhanced status code (class.subject.detail) at the start of a reply text.
ENHANCED_CODE = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")


class SendError(Exception):
    """A message was not accepted."""

    def __init__(self, message: str, code: int | None = None, enhanced: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        # The RFC 3463 code ("5.1.1", "5.7.26"), when the reply carried one: it says
        # whether the recipient or the sender is at fault, which the basic code does not.
        self.enhanced = enhanced


class TransientSendError(SendError):
    """Try again later (4xx, timeouts, dropped connections)."""


class PermanentSendError(SendError):
    """Do not try again: the server refused this recipient or message for good."""


class MailBackend:
    """Send raw RFC 5322 bytes to one recipient. Use as a context manager per batch."""

    def open(self) -> None:
        """Prepare for a batch (e.g. connect); a no-op by default."""

    def close(self) -> None:
        """End the batch (e.g. QUIT); a no-op by default."""

    def send(self, mail_from: str, rcpt: str, data: bytes) -> str:
        """Hand over one message; return the server's answer. Raise a ``SendError``."""
        raise NotImplementedError

    def send_overlapping(
        self, mail_from: str, rcpt: str, data: bytes, meanwhile: Callable[[], None] | None
    ) -> str:
        """``send``, calling ``meanwhile`` while the server reads the message where the
        backend can wait so (the pipelining SMTP client); by default it is not called."""
        return self.send(mail_from, rcpt, data)

    @property
    def connected(self) -> bool:
        """Whether the next ``send`` can use the open connection (a backend without
        connections always can); False once a relay dropped it."""
        return True

    def probe(self, mail_from: str) -> str:
        """Ask whether a message from ``mail_from`` would be taken now, sending none;
        return the answer or raise a ``SendError`` (a backend without a relay: always)."""
        return "ready"

    def __enter__(self) -> MailBackend:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass
class SentMessage:
    """One message kept by the memory backend."""

    mail_from: str
    rcpt: str
    data: bytes


@dataclass
class MemoryBackend(MailBackend):
    """Keeps messages in a list; for unit tests."""

    outbox: list[SentMessage] = field(default_factory=list)

    def send(self, mail_from: str, rcpt: str, data: bytes) -> str:
        """Append to ``outbox``."""
        self.outbox.append(SentMessage(mail_from, rcpt, data))
        return "250 OK (memory)"


class CaptureBackend(MailBackend):
    """Writes straight into the capture folder, for when no SMTP server runs at all."""

    def __init__(self, directory: Path) -> None:
        self.store = CaptureStore(directory)

    def send(self, mail_from: str, rcpt: str, data: bytes) -> str:
        """Store the message as the capture server would."""
        return f"250 OK captured as {self.store.save(data, mail_from, [rcpt])}"


class SMTPBackend(MailBackend):
    """A relay reached over SMTP; one connection is reused for a whole batch."""

    def __init__(
        self,
        target: SmtpTarget,
        timeout: float = CONNECT_TIMEOUT_SECONDS,
        local_hostname: str | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.local_hostname = local_hostname
        self._conn: smtplib.SMTP | None = None

    def open(self) -> None:
        """Connect, say EHLO, start TLS and log in as configured."""
        if self._conn is not None:
            return
        t = self.target
        try:
            if t.implicit_tls:
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    t.host,
                    t.port,
                    timeout=self.timeout,
                    local_hostname=self.local_hostname,
                    context=ssl.create_default_context(),
                )
            else:
                conn = smtplib.SMTP(
                    t.host, t.port, timeout=self.timeout, local_hostname=self.local_hostname
                )
            conn.ehlo()
            if t.starttls:
                conn.starttls(context=ssl.create_default_context())
                conn.ehlo()
            if t.username:
                conn.login(t.username, t.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            text = _text(exc)
            raise PermanentSendError(
                f"login refused: {exc.smtp_code} {text}", exc.smtp_code, enhanced_code(text)
            ) from exc
        except smtplib.SMTPResponseException as exc:
            # A reply while connecting (the greeting, EHLO, STARTTLS): 5.7.x is a policy
            # that refuses us for good (e.g. "554 5.7.1 client host blocked"), which no
            # retry fixes; anything else is tried again later.
            text = _text(exc)
            enhanced = enhanced_code(text)
            error = f"cannot connect to {t.display}: {exc.smtp_code} {text}"
            if is_policy(enhanced):
                raise PermanentSendError(error, exc.smtp_code, enhanced) from exc
            raise TransientSendError(error, exc.smtp_code, enhanced) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientSendError(f"cannot connect to {t.display}: {exc}") from exc
        self._conn = conn

    def close(self) -> None:
        """QUIT politely; a connection already gone is not an error here."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            conn.close()

    def alive(self) -> bool:
        """Whether the open connection still answers a NOOP; a dead one is dropped.

        Used before a kept connection is reused for another batch: a relay that closed it
        meanwhile would otherwise cost the next row a failed attempt.
        """
        conn = self._conn
        if conn is None:
            return False
        try:
            code, _ = conn.noop()
        except (OSError, smtplib.SMTPException):
            code = 0
        if code == 250:
            return True
        self._conn = None
        try:
            conn.close()
        except OSError:
            pass
        return False

    @property
    def connected(self) -> bool:
        """Whether a connection is open (it is dropped when the relay goes away)."""
        return self._conn is not None

    @property
    def supports_smtputf8(self) -> bool:
        """Whether the connected relay offers SMTPUTF8 (needed for non-ASCII local parts)."""
        return self._conn is not None and self._conn.has_extn("smtputf8")

    def send(self, mail_from: str, rcpt: str, data: bytes) -> str:
        """Send one message on the batch connection, classifying any failure."""
        self.open()
        assert self._conn is not None
        options = ["SMTPUTF8"] if not (mail_from + rcpt).isascii() else []
        try:
            refused = self._conn.sendmail(
                mail_from, [rcpt], data, rcpt_options=[], mail_options=options
            )
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(rcpt, (None, b""))
            # smtplib closes the connection after a 421 to RCPT (QQ's "421 … frequency
            # limited"): the next message must open a new one, not fail on the dead one.
            self._drop_if_broken(code or 0)
            raise classify_reply(code, text) from exc
        except smtplib.SMTPResponseException as exc:
            self._drop_if_broken(exc.smtp_code)
            raise classify_reply(exc.smtp_code, exc.smtp_error) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentSendError(f"the relay does not offer SMTPUTF8: {exc}") from exc
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            # The connection is gone mid-transaction: we cannot know whether the server
            # kept the message, so this is transient and the connection is rebuilt.
            self._conn = None
            raise TransientSendError(f"connection lost: {exc}") from exc
        if refused:
            code, text = refused[rcpt]
            raise classify_reply(code, text)
        return "250 OK"

    def probe(self, mail_from: str) -> str:
        """Connect (EHLO, STARTTLS, login as configured), then MAIL FROM and RSET: a relay
        that says 421 only once a transaction starts is not ready, however well it greets.
        No recipient is named and no message sent."""
        self.open()
        conn = self._conn
        assert conn is not None
        try:
            code, text = conn.mail(mail_from)
            if code != 250:
                raise classify_reply(code, text)
            conn.rset()
        except (SendError, OSError, smtplib.SMTPException) as exc:
            self._conn = None
            conn.close()
            if isinstance(exc, SendError):
                raise
            raise TransientSendError(f"connection lost: {exc}") from exc
        return f"{code} {text.decode('utf-8', 'replace')}".strip()

    def _drop_if_broken(self, code: int) -> None:
        if code == 421:  # the server is closing the channel
            self._conn = None


def _text(exc: smtplib.SMTPResponseException) -> str:
    err = exc.smtp_error
    return err.decode("utf-8", "replace") if isinstance(err, bytes) else str(err)


def enhanced_code(text: str) -> str | None:
    """The RFC 3463 enhanced status code in a reply text ("5.7.26"), or None."""
    match = ENHANCED_CODE.search(text.strip())
    return match.group(1) if match else None


def is_permanent_code(code: int | None) -> bool:
    """Whether a basic reply code refuses for good: any 5xx but those RFC 5321 lets us
    treat as temporary (``TEMPORARY_5XX``)."""
    return code is not None and 500 <= code < 600 and code not in TEMPORARY_5XX


def is_policy(enhanced: str | None) -> bool:
    """Whether an enhanced code is a 5.7.x policy refusal: the relay refuses US (our
    authentication, SPF/DKIM/DMARC, a blocked host), which no retry fixes."""
    return enhanced is not None and enhanced.startswith("5.7.")


def classify_reply(code: int | None, text: bytes | str) -> SendError:
    """The error for an SMTP refusal: permanent for 5xx (but 552), else transient.

    The enhanced status code, when present, travels on the error (``.enhanced``).
    """
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    enhanced = enhanced_code(message)
    message = f"{code} {message}".strip() if code is not None else message.strip()
    if is_permanent_code(code):
        return PermanentSendError(message, code, enhanced)
    return TransientSendError(message, code, enhanced)
