"""Mail that comes back (bounce server, bounce mailbox): store it, match it, apply it.

Raw messages are written to ``<data_dir>/inbound/`` before anything else happens, so a
Redis hiccup or a worker crash loses nothing: a file stays there until it has been
processed (then it moves to ``inbound/done/``), and a beat job re-queues files that
waited too long.

Matching a bounce to a delivery, in order (issue #6): the VERP address it was sent to,
then our Message-ID in the returned headers, then the recipient address within the
campaign named by that Message-ID (or the address's latest sent delivery).
"""

from __future__ import annotations

import email
import logging
import os
import time
import uuid
from dataclasses import dataclass
from email.policy import compat32
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.config import Settings
from service.events.bounces import BounceRecipient, Kind, Report, Severity, parse_report
from service.events.mailto_unsubscribe import is_unsubscribe_address, process_unsubscribe_mail
from service.events.policy import NoOp, Outcome, Signal, apply_signal, event_id_for
from service.mail.message_ids import parse_message_id
from service.mail.verp import parse_verp
from service.model import Delivery, DeliveryStatus

log = logging.getLogger(__name__)

INBOUND_DIR = "inbound"
DONE_DIR = "done"
FAILED_DIR = "failed"
ENVELOPE_HEADER = "X-Tidings-Envelope-To"
# Headers where a mailbox's MTA records the envelope recipient (IMAP path).
ENVELOPE_HEADERS = (ENVELOPE_HEADER, "Delivered-To", "X-Original-To", "Envelope-To", "To")
# A stored message not processed after this long is queued again by the sweep.
STALE_INBOUND_SECONDS = 120
# A message that still fails after this long is set aside in inbound/failed.
MAX_RETRY_SECONDS = 24 * 3600
MAIL_PROVIDER = "mail"  # the same bounce via SMTP and via IMAP is one event
SEVERITY_TO_KIND = {
    Severity.HARD: "hard",
    Severity.SOFT: "soft",
    Severity.POLICY: "policy",
}
_LEFT = (
    DeliveryStatus.SENT,
    DeliveryStatus.UNKNOWN,
    DeliveryStatus.BOUNCED_SOFT,
    DeliveryStatus.BOUNCED_HARD,
    DeliveryStatus.COMPLAINED,
)


@dataclass(frozen=True)
class Processed:
    """What one inbound message turned out to be and what it did."""

    kind: Kind
    outcomes: list[tuple[int | None, Outcome]]  # (delivery id, outcome)


# --------------------------------------------------------------------------- storage


def inbound_dir(settings: Settings) -> Path:
    """Where raw inbound messages wait to be processed."""
    path = settings.data_dir / INBOUND_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_raw(settings: Settings, raw: bytes, envelope_to: list[str]) -> Path:
    """Write a message (with its envelope recipients as a header) durably; return its path.

    Written to a temporary name, fsynced and renamed, so a half-written file is never
    picked up.
    """
    folder = inbound_dir(settings)
    name = f"{time.time_ns()}-{uuid.uuid4().hex[:12]}.eml"
    header = f"{ENVELOPE_HEADER}: {', '.join(envelope_to)}\r\n".encode("utf-8", "replace")
    tmp = folder / f".{name}.tmp"
    with tmp.open("wb") as out:
        out.write(header + raw)
        out.flush()
        os.fsync(out.fileno())
    final = folder / name
    tmp.rename(final)
    return final


def finish_file(path: Path, ok: bool) -> None:
    """Move a processed message out of the queue folder (kept for inspection)."""
    target = path.parent / (DONE_DIR if ok else FAILED_DIR)
    target.mkdir(exist_ok=True)
    try:
        path.rename(target / path.name)
    except FileNotFoundError:  # a twin task (re-queued by the sweep) moved it first
        pass


def stale_files(settings: Settings, older_than: float = STALE_INBOUND_SECONDS) -> list[Path]:
    """Stored messages still waiting after ``older_than`` seconds (their hint was lost)."""
    cutoff = time.time() - older_than
    return sorted(p for p in inbound_dir(settings).glob("*.eml") if p.stat().st_mtime < cutoff)


# --------------------------------------------------------------------------- matching


def _secret(settings: Settings) -> bytes:
    return settings.secret_key.encode()


def _delivery_by_verp(
    session: Session, settings: Settings, addresses: list[str]
) -> Delivery | None:
    for address in addresses:
        delivery_id = parse_verp(address, _secret(settings), settings.bounce_domain)
        if delivery_id is not None:
            found = session.get(Delivery, delivery_id)
            if found is not None:
                return found
    return None


def _campaign_and_delivery(settings: Settings, message_id: str) -> tuple[int, int] | None:
    """Parse one of our Message-IDs; the domain is not under the HMAC, take it from the id."""
    domain = message_id.strip().rstrip(">").rpartition("@")[2]
    return parse_message_id(message_id, _secret(settings), domain) if domain else None


