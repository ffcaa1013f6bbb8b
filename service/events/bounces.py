"""Reading what comes back by mail: DSNs, ARF complaints, auto-replies (STANDARDS §3).

``parse_report(raw)`` turns the bytes of one inbound message into a `Report`: what kind
of message it is, one `BounceRecipient` per failed/delayed recipient with its RFC 3463
status and the provider's text, and the identifiers we can match a delivery with (our
Message-IDs and VERP addresses found in the returned headers). Matching and the effects
on subscribers live in ``service.events.policy``; this module only reads.

Order of detection, most trustworthy first:

1. ARF complaint (``multipart/report; report-type=feedback-report``, RFC 5965);
2. standard DSN (``message/delivery-status`` and ``message/global-delivery-status``,
   RFC 3464 / RFC 6533) — the global one is split by hand, because Python's parser only
   reads its first block (STANDARDS §3.5);
3. an auto-reply (out-of-office and the like, RFC 3834 headers or a telling subject):
   recognised and ignored;
4. ``flufl.bounce`` heuristics for non-standard bounces (addresses only, no status: we
   scrape a status code from the text when there is one).
"""

from __future__ import annotations

import base64
import binascii
import email
import email.header
import logging
import quopri
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from enum import StrEnum

from flufl.bounce import all_failures

log = logging.getLogger(__name__)

# Subjects of auto-replies in the languages our readers write in (lower-cased match).
AUTOREPLY_SUBJECT_MARKERS = (
    "out of office",
    "out of the office",
    "automatic reply",
    "auto reply",
    "autoreply",
    "auto-reply",
    "auto:",
    "自动回复",
    "自動回覆",
    "自动答复",
    "休假",
    "abwesenheitsnotiz",
    "absence du bureau",
    "réponse automatique",
)
# RFC 3834 and vendor headers that mark an automatic reply.
AUTOREPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-auto-response-suppress-disabled")
AUTOREPLY_PRECEDENCE = ("auto_reply", "auto-reply")
# A non-standard message from one of these senders, or with such a subject, is a bounce
# even when it also carries ``Auto-Submitted`` (every DSN is auto-generated).
BOUNCE_SENDER = re.compile(r"mailer-daemon|postmaster|mail delivery|mail-daemon", re.I)
BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery status|delivery failure|failure notice|returned mail|"
    r"delivery has failed|could not be delivered|系统退信|退信|投递失败|发送失败|未能送达",
    re.I,
)
ENHANCED_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
BASIC_REPLY_CODE = re.compile(r"\b([45])\d\d\b")
# Words in a diagnostic that mean the receiver refused *us* (reputation, SPF/DKIM/DMARC).
POLICY_WORDS = re.compile(
    r"spf|dkim|dmarc|spam|blocked|block list|blocklist|blacklist|reputation|policy|"
    r"rejected due to|not authenticated|unauthenticated",
    re.I,
)
OUR_MESSAGE_ID = re.compile(r"<c\d+\.d\d+\.[0-9a-f]+@[^<>@\s]+>", re.I)
VERP_CANDIDATE = re.compile(r"b\+[0-9a-z]+\.[a-z2-7]{10}@[a-z0-9.-]+", re.I)
MAX_DIAGNOSTIC = 1000
# Chinese webmail notices (QQ, 163, Sina): "收件人：a@b" and "退信原因：…" (two lines).
SCRAPED_RECIPIENT = re.compile(
    r"(?:收件人|收信人|Recipient)[：:]\s*<?([^\s<>，,；;]+@[^\s<>，,；;]+)>?"
)
SCRAPED_REASON = re.compile(r"(?:退信原因|原因|Reason)[：:]\s*((?:.+\n?){1,3})")


class Kind(StrEnum):
    """What an inbound message turned out to be."""

    DSN = "dsn"
    COMPLAINT = "complaint"
    AUTOREPLY = "autoreply"
    FALLBACK = "fallback"  # flufl.bounce found failed addresses in a non-standard bounce
    UNSUBSCRIBE = "unsubscribe"  # a request to our List-Unsubscribe mailto: address
    UNKNOWN = "unknown"


class Severity(StrEnum):
    """How a recipient's failure is treated (STANDARDS §3.2 table)."""

    HARD = "hard"
    SOFT = "soft"
    POLICY = "policy"  # the receiver refused the sender: alert, never suppress
    DELIVERED = "delivered"  # a positive DSN (delivered/relayed/expanded): nothing to do


