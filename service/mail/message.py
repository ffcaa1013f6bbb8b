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
"""

from __future__ import annotations

import binascii
import hmac
import re
import secrets
import struct
import time
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache
from itertools import chain
from zoneinfo import ZoneInfo

import idna

from service.fast_hmac import hmac_sha256
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
    "MessageBytes",
    "MessageParts",
    "NeedsSMTPUTF8",
    "encode_address",
    "encode_words",
    "message_id_for",
    "canonical_text",
    "normalize_crlf",
    "parse_message_id",
]

# The first customer is a Chinese association; Date then carries +0800 (STANDARDS §2.7.6).
DEFAULT_TZ = "Asia/Shanghai"

# RFC 2047 §2: an encoded-word is at most 75 characters, and a header line that contains
# encoded-words is at most 76 characters.
MAX_ENCODED_WORD = 75
MAX_ENCODED_LINE = 76
# RFC 5322 §2.1.1 SHOULD limit for lines without encoded-words.
SOFT_LINE_LIMIT = 78
# RFC 2045 §6.8: base64 lines are at most 76 characters (57 input octets).
BASE64_LINE = 76
# RFC 2919 §2: a list-id is at most 255 octets.
MAX_LIST_ID = 255
# Longest ASCII display name written as a quoted-string; longer ones are encoded-words,
# which can be folded across lines.
MAX_QUOTED_NAME = 200
# Hex characters of HMAC in a Message-ID: 48 bits, so ids cannot be guessed or forged.
MESSAGE_ID_TAG_CHARS = 12
# Domain separation: the same secret also keys VERP addresses and tokens elsewhere.
MESSAGE_ID_HMAC_CONTEXT = b"tidings/message-id\x00"
# Base64 lines split per block with one precompiled `struct` unpack (see `_base64_lines`).
_B64_BLOCK_LINES = 64

_EW_PREFIX = "=?utf-8?b?"
_EW_SUFFIX = "?="
_EW_OVERHEAD = len(_EW_PREFIX) + len(_EW_SUFFIX)

# RFC 5322 atext; a display name made only of such words (single spaces) is written bare.
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_ATOM_PHRASE = re.compile(rf"[{_ATEXT}]+(?: [{_ATEXT}]+)*\Z")
_DOT_ATOM = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*\Z")
# RFC 6532 §3.2 extends atext with any non-ASCII UTF-8 character.
_UTEXT = rf"\u0080-\U0010ffff{_ATEXT}"  # non-ASCII first: _ATEXT ends with a literal "-"
_DOT_ATOM_UTF8 = re.compile(rf"[{_UTEXT}]+(?:\.[{_UTEXT}]+)*\Z")
_UTF8_ATOM_PHRASE = re.compile(rf"[{_UTEXT}]+(?: [{_UTEXT}]+)*\Z")
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
_ASCII_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?\Z")
_PRINTABLE_ASCII = re.compile(r"[ -~]*\Z")
_VISIBLE_ASCII = re.compile(r"[!-~]+\Z")
_HEADER_NAME = re.compile(r"[!-9;-~]+\Z")
_MESSAGE_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>\Z")
# RFC 2369 §2: no whitespace inside the brackets; `<`, `>` and `"` would break the syntax.
# RFC 8058 one-click needs HTTPS; a base URL on plain http (a machine without TLS, such as
# a newcomer's) still gets a working List-Unsubscribe, without List-Unsubscribe-Post.
_UNSUBSCRIBE_URL = re.compile(r"https?://[!#-;=?-~]+\Z")
ONE_CLICK_LINE = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
_MAILTO_URL = re.compile(r"mailto:[!#-;=?-~]+\Z")
_NEWLINES = re.compile(rb"\r\n|\r|\n")
_MESSAGE_ID_PARSE = re.compile(r"<c([0-9]+)\.d([0-9]+)\.([0-9a-f]+)@([^<>@\s]+)>\Z")

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


class NeedsSMTPUTF8(ValueError):
    """The address has a non-ASCII local part and can only be sent over SMTPUTF8.

    Such an address cannot be downgraded (STANDARDS §2.6): skip the recipient, or pass
    ``smtputf8=True`` when every hop is known to support RFC 6531.
    """


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


# --------------------------------------------------------------------------- addresses


@lru_cache(maxsize=4096)
def _a_label_domain(domain: str) -> str:
    """Return `domain` in ASCII (A-labels for IDN), validated; cached per domain."""
    if domain.isascii():
        if not _ASCII_DOMAIN.match(domain) and not (
            domain.startswith("[") and domain.endswith("]") and " " not in domain
        ):
            raise ValueError(f"invalid mail domain: {domain!r}")
        return domain
    try:
        # The `idna` package implements IDNA 2008 + UTS #46; Python's built-in "idna"
        # codec is IDNA 2003 and maps some names differently (STANDARDS §2.6).
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"invalid internationalised domain {domain!r}: {exc}") from exc


def _split_address(addr: str, *, smtputf8: bool) -> tuple[str, str]:
    """Split and validate `addr`; return (local part, ASCII domain)."""
    sanitize_header_value("address", addr)
    local, sep, domain = addr.strip().rpartition("@")
    if not sep or not local or not domain:
        raise ValueError(f"not an email address: {addr!r}")
    if not local.isascii():
        if not smtputf8:
            raise NeedsSMTPUTF8(
                f"{addr!r} has a non-ASCII local part; it can only be delivered over an "
                "SMTPUTF8 path (pass smtputf8=True if every hop supports it), so skip it"
            )
        if not _DOT_ATOM_UTF8.match(local):
            raise ValueError(f"unsupported local part in {addr!r}")
    elif not _DOT_ATOM.match(local):
        # Quoted local parts are legal but practically undeliverable; email-validator
        # rejects them at subscription time too.
        raise ValueError(f"unsupported (quoted or malformed) local part in {addr!r}")
    return local, _a_label_domain(domain)


def encode_address(addr: str, *, smtputf8: bool = False) -> str:
    """Return `addr` as written on the wire: IDN domain as A-label, local part unchanged.

    Raises `NeedsSMTPUTF8` for a non-ASCII local part unless `smtputf8` is true, and
    `ValueError` for a malformed address.  Use the result for RCPT TO and the To header.
    """
    local, domain = _split_address(addr, smtputf8=smtputf8)
    return f"{local}@{domain}"


# --------------------------------------------------------------------------- RFC 2047


def _payload_octets(word_budget: int) -> int:
    """Return how many UTF-8 octets fit in a B encoded-word of `word_budget` characters."""
    return (word_budget - _EW_OVERHEAD) // 4 * 3


def encode_words(text: str, first_budget: int = MAX_ENCODED_WORD) -> list[str]:
    """Split `text` into RFC 2047 ``=?utf-8?b?...?=`` encoded-words.

    The first word is at most `first_budget` characters (room left on the header's first
    line), every other word at most `MAX_ENCODED_WORD`.  Words always hold whole
    characters, so a multi-byte character is never split (RFC 2047 §5 rule 3).  Join the
    words with ``"\\r\\n "``: decoders drop whitespace between adjacent encoded-words.
    """
    budget = min(first_budget, MAX_ENCODED_WORD)
    limit = _payload_octets(budget)
    if limit < 4:  # a 4-octet character (emoji) must always fit in one word
        raise ValueError(f"encoded-word budget {first_budget} is too small")
    words: list[str] = []
    chunk = bytearray()
    for char in text:
        octets = char.encode("utf-8")
        if len(chunk) + len(octets) > limit:
            words.append(_EW_PREFIX + binascii.b2a_base64(chunk, newline=False).decode() + "?=")
            chunk.clear()
            limit = _payload_octets(MAX_ENCODED_WORD)
        chunk += octets
    if chunk or not words:
        words.append(_EW_PREFIX + binascii.b2a_base64(chunk, newline=False).decode() + "?=")
    return words


def _fold_words(prefix: str, words: list[str], suffix: str = "") -> str:
    """Return ``prefix + words + suffix`` folded with CRLF SP, lines ≤ 76 characters.

    `prefix` is the ``"Name: "`` part; `suffix` (e.g. `` <addr>``) stays whole and goes on
    a new line when it does not fit on the last one.
    """
    lines: list[str] = []
    line = prefix.rstrip(" ")
    # Never break straight after "Name:": an empty first line confuses some parsers.
    has_content = False
    for word in words:
        if len(line) + 1 + len(word) > MAX_ENCODED_LINE and has_content:
            lines.append(line)
            line = ""
        line = f"{line} {word}"
        has_content = True
    if suffix:
        if len(line) + len(suffix) > MAX_ENCODED_LINE and has_content:
            lines.append(line)
            line = ""
        line += suffix
    lines.append(line)
    return "\r\n".join(lines)


def _needs_encoding(text: str) -> bool:
    """True if `text` cannot be written as plain unstructured ASCII and round-trip."""
    return (
        not text.isascii()
        or "=?" in text
        or not _PRINTABLE_ASCII.match(text)
        or text != text.strip()
        or "  " in text
    )


def _unstructured_line(name: str, value: str) -> str:
    """Return the header line(s), without the final CRLF, for unstructured `value`."""
    prefix = f"{name}: "
    if not _needs_encoding(value):
        words = value.split(" ")
        if max(map(len, words)) + 1 + len(prefix) <= MAX_LINE_OCTETS:
            return _fold_plain(prefix, words)
    return _fold_words(prefix, encode_words(value, MAX_ENCODED_LINE - len(prefix)))


def _fold_plain(prefix: str, words: list[str]) -> str:
    """Fold plain ASCII words at spaces so lines stay ≤ 78 where the words allow."""
    lines: list[str] = []
    line = prefix + words[0]
    for word in words[1:]:
        if len(line) + 1 + len(word) > SOFT_LINE_LIMIT:
            lines.append(line)
            line = " " + word
        else:
            line = f"{line} {word}"
    lines.append(line)
    return "\r\n".join(lines)


def _phrase_words(name: str, prefix_len: int, *, raw_utf8: bool = False) -> list[str]:
    """Return the display-name `name` as phrase tokens (atoms, quoted-string or words).

    A non-ASCII name becomes encoded-words, never a whole ``name <addr>`` string, so the
    address cannot be swallowed into an encoded-word (STANDARDS §2.7 item 1).  With
    `raw_utf8` (an SMTPUTF8 message) it is written as UTF-8 per RFC 6532 instead.
    """
    atoms = _UTF8_ATOM_PHRASE if raw_utf8 else _ATOM_PHRASE
    if atoms.match(name) and "=?" not in name:
        return [name]
    printable = _PRINTABLE_ASCII.match(name) if name.isascii() else raw_utf8
    if printable and len(name) <= MAX_QUOTED_NAME and "=?" not in name:
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return [f'"{escaped}"']
    return encode_words(name, MAX_ENCODED_LINE - prefix_len)


def _address_line(
    name: str, display_name: str | None, addr_spec: str, *, raw_utf8: bool = False
) -> str:
    """Return an address header line (no final CRLF): ``Name: phrase <addr>`` or bare."""
    prefix = f"{name}: "
    if not display_name:
        return prefix + addr_spec
    sanitize_header_value(name, display_name)
    words = _phrase_words(display_name, len(prefix), raw_utf8=raw_utf8)
    return _fold_words(prefix, words, f" <{addr_spec}>")


# --------------------------------------------------------------------------- bodies


@lru_cache(maxsize=_B64_BLOCK_LINES + 1)
def _line_struct(lines: int) -> struct.Struct:
    """Return a Struct that cuts `lines` base64 lines out of a buffer in one C call."""
    return struct.Struct(f"{BASE64_LINE}s" * lines)


_BLOCK = _line_struct(_B64_BLOCK_LINES)


def _base64_lines(data: bytes) -> bytes:
    """Base64-encode `data` as CRLF-separated 76-character lines, no final CRLF.

    `binascii` encodes in one call; cutting the result into lines with a slice per line
    in Python cost ~110 µs for 60 KB, a precompiled `struct` unpack per block of 64
    lines does the same in ~25 µs.
    """
    encoded = binascii.b2a_base64(data, newline=False)
    full_lines, rest = divmod(len(encoded), BASE64_LINE)
    blocks, tail_lines = divmod(full_lines, _B64_BLOCK_LINES)
    view = memoryview(encoded)
    block_end = blocks * _B64_BLOCK_LINES * BASE64_LINE
    lines_end = full_lines * BASE64_LINE
    parts = list(chain.from_iterable(_BLOCK.iter_unpack(view[:block_end])))
    if tail_lines:
        parts.extend(_line_struct(tail_lines).unpack(view[block_end:lines_end]))
    if rest:
        parts.append(encoded[lines_end:])
    return b"\r\n".join(parts)


def normalize_crlf(data: bytes) -> bytes:
    """Return `data` with every line break (CRLF, bare LF or bare CR) written as CRLF.

    This is what smtplib does to bare line breaks on the wire, and what base64-encoded
    text must contain (RFC 2045 §6.8).  Written for speed on 60+ KB: the common cases
    (LF-only, or already CRLF) use only one-byte `in`/`replace` and `translate`, which
    run at memory speed (~25 µs for 60 KB, against ~230 µs for the regex).
    """
    if b"\r" not in data:
        return data.replace(b"\n", b"\r\n")
    if data.translate(None, b"\r").replace(b"\n", b"\r\n") == data:
        return data  # already CRLF everywhere, no bare CR
    return _NEWLINES.sub(b"\r\n", data)


def canonical_text(data: bytes) -> bytes:
    """Return text octets with CRLF line breaks and a final CRLF (RFC 2046 §4.1.1).

    Base64 hides line breaks from relays, so the canonical form must be produced before
    encoding (RFC 2045 §6.8).  This also matches what `EmailMessage.set_content` does.
    """
    data = normalize_crlf(data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


def _body_octets(body: str | bytes) -> bytes:
    """A text part's octets in canonical form; bytes are taken as already canonical."""
    return body if isinstance(body, bytes) else canonical_text(body.encode("utf-8"))


