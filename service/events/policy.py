"""What a bounce, complaint or policy refusal does (STANDARDS §3.2, DESIGN §4).

- hard bounce or complaint: the address is suppressed at once; the delivery moves
  ``sent → bounced_hard`` / ``complained``;
- soft bounce: the delivery moves to ``bounced_soft``; soft bounces are counted at most
  once per day per address, over the run of the address's latest deliveries that bounced
  (a later successful delivery ends the run); at the threshold (settings "bounces",
  ``soft_threshold``, default 3) the address is suppressed;
- 5.7.x policy refusal (or a provider's known reply that blames us or our content,
  ``mail.provider_replies``): nothing happens to the recipient; a ``sender_alert``
  event is stored with the provider's text and shown on the dashboard;
- a provider's "slow down" (QQ's "frequency limited", NetEase's MI:SFQ ...): never a
  bounce; the sender backs off that provider's queue and tries the row again.

Every effect is one stored `Event` (UNIQUE provider + provider_event_id), so the same
bounce arriving twice changes nothing the second time. Duplicate and out-of-order events
return a named `NoOp`.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.accounts.settings_store import get_setting
from service.mail import provider_replies as replies
from service.model import Delivery, DeliveryStatus, Event, SuppressionReason, utcnow
from service.model import delivery_states as deliveries
from service.subscribers.suppression import suppress

log = logging.getLogger(__name__)

SETTINGS_KEY = "bounces"
DEFAULT_SOFT_THRESHOLD = 3
# How many of an address's latest deliveries the soft-bounce run looks back over.
SOFT_RUN_LOOKBACK = 50
ALERT_WINDOW_DAYS = 7
# Basic SMTP codes that make a refusal at send time a hard bounce when the reply carries no
# enhanced status code (RFC 3463) to say more.
SMTP_HARD_BOUNCE_CODES = frozenset({550, 551, 553})
# Enhanced codes that blame the recipient's address: 5.1.x (bad mailbox or domain) and
# 5.2.1 (mailbox disabled). Everything else in 5.x.x (5.7.x policy, 5.2.2 full, 5.3.x
# system) says nothing bad about the address, so it must not be suppressed for it.
HARD_ENHANCED_PREFIXES = ("5.1.",)
HARD_ENHANCED_CODES = frozenset({"5.2.1"})
SMTP_PROVIDER = "smtp"
# What a known provider reply (``mail.provider_replies``) makes of a refusal: its table
# decides before the codes do (QQ's "550 Mailbox unavailable or access denied" is a
# bare 550 that says nothing bad about the address; NetEase's "550 MI:IMF" blames us).
REPLY_KINDS: dict[str, str | None] = {
    replies.NO_SUCH_USER: "hard",
    replies.POLICY_BLOCK: "policy",
    replies.SPAM_CONTENT: "policy",
    replies.SLOW_DOWN: None,
    replies.TEMPORARY: None,
    replies.MAILBOX_FULL: None,
}

# Event types written here (reports count them by these names).
BOUNCE_HARD = "bounce_hard"
BOUNCE_SOFT = "bounce_soft"
COMPLAINT = "complaint"
SENDER_ALERT = "sender_alert"
UNSUBSCRIBE = "unsubscribe"

# The delivery move each event makes (DESIGN §4; the states it may start from are in the
# table: a bounce proves the message left, so an ``unknown`` row may bounce too).
_MOVES: dict[DeliveryStatus, deliveries.DeliveryMove] = {
    DeliveryStatus.BOUNCED_HARD: deliveries.BOUNCE_HARD,
    DeliveryStatus.BOUNCED_SOFT: deliveries.BOUNCE_SOFT,
    DeliveryStatus.COMPLAINED: deliveries.COMPLAIN,
}
_ALREADY = {
    DeliveryStatus.BOUNCED_HARD: "already bounced",
    DeliveryStatus.COMPLAINED: "already complained",
    DeliveryStatus.BOUNCED_SOFT: "already soft-bounced",
    DeliveryStatus.FAILED: "delivery had failed at send time",
    DeliveryStatus.SKIPPED: "delivery was never sent",
}


@dataclass(frozen=True)
class NoOp:
    """Nothing changed, and why (a duplicate, a late or an out-of-order event)."""

    reason: str


@dataclass(frozen=True)
class Applied:
    """An event was stored and took effect."""

    event_id: int
    effect: str  # e.g. "bounced_hard+suppressed", "bounced_soft", "alert"
    suppressed: bool = False


Outcome = Applied | NoOp


@dataclass
class Signal:
    """One bounce/complaint/alert for a delivery, from any source (mail, IMAP, webhook)."""

    kind: str  # "hard" | "soft" | "policy" | "complaint" | "unsubscribe"
    provider: str  # "smtp", "imap", "ses", "sendgrid", "mailgun", "postmark"
    provider_event_id: str
    status: str = ""
    diagnostic: str = ""
    at: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def soft_threshold(session: Session) -> int:
    """Consecutive soft-bounce days after which an address is suppressed."""
    value = get_setting(session, SETTINGS_KEY, {}) or {}
    try:
        return max(1, int(value.get("soft_threshold", DEFAULT_SOFT_THRESHOLD)))
    except (TypeError, ValueError, AttributeError):
        return DEFAULT_SOFT_THRESHOLD


def event_id_for(*parts: str) -> str:
    """A stable provider_event_id for sources without one (a mail's bytes, a header)."""
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "replace")).hexdigest()[:40]