@dataclass(frozen=True)
class BounceRecipient:
    """One recipient block of a DSN (or one address from the fallback)."""

    address: str
    action: str
    status: str
    diagnostic: str
    severity: Severity


@dataclass
class Report:
    """Everything read from one inbound message."""

    kind: Kind
    recipients: list[BounceRecipient] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)  # our Message-IDs found inside
    verp_addresses: list[str] = field(default_factory=list)
    original_recipients: list[str] = field(default_factory=list)  # To: of the returned mail
    feedback_type: str = ""
    subject: str = ""
    own_message_id: str = ""  # the Message-ID of the bounce itself (for dedupe)


# --------------------------------------------------------------------------- classification


def classify(status: str, action: str = "", diagnostic: str = "") -> Severity:
    """The severity of one failure from its RFC 3463 status, DSN action and text.

    ``Action: failed`` alone is not a hard bounce (RFC 3464 §2.3.3): the status decides.
    X.2.2 (mailbox full) is transient even as 5.2.2 (RFC 3463); X.7.x is a policy
    refusal of the sender, never the recipient's fault.
    """
    action = action.strip().lower()
    if action in ("delivered", "relayed", "expanded"):
        return Severity.DELIVERED
    code = status.strip() or _status_in(diagnostic)
    match = ENHANCED_STATUS.match(code) if code else None
    if match is None:
        return _classify_basic(action, diagnostic)
    klass, subject, detail = match.groups()
    if klass == "2":
        return Severity.DELIVERED
    if subject == "7":
        return Severity.POLICY
    if action == "delayed" or klass == "4":
        return Severity.SOFT
    if subject == "2" and detail in ("2", "3"):  # mailbox full, message too big for it
        return Severity.SOFT
    if subject == "3" and detail == "4":  # message too big for the system: our fault
        return Severity.POLICY
    if subject in ("5", "6") or (subject == "0" and POLICY_WORDS.search(diagnostic)):
        # Protocol/content refusals (and vague 5.0.0 "spam" texts) are about the message.
        return Severity.POLICY
    return Severity.HARD


def _classify_basic(action: str, diagnostic: str) -> Severity:
    """Classify without an enhanced status code: the action, the SMTP reply code, words."""
    if action == "delayed":
        return Severity.SOFT
    basic = BASIC_REPLY_CODE.search(diagnostic)
    if basic is not None and basic.group(1) == "4":
        return Severity.SOFT
    if POLICY_WORDS.search(diagnostic):
        return Severity.POLICY
    return Severity.HARD


def _status_in(text: str) -> str:
    """The first enhanced status code in a free text, or ''."""
    match = ENHANCED_STATUS.search(text or "")
    return match.group(0) if match else ""


# --------------------------------------------------------------------------- parsing


def parse_report(raw: bytes) -> Report:
    """Read one inbound message (its raw bytes) into a `Report`."""
    msg = email.message_from_bytes(raw, policy=compat32)
    report = _base_report(msg)
    report_type = (msg.get_param("report-type") or "").lower()  # type: ignore[union-attr]
    if msg.get_content_type() == "multipart/report" and report_type == "feedback-report":
        _read_feedback(msg, report)
    elif _has_dsn_part(msg):
        _read_dsn(msg, report)
    elif _is_autoreply(msg):
        report.kind = Kind.AUTOREPLY
    else:
        _read_fallback(msg, report)
    _collect_identifiers(msg, raw, report)
    return report


def _base_report(msg: Message) -> Report:
    return Report(
        kind=Kind.UNKNOWN,
        subject=_decoded_header(msg.get("Subject", "")),
        own_message_id=str(msg.get("Message-ID", "")).strip(),
    )


def _decoded_header(value: str) -> str:
    """An RFC 2047 header as text (a broken encoded-word stays as it came)."""
    try:
        return str(email.header.make_header(email.header.decode_header(str(value))))
    except (ValueError, LookupError, email.errors.MessageError):  # NUL in a charset, no charset
        return str(value)


def _has_dsn_part(msg: Message) -> bool:
    return any(
        part.get_content_type() in ("message/delivery-status", "message/global-delivery-status")
        for part in msg.walk()
    )


def _read_dsn(msg: Message, report: Report) -> None:
    """Per-recipient blocks of every delivery-status part."""
    report.kind = Kind.DSN
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            for block in _status_blocks(part)[1:]:  # the first block is per-message
                recipient = _recipient_from_block(block)
                if recipient is not None:
                    report.recipients.append(recipient)


