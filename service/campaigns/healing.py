"""The error brake heals: a campaign it paused for a transient fault probes its relay with
backoff and resumes by itself once the relay answers again.

When the brake trips on a transient fault (4xx replies, timeouts, refused or reset
connections: see ``brake.classify``) the pause schedules a first probe
(``Campaign.probe_due_at``). The beat's probe job (``probe_due``) takes each due probe with
one guarded UPDATE (so two beats never probe twice), connects through the same relay pool
a batch uses (EHLO, STARTTLS and login as configured), says MAIL FROM and RSET, and QUITs:
no recipient is named, no message sent. Each probe is a ``RelayProbe`` row, shown on the
campaign page.

* The relay answers: the campaign resumes through the state machine (the same ``resume``
  a person makes, with one more guard: the brake still holds it).
* It fails again (transiently): the next probe is scheduled, each wait twice the last,
  capped; after ``probe_max_attempts`` the campaign stays paused for a person.
* It now refuses us for good (a login refused, a 5.7.x policy): no more probes.

A person always wins: every transition clears ``probe_due_at`` (``service._transition``),
and a probe changes a campaign only while the brake's pause is still the one it took
(status paused, the brake's reason code, its own attempt number and lease). A process
that dies mid-probe leaves its lease, which simply falls due again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from service.campaigns.service import TransitionError, reason_values, resume
from service.config import Settings
from service.errors import Message
from service.mail.backends import SendError, is_permanent_code, is_policy
from service.mail.relays import probe_relay
from service.mail.sending_config import SendingConfig, get_sending_config
from service.mail.transport import relay_pool
from service.mail.verp import verp_address
from service.model import Campaign, CampaignStatus, Delivery, RelayProbe, utcnow

log = logging.getLogger(__name__)

# The reason code of a pause the brake may heal (its text: ``brake.brake_reason``).
HEALING_CODE = "campaign.error_brake"
# How much of a relay's answer a probe row keeps.
MAX_REPLY_CHARS = 500
# Probes shown on the campaign page (the newest).
SHOWN_PROBES = 20
# A probe taken holds the campaign's next probe this far ahead: a process that dies while
# probing leaves a probe due again then, not a campaign nobody ever probes. Well above a
# probe's own worst case (a connect timeout per relay of the pool).
PROBE_LEASE_SECONDS = 300.0

TRANSIENT = "transient"
PERMANENT = "permanent"


def classify(code: int | None, enhanced: str | None) -> str:
    """Whether a failure may pass by itself (``TRANSIENT``) or needs a person (``PERMANENT``).

    Permanent: a 5.7.x policy (our authentication, SPF/DKIM/DMARC, a blocked host), and
    any 5xx but 552 — a login refused (535) among them: the rules of ``backends``
    (``is_policy``, ``is_permanent_code``). Transient: 4xx replies and the failures with
    no reply at all (timeouts, connections refused or reset).
    """
    return PERMANENT if is_policy(enhanced) or is_permanent_code(code) else TRANSIENT


def probe_delay(attempt: int, config: SendingConfig) -> float:
    """Seconds before probe number ``attempt`` (1-based): doubling from the base, capped."""
    return float(
        min(config.probe_max_seconds, config.probe_base_seconds * (2 ** max(0, attempt - 1)))
    )


def first_probe_at(session: Session, campaign_id: int, config: SendingConfig) -> datetime | None:
    """When a fresh trip of the brake probes first; None when it waits for a person
    (healing switched off, or the campaign has resumed by itself often enough)."""
    if config.probe_max_attempts <= 0:
        return None
    resumed = session.scalar(
        select(func.count(RelayProbe.id)).where(
            RelayProbe.campaign_id == campaign_id, RelayProbe.ok.is_(True)
        )
    )
    if int(resumed or 0) >= config.max_auto_resumes:
        return None
    return utcnow() + timedelta(seconds=probe_delay(1, config))


@dataclass(frozen=True)
class ProbeResult:
    """One probe made: the campaign, whether the relay answered, and what became of it."""

    campaign_id: int
    attempt: int
    ok: bool
    reply: str
    resumed: bool = False


def probe_due(session: Session, settings: Settings) -> list[ProbeResult]:
    """Probe the relay for every campaign whose probe is due; commits. Returns the probes."""
    config = get_sending_config(session)
    now = utcnow()
    due = session.execute(
        select(Campaign.id, Campaign.probe_attempts, Campaign.probe_due_at).where(
            Campaign.status == CampaignStatus.PAUSED, Campaign.probe_due_at <= now
        )
    ).all()
    session.commit()
    results = []
    for campaign_id, attempts, due_at in due:
        attempt = int(attempts or 0) + 1
        lease = _take(session, campaign_id, due_at, attempt) if due_at is not None else None
        if lease is not None:
            mine = _Probe(campaign_id, attempt, lease)
            results.append(_probe(session, settings, config, mine))
    return results


@dataclass(frozen=True)
class _Probe:
    """A probe this process took: its campaign, its number and the lease it holds."""

    campaign_id: int
    attempt: int
    lease: datetime

    def still_ours(self) -> tuple[ColumnElement[bool], ...]:
        """The guard of what the probe writes: the brake's pause it took is still there
        (a person's transition, or a new trip of the brake, changed the lease)."""
        return (
            Campaign.id == self.campaign_id,
            Campaign.status == CampaignStatus.PAUSED,
            Campaign.status_code == HEALING_CODE,
            Campaign.probe_attempts == self.attempt,
            Campaign.probe_due_at == self.lease,
        )


def _take(session: Session, campaign_id: int, due_at: datetime, attempt: int) -> datetime | None:
    """Take the due probe (one guarded UPDATE, committed) so only one process makes it;
    return the lease it now holds, or None when another process was first."""
    lease = utcnow() + timedelta(seconds=PROBE_LEASE_SECONDS)
    taken = session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.status == CampaignStatus.PAUSED,
            Campaign.probe_due_at == due_at,
        )
        .values(probe_due_at=lease, probe_attempts=attempt)
        .returning(Campaign.probe_due_at)
    ).first()
    session.commit()
    return taken[0] if taken is not None else None


