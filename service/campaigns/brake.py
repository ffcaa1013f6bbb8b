"""The error brake: too many transport failures in a row pause the campaign.

What the pause then waits for depends on the last failure (``healing.classify``): after a
transient one (4xx, timeouts, refused connections) the relay is probed with backoff and
the campaign resumes by itself once it answers (``healing``); after a permanent one (a
5.7.x policy refusal, a login refused) it stays paused for a person.

The count is shared by every worker sending the campaign, through Redis (one key per
campaign), so a relay that fails for everyone trips it after ``error_brake`` failures in
all, not per worker; a success resets it (a batch's first, and its first after each
failure it saw). Redis being unreachable only switches the
brake off for the moment: it is a safety net, never a reason to stop sending.
"""

from __future__ import annotations

from datetime import datetime

import redis
from sqlalchemy.orm import Session

from service.campaigns.healing import PERMANENT, classify, first_probe_at
from service.campaigns.service import TransitionError, pause
from service.errors import Message
from service.mail.sending_config import SendingConfig

BRAKE_KEY = "tidings:brake:"
BRAKE_KEY_TTL_SECONDS = 24 * 3600
# How much of a relay's answer a pause reason quotes.
MAX_QUOTED_ERROR_CHARS = 300


class ErrorBrake:
    """One campaign's count of consecutive transport failures, as one batch sees it."""

    def __init__(self, client: redis.Redis, campaign_id: int, limit: int) -> None:
        self.client = client
        self.key = BRAKE_KEY + str(campaign_id)
        self.limit = limit  # 0 switches the brake off
        # Whether the shared count may be above 0; at first we cannot know, so the
        # batch's first success resets it.
        self.dirty = True

    def reset(self) -> None:
        """A message went out: the failures are no longer in a row."""
        try:
            self.client.delete(self.key)
            self.dirty = False
        except (redis.RedisError, OSError):
            pass

    def count(self) -> int | None:
        """Count one more failure; the count when it trips the brake, else None."""
        self.dirty = True
        try:
            count = int(self.client.incr(self.key))
            self.client.expire(self.key, BRAKE_KEY_TTL_SECONDS)
        except (redis.RedisError, OSError):
            return None
        return count if count >= self.limit > 0 else None

    def clear(self) -> None:
        """Start counting afresh (the campaign was paused; a resume begins at 0)."""
        try:
            self.client.delete(self.key)
        except (redis.RedisError, OSError):
            pass


def pause_campaign(
    session: Session, campaign_id: int, reason: Message, probe_due_at: datetime | None = None
) -> bool:
    """Pause the campaign with ``reason`` and commit (the error brake, a refused login);
    False when it was no longer running (someone paused or cancelled it first).
    ``probe_due_at``: when to probe the relay for an automatic resume (``healing``)."""
    try:
        pause(session, campaign_id, reason, probe_due_at=probe_due_at)
        session.commit()
    except TransitionError:
        session.rollback()
        return False
    return True


def trip(
    session: Session,
    campaign_id: int,
    count: int,
    error: str,
    code: int | None,
    enhanced: str | None,
    config: SendingConfig,
) -> bool:
    """The brake tripped after ``count`` failures, the last being ``error`` (with its SMTP
    ``code`` and ``enhanced`` code when it had one): pause, and probe the relay later when
    the fault may pass by itself. False when the campaign was no longer running."""
    if classify(code, enhanced) == PERMANENT:
        return pause_campaign(session, campaign_id, permanent_brake_reason(count, error))
    return pause_campaign(
        session,
        campaign_id,
        brake_reason(count, error),
        probe_due_at=first_probe_at(session, campaign_id, config),
    )


def brake_reason(count: int, error: str) -> Message:
    """Why the error brake paused a campaign: ``count`` failures in a row, the last one's
    text as the relay gave it (quoted, never translated)."""
    return Message.of(
        "campaign.error_brake",
        "paused automatically after %(count)s transport failures in a row; last: %(error)s",
        count=count,
        error=error[:MAX_QUOTED_ERROR_CHARS],
    )


def refusal_reason(error: str) -> Message:
    """Why a campaign paused when the relay refused our connection (e.g. the login)."""
    return Message.of(
        "campaign.relay_refused",
        "paused automatically: the relay refused the connection: %(error)s",
        error=error[:MAX_QUOTED_ERROR_CHARS],
    )


def permanent_brake_reason(count: int, error: str) -> Message:
    """Why the error brake paused a campaign for good: the relay refuses us (a 5.7.x
    policy, a login), which no wait fixes."""
    return Message.of(
        "campaign.error_brake_permanent",
        "paused automatically after %(count)s failures in a row: the relay refuses us for "
        "good (%(error)s). Fix the relay settings (login, sender address, SPF/DKIM), then "
        "resume",
        count=count,
        error=error[:MAX_QUOTED_ERROR_CHARS],
    )