def _status_blocks(part: Message) -> list[dict[str, str]]:
    """The header blocks of a delivery-status part, split from its raw body by hand.

    Python parses ``message/delivery-status`` into blocks but reads only the first block
    of ``message/global-delivery-status`` (RFC 6533, UTF-8, possibly base64 or quoted-
    printable encoded); splitting the raw body ourselves treats both the same way.
    """
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    body = _raw_body(part)
    if cte == "base64":
        try:
            body = base64.b64decode(body, validate=False)
        except binascii.Error:  # broken padding: read it as it came
            pass
    elif cte == "quoted-printable":
        body = quopri.decodestring(body)
    text = body.decode("utf-8", errors="replace").replace("\r\n", "\n")
    blocks = []
    for chunk in re.split(r"\n[ \t]*\n", text):
        if chunk.strip():
            headers = HeaderParser(policy=compat32).parsestr(chunk.strip() + "\n")
            blocks.append({k.lower(): " ".join(str(v).split()) for k, v in headers.items()})
    return blocks


def _raw_body(part: Message) -> bytes:
    """The body of ``part`` as it came, or rebuilt from what the parser read of it.

    Writing a parsed part back out refuses a header whose value holds a line break
    followed by text (a vertical tab or form feed reads as one): such a body is rebuilt
    from its parsed blocks instead of failing the whole message.
    """
    try:
        raw = part.as_bytes()
    except (email.errors.MessageError, ValueError, LookupError):
        payload = part.get_payload()
        if not isinstance(payload, list):
            return str(payload).encode("utf-8", "surrogateescape")
        return "\n\n".join(
            "".join(f"{name}: {value}\n" for name, value in block.items())
            for block in payload
            if isinstance(block, Message)
        ).encode("utf-8", "surrogateescape")
    return raw.replace(b"\r\n", b"\n").partition(b"\n\n")[2]


def _recipient_from_block(block: dict[str, str]) -> BounceRecipient | None:
    final = block.get("final-recipient") or block.get("original-recipient") or ""
    if not final:
        return None
    address = _address_from_typed(final)
    action = block.get("action", "").lower()
    status = _status_in(block.get("status", "")) or block.get("status", "").strip()
    diagnostic = block.get("diagnostic-code", "")
    diagnostic = diagnostic.split(";", 1)[1].strip() if ";" in diagnostic else diagnostic
    return BounceRecipient(
        address=address,
        action=action,
        status=status,
        diagnostic=diagnostic[:MAX_DIAGNOSTIC],
        severity=classify(status, action, diagnostic),
    )


def _address_from_typed(value: str) -> str:
    """``rfc822; a@b`` or ``utf-8; 用户@例子`` (with ``\\x{HEX}`` escapes) → the address."""
    _, _, address = value.partition(";") if ";" in value else ("", "", value)
    address = re.sub(r"\\x\{([0-9A-Fa-f]{1,6})\}", lambda m: chr(int(m.group(1), 16)), address)
    return address.strip().strip("<>").strip()


def _read_feedback(msg: Message, report: Report) -> None:
    """An ARF complaint: the feedback type and whatever recipient it names."""
    report.kind = Kind.COMPLAINT
    for part in msg.walk():
        if part.get_content_type() == "message/feedback-report":
            blocks = _status_blocks(part)
            fields = blocks[0] if blocks else {}
            report.feedback_type = fields.get("feedback-type", "abuse").lower()
            rcpt = fields.get("original-rcpt-to", "")
            if rcpt:
                report.original_recipients.append(rcpt.strip("<> "))


def _is_autoreply(msg: Message) -> bool:
    """An out-of-office or other automatic reply (RFC 3834), not a bounce."""
    sender = str(msg.get("From", ""))
    subject = _decoded_header(msg.get("Subject", "")).lower()
    if BOUNCE_SENDER.search(sender) or BOUNCE_SUBJECT.search(subject):
        return False
    auto = str(msg.get("Auto-Submitted", "no")).strip().lower()
    if auto.startswith("auto-replied") or auto.startswith("auto-generated"):
        return True
    if any(msg.get(h) is not None for h in AUTOREPLY_HEADERS):
        return True
    if str(msg.get("Precedence", "")).strip().lower() in AUTOREPLY_PRECEDENCE:
        return True
    if str(msg.get("X-Auto-Response-Suppress", "")).strip() and "oof" in subject:
        return True
    return any(marker in subject for marker in AUTOREPLY_SUBJECT_MARKERS)