def match_delivery(
    session: Session,
    settings: Settings,
    report: Report,
    envelope_to: list[str],
    recipient: BounceRecipient | None = None,
) -> Delivery | None:
    """The delivery a report is about: VERP, then Message-ID, then recipient address."""
    found = _delivery_by_verp(session, settings, [*envelope_to, *report.verp_addresses])
    if found is not None:
        return found
    campaign_id: int | None = None
    for message_id in report.message_ids:
        parsed = _campaign_and_delivery(settings, message_id)
        if parsed is not None:
            campaign_id, delivery_id = parsed
            found = session.get(Delivery, delivery_id)
            if found is not None and found.campaign_id == campaign_id:
                return found
    addresses = [recipient.address] if recipient else []
    addresses += report.original_recipients
    return _delivery_by_address(session, addresses, campaign_id)


def _delivery_by_address(
    session: Session, addresses: list[str], campaign_id: int | None
) -> Delivery | None:
    """The address's delivery in the campaign, else its most recently sent one."""
    for address in addresses:
        email_addr = address.strip().casefold()
        if not email_addr:
            continue
        query = select(Delivery).where(
            Delivery.email == email_addr, Delivery.status.in_([str(s) for s in _LEFT])
        )
        if campaign_id is not None:
            query = query.where(Delivery.campaign_id == campaign_id)
        found = session.scalars(
            query.order_by(Delivery.sent_at.desc(), Delivery.id.desc()).limit(1)
        ).first()
        if found is not None:
            return found
    return None


# --------------------------------------------------------------------------- processing


def envelope_recipients(raw: bytes) -> list[str]:
    """Envelope recipients recorded in the message's headers (ours, or the mailbox MTA's)."""
    msg = email.message_from_bytes(raw, policy=compat32)
    found: list[str] = []
    for name in ENVELOPE_HEADERS:
        for value in msg.get_all(name, []):
            for _, addr in email.utils.getaddresses([str(value)]):
                if addr and addr not in found:
                    found.append(addr)
    return found


def process_message(
    session: Session, settings: Settings, raw: bytes, provider: str = MAIL_PROVIDER
) -> Processed:
    """Parse one inbound message and apply every failure it reports (or, sent to our
    unsubscribe mailbox, the unsubscribe it asks for)."""
    envelope_to = envelope_recipients(raw)
    if any(is_unsubscribe_address(a, settings) for a in envelope_to):
        return Processed(
            Kind.UNSUBSCRIBE, [(None, process_unsubscribe_mail(session, settings, raw))]
        )
    report = parse_report(raw)
    base_id = report.own_message_id or event_id_for(raw.decode("utf-8", "replace"))
    outcomes: list[tuple[int | None, Outcome]] = []
    if report.kind == Kind.COMPLAINT:
        delivery = match_delivery(session, settings, report, envelope_to)
        signal = Signal(
            "complaint",
            provider,
            event_id_for(base_id, "complaint"),
            detail={"feedback_type": report.feedback_type, "source": "arf"},
        )
        outcomes.append(
            (delivery.id if delivery else None, apply_signal(session, delivery, signal))
        )
    elif report.kind in (Kind.DSN, Kind.FALLBACK):
        outcomes.extend(
            _apply_recipients(session, settings, report, envelope_to, base_id, provider)
        )
    log.info("inbound %s: %s", report.kind, outcomes)
    return Processed(report.kind, outcomes)


def _apply_recipients(
    session: Session,
    settings: Settings,
    report: Report,
    envelope_to: list[str],
    base_id: str,
    provider: str,
) -> list[tuple[int | None, Outcome]]:
    outcomes: list[tuple[int | None, Outcome]] = []
    for recipient in report.recipients:
        kind = SEVERITY_TO_KIND.get(recipient.severity)
        if kind is None:  # a positive DSN
            outcomes.append((None, NoOp("delivered")))
            continue
        delivery = match_delivery(session, settings, report, envelope_to, recipient)
        if (
            delivery is not None
            and recipient.address.casefold()
            not in (
                delivery.email.casefold(),
                "",
            )
            and len(report.recipients) > 1
        ):
            # One message per recipient is what we send: in a multi-recipient DSN only
            # the block naming our delivery's address is about it.
            delivery = _delivery_by_address(session, [recipient.address], delivery.campaign_id)
        signal = Signal(
            kind,
            provider,
            event_id_for(base_id, recipient.address, recipient.status, recipient.action),
            status=recipient.status,
            diagnostic=recipient.diagnostic,
            detail={
                "action": recipient.action,
                "recipient": recipient.address,
                "source": str(report.kind),
            },
        )
        outcomes.append(
            (delivery.id if delivery else None, apply_signal(session, delivery, signal))
        )
    return outcomes


def process_file(session: Session, settings: Settings, path: Path) -> Processed | None:
    """Process one stored message; None when another worker already took it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    return process_message(session, settings, raw)


def delivery_for(
    session: Session, settings: Settings, message_ids: list[str], email_addr: str
) -> Delivery | None:
    """Webhook matching: our Message-ID when the provider kept it, else the address."""
    report = Report(kind=Kind.UNKNOWN, message_ids=message_ids)
    recipient = BounceRecipient(email_addr, "failed", "", "", Severity.HARD)
    return match_delivery(session, settings, report, [], recipient)
