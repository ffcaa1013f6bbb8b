"""Per-recipient message bytes for bulk newsletters, built for speed.

A campaign's HTML and text are rendered once; for each recipient only a few slots change
(To, Date, Message-ID, List-Unsubscribe and the filled-in bodies).  `MessageBuilder` is
therefore made once per campaign: it encodes everything that never changes (From,
Subject, List-Id, Reply-To, Feedback-ID, extra headers, the MIME boundary and part
headers) into ready byte strings, and `build()` only joins those with the per-recipient
pieces and the base64 bodies.  No `EmailMessage` is created per recipient: the stock
`email` path costs several milliseconds for a 60 KB CJK message and has folding bugs
(STANDARDS.md §2.7).  `build_reference()` keeps that stock path, with `NewsletterPolicy`,
so tests can check that both produce the same message when parsed back.

The message format follows STANDARDS.md §2.1-§2.6 and DESIGN.md §5: multipart/alternative
(text/plain first, text/html last), UTF-8, base64 bodies with 76-character lines, CRLF,
RFC 2047 B-encoded words of at most 75 characters on lines of at most 76, exactly one of
each header, List-Unsubscribe unfolded on one line.

The pieces the builder joins live beside it: `message_addresses` (addresses as the wire
writes them), `message_headers` (encoded-words, folding, address lines), `message_bodies`
(canonical text, base64 lines, `MessageBytes`) and `message_ids` (the Message-ID).
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from service.mail.message_addresses import DOT_ATOM, a_label_domain, encode_address, split_address
from service.mail.message_bodies import MessageBytes, base64_lines, body_octets
from service.mail.message_headers import address_line, fold_words, phrase_words, unstructured_line
from service.mail.message_ids import message_id_for
from service.mail.policy import (
    MAX_LINE_OCTETS,
    POLICY,
    SMTPUTF8_POLICY,
    HeaderInjectionError,
    sanitize_header_value,
)

__all__ = [
    "DEFAULT_TZ",
    "Envelope",
    "HeaderInjectionError",
    "ListId",
    "MessageBuilder",
    "MessageParts",
]

# The first customer is a Chinese association; Date then carries +0800 (STANDARDS §2.7.6).
DEFAULT_TZ = "Asia/Shanghai"

# RFC 2919 §2: a list-id is at most 255 octets.
MAX_LIST_ID = 255
_VISIBLE_ASCII = re.compile(r"[!-~]+\Z")
_HEADER_NAME = re.compile(r"[!-9;-~]+\Z")
_MESSAGE_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>\Z")
# RFC 2369 §2: no whitespace inside the brackets; `<`, `>` and `"` would break the syntax.
# RFC 8058 one-click needs HTTPS; a base URL on plain http (a machine without TLS, such as
# a newcomer's) still gets a working List-Unsubscribe, without List-Unsubscribe-Post.
_UNSUBSCRIBE_URL = re.compile(r"https?://[!#-;=?-~]+\Z")
ONE_CLICK_LINE = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
_MAILTO_URL = re.compile(r"mailto:[!#-;=?-~]+\Z")

# Headers the builder writes itself; extra headers may not repeat them (RFC 2369 §3,
# RFC 5322 §3.6: exactly one of each).
MANAGED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "sender",
        "subject",
        "date",
        "message-id",
        "reply-to",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "feedback-id",
        "dkim-signature",
        "return-path",
    }
)


@dataclass(frozen=True)
class Envelope:
    """The SMTP envelope of one message: MAIL FROM (the VERP return path) and RCPT TO.

    Build it as ``Envelope(verp_address(delivery_id, secret, bounce_domain),
    encode_address(to_addr))`` so both sides are in the form the SMTP server receives.
    """

    mail_from: str
    rcpt: str


@dataclass(frozen=True)
class ListId:
    """RFC 2919 List-Id: ``[description] <label.domain>``; keep it stable for the list."""

    label: str
    domain: str
    description: str | None = None


@dataclass(frozen=True, kw_only=True)
class MessageParts:
    """Everything about a campaign's messages that is the same for every recipient."""

    from_name: str
    from_addr: str
    reply_to: str | None = None
    subject: str
    list_id: ListId
    list_unsubscribe_mailto: str | None = None
    feedback_id: str | None = None
    message_id_domain: str
    tz: str = DEFAULT_TZ
    extra_headers: tuple[tuple[str, str], ...] = ()
    # The MIME boundary's distinct part (hex); random when not given. A campaign derives
    # it from its id, so the file `campaign render` writes is the message later sent.
    boundary_seed: str | None = None