def apply_signal(session: Session, delivery: Delivery | None, signal: Signal) -> Outcome:
    """Apply one signal to a delivery (or to no delivery for an unmatched alert)."""
    if signal.kind == "policy":
        return _store_alert(session, delivery, signal)
    if delivery is None:
        return NoOp("no matching delivery")
    if signal.kind == "unsubscribe":
        event = _store_event(session, delivery, UNSUBSCRIBE, signal)
        return NoOp("duplicate event") if event is None else Applied(event.id, "unsubscribe")
    target = {
        "hard": DeliveryStatus.BOUNCED_HARD,
        "soft": DeliveryStatus.BOUNCED_SOFT,
        "complaint": DeliveryStatus.COMPLAINED,
    }.get(signal.kind)
    if target is None:
        raise ValueError(f"unknown signal kind {signal.kind!r}")
    if _seen(session, signal):
        return NoOp("duplicate event")
    if not _transition(session, delivery.id, target):
        session.refresh(delivery)
        return NoOp(_ALREADY.get(DeliveryStatus(delivery.status), f"delivery is {delivery.status}"))
    event_type = {
        DeliveryStatus.BOUNCED_HARD: BOUNCE_HARD,
        DeliveryStatus.BOUNCED_SOFT: BOUNCE_SOFT,
        DeliveryStatus.COMPLAINED: COMPLAINT,
    }[target]
    event = _store_event(session, delivery, event_type, signal)
    if event is None:  # a concurrent twin stored it first; it made the same transition
        return NoOp("duplicate event")
    suppressed = _maybe_suppress(session, delivery, target, signal)
    effect = str(target) + ("+suppressed" if suppressed else "")
    return Applied(event.id, effect, suppressed)


def _seen(session: Session, signal: Signal) -> bool:
    found = session.scalar(
        select(Event.id).where(
            Event.provider == signal.provider,
            Event.provider_event_id == signal.provider_event_id,
        )
    )
    return found is not None