def _read_fallback(msg: Message, report: Report) -> None:
    """Non-standard bounces: flufl.bounce finds the addresses, we scrape a status."""
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # flufl detectors crash on odd mail (e.g. no From:): treat as none
        log.warning("flufl.bounce failed on a message; scraping it instead", exc_info=True)
        temporary, permanent = frozenset(), frozenset()
    text = _plain_text(msg)
    for addresses, default in ((permanent, Severity.HARD), (temporary, Severity.SOFT)):
        for raw_address in sorted(addresses):
            address = raw_address.decode("utf-8", errors="replace")
            diagnostic = _line_near(text, address)
            status = _status_in(diagnostic) or _status_in(text)
            severity = classify(status, "", diagnostic) if status else default
            if default is Severity.SOFT and severity is Severity.HARD:
                severity = Severity.SOFT  # flufl saw a temporary failure; trust it
            report.recipients.append(
                BounceRecipient(address, "failed", status, diagnostic[:MAX_DIAGNOSTIC], severity)
            )
    if not report.recipients and _looks_like_bounce(msg):
        _read_scraped(msg, text, report)
    if report.recipients:
        report.kind = Kind.FALLBACK


def _looks_like_bounce(msg: Message) -> bool:
    subject = _decoded_header(msg.get("Subject", ""))
    return bool(BOUNCE_SENDER.search(str(msg.get("From", ""))) or BOUNCE_SUBJECT.search(subject))


def _read_scraped(msg: Message, text: str, report: Report) -> None:
    """Last resort for bounces flufl.bounce does not know (e.g. QQ/163 Chinese notices):
    the recipient named after 收件人/X-Failed-Recipients, the reason after 退信原因."""
    found = [str(v).strip() for v in msg.get_all("X-Failed-Recipients", [])]
    found += SCRAPED_RECIPIENT.findall(text)
    reason = SCRAPED_REASON.search(text)
    diagnostic = " ".join(reason.group(1).split()) if reason else ""
    for address in dict.fromkeys(a.strip("<>") for a in found if "@" in a):
        diagnostic = diagnostic or _line_near(text, address)
        status = _status_in(diagnostic)
        report.recipients.append(
            BounceRecipient(
                address,
                "failed",
                status,
                diagnostic[:MAX_DIAGNOSTIC],
                classify(status, "failed", diagnostic),
            )
        )


def _plain_text(msg: Message) -> str:
    """The text/plain parts of a message, decoded (for scraping reasons)."""
    chunks = []
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                charset = part.get_content_charset() or "utf-8"
                try:
                    chunks.append(payload.decode(charset, errors="replace"))
                except (LookupError, ValueError):  # unknown charset, or one with a NUL in it
                    chunks.append(payload.decode("utf-8", errors="replace"))
    return "\n".join(chunks)


def _line_near(text: str, address: str) -> str:
    """The line naming ``address`` plus the next two (where MTAs put the reason)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if address.lower() in line.lower():
            return " ".join(x.strip() for x in lines[i : i + 3] if x.strip())
    return ""


def _collect_identifiers(msg: Message, raw: bytes, report: Report) -> None:
    """Our Message-IDs, VERP addresses and original To: found in returned headers/text."""
    for headers in _returned_headers(msg):
        mid = str(headers.get("Message-ID", "")).strip()
        if mid and mid not in report.message_ids:
            report.message_ids.append(mid)
        to = str(headers.get("To", "")).strip()
        if to:
            report.original_recipients.append(email.utils.parseaddr(to)[1])
    # Non-standard bounces quote the original as text: scan the whole message too.
    text = raw.decode("utf-8", errors="replace")
    for mid in OUR_MESSAGE_ID.findall(text):
        if mid not in report.message_ids and mid != report.own_message_id:
            report.message_ids.append(mid)
    for addr in VERP_CANDIDATE.findall(text):
        if addr.lower() not in report.verp_addresses:
            report.verp_addresses.append(addr.lower())


def _returned_headers(msg: Message) -> list[Message]:
    """Header sets of the returned original message (RFC 3464 §2, RFC 6533 §6)."""
    found: list[Message] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global") and part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                found.append(payload[0])
        elif ctype in ("text/rfc822-headers", "message/global-headers"):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                text = payload.decode("utf-8", errors="replace")
                found.append(HeaderParser(policy=compat32).parsestr(text))
    return found