def _probe(
    session: Session, settings: Settings, config: SendingConfig, mine: _Probe
) -> ProbeResult:
    campaign_id, attempt = mine.campaign_id, mine.attempt
    mail_from = _mail_from(session, settings, campaign_id)
    session.commit()
    try:
        reply = probe_relay(relay_pool(settings, config), mail_from)
        ok, kind = True, TRANSIENT
    except SendError as exc:
        reply, ok, kind = str(exc), False, classify(exc.code, exc.enhanced)
    reply = reply[:MAX_REPLY_CHARS]
    session.add(RelayProbe(campaign_id=campaign_id, attempt=attempt, ok=ok, reply=reply))
    session.commit()
    resumed = False
    if ok:
        resumed = _resume(session, mine, reply)
    elif kind == PERMANENT:
        _note(session, mine, refused_reason(reply))
    elif attempt >= config.probe_max_attempts:
        _note(session, mine, gave_up_reason(attempt, reply))
    else:
        at = utcnow() + timedelta(seconds=probe_delay(attempt + 1, config))
        session.execute(update(Campaign).where(*mine.still_ours()).values(probe_due_at=at))
        session.commit()
    log.info("campaign %s: relay probe %s %s: %s", campaign_id, attempt, ok, reply)
    return ProbeResult(campaign_id, attempt, ok, reply, resumed)


def _mail_from(session: Session, settings: Settings, campaign_id: int) -> str:
    """MAIL FROM for the probe: a VERP address of the campaign, as its batches use."""
    first = session.scalar(select(func.min(Delivery.id)).where(Delivery.campaign_id == campaign_id))
    if first is None:
        return str(session.scalar(select(Campaign.from_addr).where(Campaign.id == campaign_id)))
    return verp_address(int(first), settings.secret_key.encode(), settings.bounce_domain)


def _resume(session: Session, mine: _Probe, reply: str) -> bool:
    try:
        resume(
            session,
            mine.campaign_id,
            *mine.still_ours()[1:],
            reason=resumed_reason(mine.attempt, reply),
        )
        session.commit()
    except TransitionError:
        session.rollback()  # a person acted meanwhile: theirs is the last word
        return False
    return True


def _note(session: Session, mine: _Probe, reason: Message) -> None:
    """Stop probing: the campaign stays paused, saying why and what to do."""
    session.execute(
        update(Campaign)
        .where(*mine.still_ours())
        .values(probe_due_at=None, **reason_values(reason))
    )
    session.commit()


def resumed_reason(attempt: int, reply: str) -> Message:
    """Why a campaign the brake paused runs again."""
    return Message.of(
        "campaign.resumed_after_probe",
        "resumed automatically: the relay answered probe %(attempt)s: %(reply)s",
        attempt=attempt,
        reply=reply,
    )


def gave_up_reason(attempts: int, reply: str) -> Message:
    """Why a campaign stays paused after every probe failed."""
    return Message.of(
        "campaign.probes_gave_up",
        "paused: the relay still failed after %(attempts)s probes (last: %(reply)s). Check "
        "the relay, then resume",
        attempts=attempts,
        reply=reply,
    )


def refused_reason(reply: str) -> Message:
    """Why a campaign stays paused when a probe was refused for good."""
    return Message.of(
        "campaign.probe_refused",
        "paused: the relay refuses us for good (%(reply)s). Fix the relay settings (login, "
        "sender address, SPF/DKIM) or ask the relay's operator, then resume",
        reply=reply,
    )


def probes(session: Session, campaign_id: int, limit: int = SHOWN_PROBES) -> list[RelayProbe]:
    """The campaign's newest probes, newest first (for its page)."""
    return list(
        session.scalars(
            select(RelayProbe)
            .where(RelayProbe.campaign_id == campaign_id)
            .order_by(RelayProbe.id.desc())
            .limit(limit)
        )
    )
