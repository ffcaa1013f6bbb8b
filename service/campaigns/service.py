"""Campaigns: creation and the state machine of DESIGN §4.

Every transition is ONE guarded UPDATE (``WHERE status IN (:expected)``): two staff
members clicking at once, or a click racing the beat job, can never both win. Which
states each one may start from is written once, in ``campaign_states``. A function
returns normally when its transition happened and raises ``TransitionError`` (saying what
the state is now) when it did not. The delivery rows a transition moves with it (resume,
cancel, resend unknown) move by the named moves of ``service.model.delivery_states``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.utils import parseaddr
from types import EllipsisType
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, delete, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from service.campaigns.campaign_states import (
    CANCEL,
    CREATE,
    EDITABLE,
    FINISH,
    PAUSE,
    RESEND_UNKNOWN,
    RESUME,
    SCHEDULE,
    START,
    UNSCHEDULE,
    CampaignTransition,
)
from service.config import Settings
from service.errors import DomainError, Message
from service.mail.addresses import InvalidAddress, normalise
from service.mail.from_address import sender_address
from service.mail.site_settings import default_reply_to, effective_settings
from service.model import Campaign, Delivery, Issue, MailingList, Segment, campaign_lists, utcnow
from service.model import delivery_states as deliveries
from service.subscribers.segments import conditions_of

CONTENT_MODES = ("auto", "full", "excerpt")
MAX_SUBJECT_CHARS = 300
# status_reason is shown in a box on the campaign page; a relay's answer can be long.
MAX_REASON_CHARS = 1000
RESEND_REASON = Message.of("campaign.resending_unknown", "resending rows whose outcome was unknown")
# Who paused a campaign, as its page says it.
PAUSED_BY_STAFF = Message.of("campaign.paused_by_staff", "paused by a staff member")
PAUSED_THROUGH_API = Message.of("campaign.paused_through_api", "paused through the API")
PAUSED_FROM_CLI = Message.of("campaign.paused_from_cli", "paused from the command line")


class CampaignError(DomainError, ValueError):
    """Bad input for a campaign; the message says what to fix."""


class TransitionError(DomainError, RuntimeError):
    """The campaign was not in a state that allows this action (someone was quicker)."""


def no_campaign(campaign_id: int) -> TransitionError:
    """The error for a campaign id that does not exist (any more)."""
    return TransitionError(
        "campaign.missing", "there is no campaign %(campaign_id)s", campaign_id=campaign_id
    )


def reason_values(reason: Message | None) -> dict[str, Any]:
    """The columns that store why a campaign is in its state (nothing: empty reason).

    The English text goes to ``status_reason`` (what the API and the command line show),
    the code and parameters let the admin say it in the reader's language.
    """
    if reason is None:
        return {"status_reason": "", "status_code": "", "status_params": None}
    dumped = reason.dump()
    return {
        "status_reason": reason.text[:MAX_REASON_CHARS],
        "status_code": reason.code,
        "status_params": dumped["params"] or None,
    }


def create_campaign(
    session: Session,
    settings: Settings,
    *,
    lists: Sequence[str | int],
    issue_id: int | None = None,
    body_html: str | None = None,
    subject: str | None = None,
    preheader: str = "",
    from_name: str | None = None,
    from_addr: str | None = None,
    reply_to: str | None = None,
    tracking: bool = True,
    content_mode: str = "auto",
    created_by: int | None = None,
    segment_id: int | None = None,
) -> Campaign:
    """Create a draft campaign of an issue (or a plain HTML body) for one or more lists.

    ``lists`` are slugs or ids; a subscriber on two of them gets one message.
    ``segment_id``: a saved segment the lists' members must match (judged when the rows
    are made at start, not now). The subject
    defaults to the issue's title and number; From and Reply-To default to the sender
    settings (``service.mail.site_settings``).
    """
    if (issue_id is None) == (body_html is None):
        raise CampaignError("campaign.issue_or_body", "give either an issue or an HTML body")
    issue = session.get(Issue, issue_id) if issue_id is not None else None
    if issue_id is not None and issue is None:
        raise CampaignError(
            "campaign.no_issue", "there is no issue %(issue_id)s", issue_id=issue_id
        )
    list_rows = _lists(session, lists)
    _check_segment(session, segment_id)
    if content_mode not in CONTENT_MODES:
        raise CampaignError(
            "campaign.bad_content_mode",
            "content mode must be one of %(modes)s",
            modes=", ".join(CONTENT_MODES),
        )
    subject = _checked_subject(
        (subject or "").strip()
        or (f"{issue.title} {issue.number}".strip() if issue is not None else "")
    )
    settings = effective_settings(session, settings)  # the sender set in the admin
    if reply_to is None:
        reply_to = default_reply_to(session)
    sender, reply = _sender_addresses(from_addr or settings.from_addr, reply_to)
    name = settings.from_name if from_name is None else from_name
    _check_one_line(name, preheader)
    campaign = Campaign(
        issue_id=issue_id,
        body_html=body_html,
        name=subject,
        subject=subject,
        preheader=preheader.strip(),
        from_name=name.strip(),
        from_addr=sender,
        reply_to=reply,
        tracking=tracking,
        content_mode=content_mode,
        status=CREATE.target,
        created_by=created_by,
        segment_id=segment_id,
    )
    session.add(campaign)
    session.flush()
    _link_lists(session, campaign.id, list_rows)
    return campaign


def edit_campaign(
    session: Session,
    campaign_id: int,
    *,
    subject: str,
    preheader: str,
    lists: Sequence[str | int],
    segment_id: int | None | EllipsisType = ...,
) -> None:
    """Change the subject, preheader, lists and segment (``...`` keeps it, None: no
    segment) of a campaign that has not started (a draft, or a scheduled campaign): one
    UPDATE guarded by the status, so a campaign that started meanwhile keeps what it is
    being sent with. The name follows the subject unless it was given one of its own.
    Raises ``CampaignError`` (bad input) and ``TransitionError``
    (``campaign.not_editable``: it has started)."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise no_campaign(campaign_id)
    subject = _checked_subject(subject.strip())
    _check_one_line(preheader)
    list_rows = _lists(session, lists)
    segment = {} if segment_id is ... else {"segment_id": _check_segment(session, segment_id)}
    name = subject if campaign.name == campaign.subject else campaign.name
    result = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status.in_(_states(EDITABLE)))
        .values(
            subject=subject,
            name=name,
            preheader=preheader.strip(),
            updated_at=utcnow(),
            **segment,
        )
        .returning(Campaign.id)
    )
    if result.first() is None:
        session.refresh(campaign)
        raise not_editable(campaign_id, campaign.status)
    session.execute(delete(campaign_lists).where(campaign_lists.c.campaign_id == campaign_id))
    _link_lists(session, campaign_id, list_rows)
    session.expire_all()