class MessageBytes(bytes):
    """Message bytes made by `MessageBuilder.build()`: a plain `bytes` with a guarantee.

    The guarantee is that every line ends in CRLF and the body is already in DKIM relaxed
    canonical form (base64 lines, single spaces, no trailing whitespace, one final CRLF).
    `DkimSigner.sign()` then skips its ~250 µs of scans for bare line breaks and
    whitespace.  Any edit (slicing, ``+``, ``replace``) returns plain `bytes`, which are
    checked in full again, so the guarantee cannot outlive a change.
    """

    __slots__ = ()


# --------------------------------------------------------------------------- Message-ID


def _message_id_tag(delivery_id: int, campaign_id: int, secret: bytes) -> str:
    """Return the HMAC fragment binding a Message-ID to its delivery and campaign."""
    msg = MESSAGE_ID_HMAC_CONTEXT + f"{campaign_id}.{delivery_id}".encode("ascii")
    return hmac_sha256(secret, msg).hex()[:MESSAGE_ID_TAG_CHARS]


def message_id_for(delivery_id: int, campaign_id: int, secret: bytes, domain: str) -> str:
    """Return the deterministic Message-ID ``<c12.d3456.<hmac>@domain>`` of a delivery.

    The same delivery always gets the same id (a retry is recognisably the same message;
    `deliveries.message_id` is UNIQUE), the ids are traceable from bounces and replies,
    and the HMAC fragment makes them impossible to guess or forge without `secret`.
    """
    if delivery_id < 0 or campaign_id < 0:
        raise ValueError("delivery_id and campaign_id must be non-negative")
    tag = _message_id_tag(delivery_id, campaign_id, secret)
    return f"<c{campaign_id}.d{delivery_id}.{tag}@{_a_label_domain(domain)}>"