def _transition(session: Session, delivery_id: int, target: DeliveryStatus) -> bool:
    """One guarded UPDATE (DESIGN §4): only from the states the target's move allows."""
    result = session.execute(
        deliveries.moved(_MOVES[target], Delivery.id == delivery_id).execution_options(
            synchronize_session=False
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _store_event(
    session: Session, delivery: Delivery | None, event_type: str, signal: Signal
) -> Event | None:
    """Insert the event; None when UNIQUE(provider, provider_event_id) says it exists."""
    detail = {"status": signal.status, "diagnostic": signal.diagnostic, **signal.detail}
    event = Event(
        delivery_id=delivery.id if delivery else None,
        campaign_id=delivery.campaign_id if delivery else None,
        subscriber_id=delivery.subscriber_id if delivery else None,
        type=event_type,
        at=signal.at or utcnow(),
        detail=detail,
        provider=signal.provider,
        provider_event_id=signal.provider_event_id,
    )
    try:
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:
        return None
    return event


def _store_alert(session: Session, delivery: Delivery | None, signal: Signal) -> Outcome:
    """A 5.7.x refusal: keep the provider's text for the dashboard; the recipient is fine."""
    event = _store_event(session, delivery, SENDER_ALERT, signal)
    if event is None:
        return NoOp("duplicate event")
    log.warning("sender-side refusal %s: %s", signal.status, signal.diagnostic)
    return Applied(event.id, "alert")


def smtp_refusal_kind(code: int | None, enhanced: str | None, reply: str = "") -> str | None:
    """What a permanent refusal at SMTP time means: "hard", "policy" or None (nothing).

    A known provider reply (``reply`` is its text) decides first (``REPLY_KINDS``: a
    "slow down" is never a bounce). Else the enhanced code decides when there is one:
    Gmail's ``550 5.7.26`` or Microsoft's ``550 5.7.515`` mean OUR authentication
    failed, and suppressing on them would wipe out whole audiences. A bare 550/551/553
    keeps the old meaning (no such user).
    """
    known = replies.meaning_of(code, enhanced, reply) if reply else None
    if known is not None:
        return REPLY_KINDS[known.meaning]
    if enhanced:
        if enhanced.startswith(HARD_ENHANCED_PREFIXES) or enhanced in HARD_ENHANCED_CODES:
            return "hard"
        return "policy" if enhanced.startswith("5.7.") else None
    return "hard" if code in SMTP_HARD_BOUNCE_CODES else None


def record_smtp_refusal(
    session: Session, delivery: Delivery, code: int | None, enhanced: str | None, reply: str
) -> Outcome:
    """The one entry point for a permanent refusal of ``delivery`` at SMTP time.

    The delivery itself stays ``failed`` (it never left, so it cannot become
    ``bounced_hard``). A hard refusal stores a ``bounce_hard`` event and suppresses the
    delivery's own address snapshot; a 5.7.x refusal stores a ``sender_alert`` and leaves
    the recipient alone. At most one event per delivery (UNIQUE provider id). Does not
    commit.
    """
    kind = smtp_refusal_kind(code, enhanced, reply)
    if kind is None:
        return NoOp("the refusal says nothing about the address")
    signal = Signal(
        kind=kind,
        provider=SMTP_PROVIDER,
        provider_event_id=f"d{delivery.id}",
        status=enhanced or str(code or ""),
        diagnostic=reply[:500],
        detail={"source": SMTP_PROVIDER, "reply": reply[:500]},
    )
    if kind == "policy":
        return apply_signal(session, delivery, signal)
    event = _store_event(session, delivery, BOUNCE_HARD, signal)
    if event is None:
        return NoOp("duplicate event")
    _suppress(session, delivery.email, SuppressionReason.HARD_BOUNCE, signal)
    return Applied(event.id, "failed+suppressed", suppressed=True)


def _suppress(session: Session, email: str, reason: SuppressionReason, signal: Signal) -> None:
    """Suppress ``email`` (``suppress`` itself settles a race with a concurrent twin)."""
    source = f"{signal.provider}:{signal.status or signal.kind}"[:64]
    suppress(session, email, reason, source, signal.diagnostic)


def _maybe_suppress(
    session: Session, delivery: Delivery, target: DeliveryStatus, signal: Signal
) -> bool:
    if target == DeliveryStatus.BOUNCED_HARD:
        _suppress(session, delivery.email, SuppressionReason.HARD_BOUNCE, signal)
        return True
    if target == DeliveryStatus.COMPLAINED:
        _suppress(session, delivery.email, SuppressionReason.COMPLAINT, signal)
        return True
    if soft_bounce_days(session, delivery) >= soft_threshold(session):
        _suppress(session, delivery.email, SuppressionReason.SOFT_BOUNCE, signal)
        return True
    return False


def soft_bounce_days(session: Session, delivery: Delivery) -> int:
    """Distinct days with a soft bounce in the address's current run of soft bounces.

    The run walks the address's deliveries from this one back in time; it ends at the
    first one still ``sent`` (a later successful delivery resets the count). Counting
    days, not bounces, means several campaigns bouncing on one day count once.
    """
    rows = session.execute(
        select(Delivery.id, Delivery.status)
        .where(
            Delivery.email == delivery.email,
            Delivery.sent_at.is_not(None),
            Delivery.sent_at <= (delivery.sent_at or utcnow()),
        )
        .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
        .limit(SOFT_RUN_LOOKBACK)
    ).all()
    run: list[int] = []
    for delivery_id, status in rows:
        if status == DeliveryStatus.BOUNCED_SOFT:
            run.append(delivery_id)
        elif status in (DeliveryStatus.SENT, DeliveryStatus.COMPLAINED):
            break
    if delivery.id not in run:
        run.append(delivery.id)
    days = {
        at.date()
        for at in session.scalars(
            select(Event.at).where(Event.delivery_id.in_(run), Event.type == BOUNCE_SOFT)
        )
    }
    return len(days)


def recent_alerts(session: Session, limit: int = 10) -> list[Event]:
    """The latest sender-side alerts of the last week, newest first (dashboard)."""
    since = utcnow() - timedelta(days=ALERT_WINDOW_DAYS)
    return list(
        session.scalars(
            select(Event)
            .where(Event.type == SENDER_ALERT, Event.at >= since)
            .order_by(Event.at.desc(), Event.id.desc())
            .limit(limit)
        )
    )