def not_editable(campaign_id: int, status: str) -> TransitionError:
    """The error for a change asked of a campaign that has started."""
    return TransitionError(
        "campaign.not_editable",
        "campaign %(campaign_id)s is %(status)s: only a campaign that has not started can "
        "be changed",
        campaign_id=campaign_id,
        status=status,
    )


def _checked_subject(subject: str) -> str:
    if not subject:
        raise CampaignError("campaign.no_subject", "a subject is needed")
    if len(subject) > MAX_SUBJECT_CHARS or any(c in subject for c in "\r\n"):
        raise CampaignError(
            "campaign.bad_subject",
            "the subject must be one line of at most %(max)s characters",
            max=MAX_SUBJECT_CHARS,
        )
    return subject


def _check_one_line(*values: str) -> None:
    """The From name and the preheader go into headers: one line each."""
    if any(c in value for value in values for c in "\r\n"):
        raise CampaignError(
            "campaign.multiline_header", "the From name and preheader must be one line"
        )


def _check_segment(session: Session, segment_id: int | None) -> int | None:
    """``segment_id`` when it names a saved segment (or is None)."""
    if segment_id is not None and session.get(Segment, segment_id) is None:
        raise CampaignError(
            "campaign.unknown_segment", "there is no segment %(segment_id)s", segment_id=segment_id
        )
    return segment_id


def _link_lists(session: Session, campaign_id: int, list_rows: Sequence[MailingList]) -> None:
    session.execute(
        insert(campaign_lists),
        [{"campaign_id": campaign_id, "list_id": row.id} for row in list_rows],
    )


def _lists(session: Session, refs: Sequence[str | int]) -> list[MailingList]:
    if not refs:
        raise CampaignError("campaign.no_list", "choose at least one list")
    found: dict[int, MailingList] = {}
    for ref in refs:
        text = str(ref).strip()
        row = session.scalar(select(MailingList).where(MailingList.slug == text))
        if row is None and text.isdigit():
            row = session.get(MailingList, int(text))
        if row is None:
            raise CampaignError("campaign.unknown_list", "there is no list %(list)r", list=text)
        found[row.id] = row
    return list(found.values())


