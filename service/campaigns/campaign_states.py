"""The campaign state machine (DESIGN §4), written once: every named transition and the
states it may start from.

    draft → scheduled → running ⇄ paused → finished
    draft | scheduled | running | paused → cancelled
    finished → running only by "resend unknown"

``service._transition`` makes a transition (one guarded UPDATE); what only reads a state
before acting (``engine.start``, ``campaign render``) asks the same table, so the allowed
states are never written out twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.model import CampaignStatus

C = CampaignStatus


@dataclass(frozen=True)
class CampaignTransition:
    """One named transition: from any of ``sources`` to ``target``."""

    name: str
    sources: tuple[CampaignStatus, ...]
    target: CampaignStatus
    # States in which the action is allowed but leaves the status as it is.
    keeps: tuple[CampaignStatus, ...] = ()

    @property
    def accepted(self) -> tuple[CampaignStatus, ...]:
        """Every state the action is allowed in (those it moves from and those it keeps)."""
        return self.sources + self.keeps

    def allows(self, status: str) -> bool:
        """Whether the action is allowed for a campaign in ``status``."""
        return status in self.accepted


# A new campaign (an INSERT, not a transition: no state before it).
CREATE = CampaignTransition("create", (), C.DRAFT)
SCHEDULE = CampaignTransition("schedule", (C.DRAFT, C.SCHEDULED), C.SCHEDULED)
UNSCHEDULE = CampaignTransition("unschedule", (C.SCHEDULED,), C.DRAFT)
START = CampaignTransition("start", (C.DRAFT, C.SCHEDULED), C.RUNNING)
PAUSE = CampaignTransition("pause", (C.RUNNING,), C.PAUSED)
RESUME = CampaignTransition("resume", (C.PAUSED,), C.RUNNING)
FINISH = CampaignTransition("finish", (C.RUNNING,), C.FINISHED)
CANCEL = CampaignTransition("cancel", (C.DRAFT, C.SCHEDULED, C.RUNNING, C.PAUSED), C.CANCELLED)
# The one way out of finished, by an explicit staff action; a running or paused campaign
# stays as it is (a paused one sends the rows on resume).
RESEND_UNKNOWN = CampaignTransition(
    "resend unknown", (C.FINISHED,), C.RUNNING, keeps=(C.RUNNING, C.PAUSED)
)

TRANSITIONS = (CREATE, SCHEDULE, UNSCHEDULE, START, PAUSE, RESUME, FINISH, CANCEL, RESEND_UNKNOWN)
# Not started yet: subject, preheader, lists and schedule may still change (the states a
# campaign starts from; a schedule changes only by SCHEDULE and UNSCHEDULE).
EDITABLE = START.sources
# Started and not over: the audience is (being) made into delivery rows.
LIVE = (C.RUNNING, C.PAUSED)