# --------------------------------------------------------------------------- builder


def _check_ascii_token(name: str, value: str, pattern: re.Pattern[str], what: str) -> str:
    """Validate `value` against `pattern`, raising a clear error naming the header."""
    sanitize_header_value(name, value)
    if not value.isascii() or not pattern.match(value):
        raise ValueError(f"{name}: not {what}: {value!r}")
    return value


def _mailto_uri(value: str) -> str:
    """Return a ``mailto:`` URI for List-Unsubscribe from a URI or a bare address."""
    sanitize_header_value("List-Unsubscribe", value)
    if value.lower().startswith("mailto:"):
        return _check_ascii_token("List-Unsubscribe", value, _MAILTO_URL, "a mailto: URI")
    # A subject makes the request recognisable when it lands in a shared mailbox.
    return f"mailto:{encode_address(value)}?subject=unsubscribe"


def _line(text: str) -> bytes:
    """Return one header line (possibly folded) as bytes with its CRLF, length-checked."""
    for part in text.split("\r\n"):
        if len(part.encode("utf-8")) > MAX_LINE_OCTETS:
            raise ValueError(f"header line over {MAX_LINE_OCTETS} octets: {part[:60]!r}...")
    return text.encode("utf-8") + b"\r\n"


class MessageBuilder:
    """Builds the RFC 5322 bytes of one campaign's message for each recipient.

    Construct once per campaign (it validates and pre-encodes `MessageParts`, picks the
    MIME boundary and assembles the fixed header blocks), then call `build()` per
    recipient.  Instances can be shared between threads: the only state that changes
    after construction is the Date-line cache, which is replaced atomically.
    """

    def __init__(self, parts: MessageParts) -> None:
        """Validate `parts` and precompile every byte string that is the same per message."""
        self.parts = parts
        self.tz = ZoneInfo(parts.tz)
        for field_name in ("from_name", "subject"):
            sanitize_header_value(field_name, getattr(parts, field_name))

        self._from_addr = encode_address(parts.from_addr)
        self._reply_to = encode_address(parts.reply_to) if parts.reply_to else None
        list_id = self._list_id_value(parts.list_id)
        self._list_id = list_id
        self._mailto = (
            _mailto_uri(parts.list_unsubscribe_mailto) if parts.list_unsubscribe_mailto else None
        )
        if parts.feedback_id is not None:
            _check_ascii_token(
                "Feedback-ID", parts.feedback_id, _VISIBLE_ASCII, "printable ASCII, no spaces"
            )
        self._extra = self._check_extra_headers(parts.extra_headers)
        self.message_id_domain = a_label_domain(parts.message_id_domain)

        # Neither `_` nor `.` occur in base64 text, so this boundary can never appear in
        # a body part and needs no collision check (RFC 2046 §5.1.1).
        seed = parts.boundary_seed or secrets.token_hex(12)
        if not re.fullmatch(r"[0-9a-f]{8,40}", seed):
            raise ValueError("the boundary seed must be 8 to 40 lower-case hex digits")
        self.boundary = f"=_tidings.{seed}"
        boundary = self.boundary.encode("ascii")

        self._from_line = _line(address_line("From", parts.from_name, self._from_addr))
        self._subject_line = _line(unstructured_line("Subject", parts.subject))
        middle: list[bytes] = []
        if self._reply_to:
            middle.append(_line(f"Reply-To: {self._reply_to}"))
        middle.append(b"MIME-Version: 1.0\r\n")
        middle.append(_line(f'Content-Type: multipart/alternative;\r\n boundary="{self.boundary}"'))
        middle.append(_line(self._list_id_line(list_id)))
        self._middle = b"".join(middle)
        tail = []
        if parts.feedback_id is not None:
            tail.append(_line(f"Feedback-ID: {parts.feedback_id}"))
        for name, value in self._extra:
            tail.append(_line(unstructured_line(name, value)))
        part_head = b'Content-Type: %s; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n'
        tail.append(b"\r\n--" + boundary + b"\r\n" + part_head % b"text/plain" + b"\r\n")
        self._tail_plain = b"".join(tail)
        self._tail = ONE_CLICK_LINE + self._tail_plain
        self._html_head = b"\r\n--" + boundary + b"\r\n" + part_head % b"text/html" + b"\r\n"
        self._closing = b"\r\n--" + boundary + b"--\r\n"
        # The mailto: carries the recipient's unsubscribe token in its subject, so a request
        # by mail proves who it is for (a forged From alone unsubscribes nobody).
        self._lu_mailto = f">, <{self._mailto}%20".encode() if self._mailto else b""
        # Per-second cache of the Date line: formatting a datetime costs more than the
        # rest of the header block, and newsletter batches send many messages per second.
        self._date_cache: tuple[int, bytes] = (-1, b"")

    # ---- per-campaign helpers

    @staticmethod
    def _list_id_value(list_id: ListId) -> str:
        """Return the validated ``label.domain`` list identifier (RFC 2919 §2)."""
        label = _check_ascii_token("List-Id", list_id.label, DOT_ATOM, "a dot-atom label")
        value = f"{label}.{a_label_domain(list_id.domain)}"
        if len(value) > MAX_LIST_ID:
            raise ValueError(f"List-Id is {len(value)} octets, over RFC 2919's {MAX_LIST_ID}")
        return value

    def _list_id_line(self, list_id: str) -> str:
        """Return the List-Id line; only the description phrase may be folded."""
        description = self.parts.list_id.description
        if not description:
            return f"List-Id: <{list_id}>"
        sanitize_header_value("List-Id", description)
        # The `<list-id>` token itself is never folded or encoded (STANDARDS §2.7 item 2).
        return fold_words("List-Id: ", phrase_words(description, 9), f" <{list_id}>")

    @staticmethod
    def _check_extra_headers(
        headers: tuple[tuple[str, str], ...],
    ) -> tuple[tuple[str, str], ...]:
        """Validate extra headers: legal names, no managed or repeated names, safe values."""
        seen: set[str] = set()
        for name, value in headers:
            if not _HEADER_NAME.match(name):
                raise ValueError(f"invalid header name: {name!r}")
            lowered = name.lower()
            if lowered in MANAGED_HEADERS or lowered in seen:
                raise ValueError(f"extra header {name!r} is managed by the builder or repeated")
            seen.add(lowered)
            sanitize_header_value(name, value)
        return headers

    def message_id_for(self, delivery_id: int, campaign_id: int, secret: bytes) -> str:
        """Return `message_id_for` on this campaign's `message_id_domain`."""
        return message_id_for(delivery_id, campaign_id, secret, self.message_id_domain)

    # ---- per-recipient pieces

    def _date_line(self, date: datetime | None) -> bytes:
        """Return the Date line for `date` (now when None) with a numeric zone."""
        if date is None:
            now = int(time.time())
            cached_second, cached_line = self._date_cache
            if cached_second == now:
                return cached_line
            line = f"Date: {format_datetime(datetime.fromtimestamp(now, self.tz))}\r\n"
            encoded = line.encode("ascii")
            self._date_cache = (now, encoded)
            return encoded
        if date.tzinfo is None:
            raise ValueError("date must be timezone-aware; a naive datetime is ambiguous")
        # format_datetime() would write -0000 for UTC-naive values (STANDARDS §2.7.6);
        # converting to the campaign zone always gives e.g. +0800.
        return f"Date: {format_datetime(date.astimezone(self.tz))}\r\n".encode("ascii")

    def _to_line(self, to_addr: str, to_name: str | None, smtputf8: bool) -> bytes:
        """Return the To line; raw UTF-8 (RFC 6532) only for an EAI-only address."""
        local, domain = split_address(to_addr, smtputf8=smtputf8)
        raw_utf8 = not local.isascii()
        return _line(address_line("To", to_name, f"{local}@{domain}", raw_utf8=raw_utf8))

    @staticmethod
    def _message_id_line(message_id: str) -> bytes:
        """Return the Message-ID line, accepting the id with or without angle brackets."""
        if not message_id.startswith("<"):
            message_id = f"<{message_id}>"
        _check_ascii_token("Message-ID", message_id, _MESSAGE_ID, "a <left@right> id")
        return f"Message-ID: {message_id}\r\n".encode("ascii")

    @staticmethod
    def _check_unsubscribe_url(url: str) -> bytes:
        """Return the unsubscribe URL as bytes, rejecting anything RFC 8058 forbids."""
        return _check_ascii_token(
            "List-Unsubscribe", url, _UNSUBSCRIBE_URL, 'an http(s):// URL without spaces or <>"'
        ).encode("ascii")

    def build(
        self,
        to_addr: str,
        to_name: str | None,
        html: str | bytes,
        text: str | bytes,
        unsubscribe_url: str,
        message_id: str,
        date: datetime | None = None,
        *,
        smtputf8: bool = False,
    ) -> MessageBytes:
        """Return the complete RFC 5322 message bytes (CRLF) for one recipient.

        `html` and `text` are the recipient's filled-in bodies; they are sent as base64
        UTF-8 with CRLF line breaks.  Given as bytes, they must already be in that form
        (UTF-8, CRLF, a final CRLF: what `CompiledEmail.fill_wire` returns) and are
        encoded as they are.  `message_id` comes from `message_id_for`; `date`
        defaults to now and must be timezone-aware.  Raises `NeedsSMTPUTF8` for a
        non-ASCII local part unless `smtputf8` (then the To header is raw UTF-8, RFC 6532),
        `HeaderInjectionError` for CR/LF in `to_name`, and `ValueError` for a bad address,
        URL or id.  The result is ready for `DkimSigner.sign()`.
        """
        url = self._check_unsubscribe_url(unsubscribe_url)
        lu_line = b"List-Unsubscribe: <" + url
        lu_line += self._lu_mailto + url.rsplit(b"/", 1)[-1] if self._mailto else b""
        lu_line += b">\r\n"
        if len(lu_line) - 2 > MAX_LINE_OCTETS:
            raise ValueError("List-Unsubscribe line over 998 octets; use a shorter URL")
        return MessageBytes(
            b"".join(
                (
                    self._from_line,
                    self._to_line(to_addr, to_name, smtputf8),
                    self._subject_line,
                    self._date_line(date),
                    self._message_id_line(message_id),
                    self._middle,
                    lu_line,
                    self._tail if url.startswith(b"https:") else self._tail_plain,
                    base64_lines(body_octets(text)),
                    self._html_head,
                    base64_lines(body_octets(html)),
                    self._closing,
                )
            )
        )

    def build_reference(
        self,
        to_addr: str,
        to_name: str | None,
        html: str,
        text: str,
        unsubscribe_url: str,
        message_id: str,
        date: datetime | None = None,
        *,
        smtputf8: bool = False,
    ) -> bytes:
        """Return the same message built the stock way (`EmailMessage` + `POLICY`).

        Slow; for tests and benchmarks that compare it with `build()` after parsing both
        back with ``policy=email.policy.default``.
        """
        parts = self.parts
        local, domain = split_address(to_addr, smtputf8=smtputf8)
        msg = EmailMessage(policy=SMTPUTF8_POLICY if smtputf8 else POLICY)
        msg["From"] = Address(display_name=parts.from_name, addr_spec=self._from_addr)
        msg["To"] = Address(display_name=to_name or "", username=local, domain=domain)
        msg["Subject"] = parts.subject
        msg["Date"] = self._date_line(date)[len(b"Date: ") : -2].decode("ascii")
        msg["Message-ID"] = self._message_id_line(message_id)[len(b"Message-ID: ") : -2].decode()
        if self._reply_to:
            msg["Reply-To"] = self._reply_to
        description = parts.list_id.description
        # The policy never folds List-Id, so the phrase goes in already encoded.
        phrase = " ".join(phrase_words(description, 9)) + " " if description else ""
        msg["List-Id"] = f"{phrase}<{self._list_id}>"
        url = self._check_unsubscribe_url(unsubscribe_url).decode("ascii")
        # STANDARDS §1.5: EmailMessage allows duplicate List-Unsubscribe; delete first.
        del msg["List-Unsubscribe"]
        token = url.rsplit("/", 1)[-1]
        msg["List-Unsubscribe"] = (
            f"<{url}>, <{self._mailto}%20{token}>" if self._mailto else f"<{url}>"
        )
        if url.startswith("https:"):
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        if parts.feedback_id is not None:
            msg["Feedback-ID"] = parts.feedback_id
        for name, value in self._extra:
            msg[name] = value
        msg.set_content(text, subtype="plain", charset="utf-8", cte="base64")
        msg.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
        return msg.as_bytes()