def _sender_addresses(from_addr: str, reply_to: str | None) -> tuple[str, str | None]:
    """The From and Reply-To addresses as they go on the wire; a bad one is named by its
    field (one code each, so the admin names the field in the reader's language)."""
    try:
        sender = sender_address(from_addr)
    except InvalidAddress as exc:
        raise CampaignError("campaign.bad_from", "From: %(error)s", error=exc.detail) from exc
    try:
        reply = _address(reply_to) if reply_to else None
    except InvalidAddress as exc:
        raise CampaignError(
            "campaign.bad_reply_to", "Reply-To: %(error)s", error=exc.detail
        ) from exc
    return sender, reply


def _address(value: str) -> str:
    _, addr = parseaddr(value)
    return normalise(addr or value).email_ascii


def campaign_list_ids(session: Session, campaign_id: int) -> list[int]:
    """The ids of the campaign's lists, in id order."""
    rows = session.scalars(
        select(campaign_lists.c.list_id)
        .where(campaign_lists.c.campaign_id == campaign_id)
        .order_by(campaign_lists.c.list_id)
    )
    return list(rows)


def campaign_conditions(session: Session, campaign_id: int) -> list[dict[str, Any]]:
    """The conditions of the campaign's segment (none: every member of its lists)."""
    segment_id = session.scalar(select(Campaign.segment_id).where(Campaign.id == campaign_id))
    return conditions_of(session, segment_id)


# ------------------------------------------------------------------ transitions


def _transition(
    session: Session,
    campaign_id: int,
    transition: CampaignTransition,
    *where: ColumnElement[bool],
    **values: object,
) -> None:
    """One guarded UPDATE; raise ``TransitionError`` when the row was not in one of the
    transition's sources (or does not match ``where``, an extra guard).

    Every transition ends a wait for the next probe of the relay (``healing``) unless it
    schedules one itself: a person's resume, pause or cancel always wins over a probe.
    """
    new = transition.target
    values.setdefault("probe_due_at", None)
    result = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status.in_(_states(transition.sources)), *where)
        .values(status=str(new), updated_at=utcnow(), **values)
        .returning(Campaign.id)
    )
    if result.first() is None:
        current = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
        if current is None:
            raise no_campaign(campaign_id)
        raise TransitionError(
            "campaign.bad_transition",
            "campaign %(campaign_id)s is %(status)s, cannot become %(new_status)s",
            campaign_id=campaign_id,
            status=current,
            new_status=str(new),
        )
    session.expire_all()


def _states(states: Sequence[str]) -> list[str]:
    return [str(s) for s in states]


def parse_local_time(text: str, zone: ZoneInfo) -> datetime:
    """An ISO time as staff type it; without an offset it is in the configured zone."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise CampaignError(
            "campaign.bad_time", "%(text)r is not a time like 2026-12-01T09:00", text=text
        ) from exc
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def schedule(session: Session, campaign_id: int, at: datetime) -> None:
    """draft|scheduled → scheduled at ``at`` (timezone-aware; must be in the future)."""
    if at.tzinfo is None:
        raise time_without_zone()
    if at <= utcnow():
        raise CampaignError(
            "campaign.time_in_past", "the scheduled time is in the past; use start to send now"
        )
    _transition(session, campaign_id, SCHEDULE, scheduled_at=at, **reason_values(None))


def set_schedule(session: Session, campaign_id: int, at: datetime | None) -> bool:
    """The schedule as the edit form gives it: a time schedules (or moves) the campaign by
    ``schedule``; no time takes a scheduled campaign back to draft by ``unschedule``; the
    time it already has changes nothing. Returns whether anything changed."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise no_campaign(campaign_id)
    if at is None:
        if not UNSCHEDULE.allows(campaign.status):
            return False
        unschedule(session, campaign_id)
        return True
    if UNSCHEDULE.allows(campaign.status) and campaign.scheduled_at == at:
        return False
    schedule(session, campaign_id, at)
    return True


def time_without_zone() -> CampaignError:
    """The error for a time given without a zone offset."""
    return CampaignError("campaign.time_without_zone", "the time needs a zone")


def unschedule(session: Session, campaign_id: int) -> None:
    """scheduled → draft."""
    _transition(session, campaign_id, UNSCHEDULE, scheduled_at=None)


