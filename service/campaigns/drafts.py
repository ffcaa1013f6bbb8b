"""Campaign drafts: creating a campaign, changing it before it starts, and what it is sent
to (its lists and segment).

A campaign changes here only while it has not started (``campaign_states.EDITABLE``), by
one UPDATE guarded by the status; its status moves only in ``service`` (the state machine
of DESIGN §4).
"""

from __future__ import annotations

from collections.abc import Sequence
from email.utils import parseaddr
from types import EllipsisType
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from service.campaigns.campaign_states import CREATE, EDITABLE
from service.campaigns.service import CampaignError, TransitionError, no_campaign, status_values
from service.config import Settings
from service.mail.addresses import InvalidAddress, normalise
from service.mail.from_address import sender_address
from service.mail.site_settings import default_reply_to, effective_settings
from service.model import Campaign, Issue, MailingList, Segment, campaign_lists, utcnow
from service.subscribers.segments import conditions_of

CONTENT_MODES = ("auto", "full", "excerpt")
MAX_SUBJECT_CHARS = 300


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
        .where(Campaign.id == campaign_id, Campaign.status.in_(status_values(EDITABLE)))
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