def parse_message_id(message_id: str, secret: bytes, domain: str) -> tuple[int, int] | None:
    """Return ``(campaign_id, delivery_id)`` for an id made by `message_id_for`, else None.

    The HMAC is compared in constant time, so a forged or foreign id yields None.
    """
    match = _MESSAGE_ID_PARSE.match(message_id.strip())
    if match is None or match.group(4).lower() != _a_label_domain(domain).lower():
        return None
    campaign_id, delivery_id = int(match.group(1)), int(match.group(2))
    expected = _message_id_tag(delivery_id, campaign_id, secret)
    if not hmac.compare_digest(expected, match.group(3)):
        return None
    return campaign_id, delivery_id


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
        self.message_id_domain = _a_label_domain(parts.message_id_domain)

        # Neither `_` nor `.` occur in base64 text, so this boundary can never appear in
        # a body part and needs no collision check (RFC 2046 §5.1.1).
        seed = parts.boundary_seed or secrets.token_hex(12)
        if not re.fullmatch(r"[0-9a-f]{8,40}", seed):
            raise ValueError("the boundary seed must be 8 to 40 lower-case hex digits")
        self.boundary = f"=_tidings.{seed}"
        boundary = self.boundary.encode("ascii")

        self._from_line = _line(_address_line("From", parts.from_name, self._from_addr))
        self._subject_line = _line(_unstructured_line("Subject", parts.subject))
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
            tail.append(_line(_unstructured_line(name, value)))
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
        label = _check_ascii_token("List-Id", list_id.label, _DOT_ATOM, "a dot-atom label")
        value = f"{label}.{_a_label_domain(list_id.domain)}"
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
        return _fold_words("List-Id: ", _phrase_words(description, 9), f" <{list_id}>")

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
        local, domain = _split_address(to_addr, smtputf8=smtputf8)
        raw_utf8 = not local.isascii()
        return _line(_address_line("To", to_name, f"{local}@{domain}", raw_utf8=raw_utf8))

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
                    _base64_lines(_body_octets(text)),
                    self._html_head,
                    _base64_lines(_body_octets(html)),
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
        local, domain = _split_address(to_addr, smtputf8=smtputf8)
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
        phrase = " ".join(_phrase_words(description, 9)) + " " if description else ""
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