def mark_running(session: Session, campaign_id: int) -> None:
    """draft|scheduled → running (the content must be compiled first: see ``start``)."""
    _transition(session, campaign_id, START, started_at=utcnow(), **reason_values(None))


def pause(
    session: Session,
    campaign_id: int,
    reason: Message | None = None,
    probe_due_at: datetime | None = None,
) -> None:
    """running → paused, noting ``reason`` (who paused, or why the sender did). Workers stop
    claiming at once; a batch in flight stops at its next commit group and gives its
    untouched rows back. ``probe_due_at``: the error brake paused for a transient fault
    and the relay is to be probed then (see ``healing``)."""
    _transition(
        session,
        campaign_id,
        PAUSE,
        probe_due_at=probe_due_at,
        probe_attempts=0,
        **reason_values(reason),
    )


def resume(
    session: Session,
    campaign_id: int,
    *where: ColumnElement[bool],
    reason: Message | None = None,
) -> None:
    """paused → running; dispatch picks up the pending rows again. ``where``: an extra
    guard, ``reason``: a note (a probe resumes only a campaign the brake still holds, and
    says so: see ``healing``).

    Rows still ``queued`` had their queue messages claim nothing while paused: they go
    back to ``pending`` now rather than waiting for the sweep. A message still in the
    queue for one of them is harmless — the guarded claim lets only one send happen.
    """
    _transition(session, campaign_id, RESUME, *where, **reason_values(reason))
    session.execute(
        deliveries.moved(deliveries.RESUME, Delivery.campaign_id == campaign_id, queued_at=None)
    )


def cancel(session: Session, campaign_id: int) -> int:
    """draft|scheduled|running|paused → cancelled; rows not yet sent become ``skipped``.

    Returns the number of rows skipped. Rows already claimed by a worker (``sending``) are
    finished by that worker or become ``unknown``; they are never sent twice.
    """
    _transition(session, campaign_id, CANCEL, finished_at=utcnow())
    result = session.execute(
        deliveries.moved(
            deliveries.CANCEL,
            Delivery.campaign_id == campaign_id,
            last_error="campaign cancelled",
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def finish(session: Session, campaign_id: int) -> None:
    """running → finished (the ledger decides when: see ``ledger.finalize``)."""
    _transition(session, campaign_id, FINISH, finished_at=utcnow())


def resend_unknown(session: Session, campaign_id: int) -> int:
    """Staff decided the ``unknown`` rows should be sent again: back to ``pending``.

    One guarded transition first: finished → running (the one transition out of
    finished, made only by this explicit staff action); running and paused stay as they
    are (a paused campaign sends them on resume). Any other state — cancelled above all,
    where nothing would ever send them — raises ``TransitionError`` and changes nothing.
    Returns the rows re-queued.
    """
    allowed = _states(RESEND_UNKNOWN.accepted)
    finished = Campaign.status.in_(_states(RESEND_UNKNOWN.sources))
    reason = reason_values(RESEND_REASON)
    result = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status.in_(allowed))
        .values(
            status=case((finished, str(RESEND_UNKNOWN.target)), else_=Campaign.status),
            finished_at=case((finished, None), else_=Campaign.finished_at),
            status_reason=case((finished, reason["status_reason"]), else_=Campaign.status_reason),
            status_code=case((finished, reason["status_code"]), else_=Campaign.status_code),
            # The resend note has no parameters: NULL, which needs no JSON literal here.
            status_params=case((finished, None), else_=Campaign.status_params),
            updated_at=utcnow(),
        )
        .returning(Campaign.id)
        .execution_options(synchronize_session=False)
    )
    if result.first() is None:
        current = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
        if current is None:
            raise no_campaign(campaign_id)
        raise TransitionError(
            "campaign.cannot_resend",
            "campaign %(campaign_id)s is %(status)s, cannot resend unknown rows",
            campaign_id=campaign_id,
            status=current,
        )
    session.expire_all()
    moved = session.execute(
        deliveries.moved(
            deliveries.RESEND,
            Delivery.campaign_id == campaign_id,
            claimed_at=None,
            queued_at=None,
            # Counted apart in the report: each may reach its recipient twice (with the
            # same Message-ID, which the message builder derives from the row).
            resends=Delivery.resends + 1,
            resent_at=utcnow(),
        )
    )
    return int(moved.rowcount or 0)  # type: ignore[attr-defined]
