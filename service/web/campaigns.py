"""Admin pages for campaigns: the list, the scheduled ones, the campaign page with its live
progress and failures. The ``campaigns`` blueprint is made here; the create and edit forms
are in ``campaign_forms``, confirm, send and the other actions in ``campaign_sending``, and
the sending settings in ``campaign_settings``. Thin: every action is a campaigns-domain
function, audited."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.campaigns import healing
from service.campaigns.attention import needs_attention
from service.campaigns.campaign_states import EDITABLE
from service.campaigns.drafts import campaign_conditions, campaign_list_ids
from service.campaigns.progress import progress as campaign_progress
from service.campaigns.recipients import audience_count
from service.mail.sending_config import get_sending_config
from service.model import Campaign, CampaignStatus, Delivery, DeliveryStatus, Issue, MailingList
from service.web import campaign_forms, campaign_sending, campaign_settings
from service.web.campaign_common import campaign_or_404, segment_of
from service.web.context import db_session, mail_settings, settings
from service.web.roles import require_role, staff_blueprint

bp = staff_blueprint("campaigns", __name__)
campaign_forms.routes.register(bp)
campaign_sending.routes.register(bp)
campaign_settings.routes.register(bp)
PAGE_SIZE = 50
FAILURES_PAGE_SIZE = 50
# The progress fragment polls this often while a campaign moves.
POLL = "every 2s"
FAILURE_STATES = (DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN, DeliveryStatus.RETRY_DUE)


def _page() -> int:
    return max(request.args.get("page", type=int) or 1, 1)


@bp.route("/campaigns")
@require_role("editor")
def index() -> Any:
    """Every campaign, newest first, a page at a time."""
    session = db_session()
    page = _page()
    total = session.scalar(select(func.count(Campaign.id))) or 0
    rows = session.scalars(
        select(Campaign)
        .order_by(Campaign.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return render_template(
        "campaigns/index.html", campaigns=rows, page=page, pages=pages, total=total
    )


@bp.route("/campaigns/scheduled")
@require_role("editor")
def scheduled() -> Any:
    """The campaigns waiting for their time, soonest first, in the association's zone."""
    rows = (
        db_session()
        .scalars(
            select(Campaign)
            .where(Campaign.status == CampaignStatus.SCHEDULED)
            .order_by(Campaign.scheduled_at, Campaign.id)
        )
        .all()
    )
    return render_template("campaigns/scheduled.html", campaigns=rows, cfg=settings())


def _failures(session: Session, campaign_id: int, page: int) -> tuple[list[Delivery], int]:
    where = (Delivery.campaign_id == campaign_id, Delivery.status.in_(FAILURE_STATES))
    total = session.scalar(select(func.count(Delivery.id)).where(*where)) or 0
    rows = session.scalars(
        select(Delivery)
        .where(*where)
        .order_by(Delivery.id)
        .offset((page - 1) * FAILURES_PAGE_SIZE)
        .limit(FAILURES_PAGE_SIZE)
    ).all()
    return list(rows), int(total)


def _summary(session: Session, campaign: Campaign) -> dict[str, Any]:
    """What the status card shows besides the campaign: its issue, lists and audience."""
    list_ids = campaign_list_ids(session, campaign.id)
    return {
        "issue": session.get(Issue, campaign.issue_id) if campaign.issue_id else None,
        "lists": session.scalars(select(MailingList).where(MailingList.id.in_(list_ids))).all(),
        "segment": segment_of(session, campaign),
        "audience": audience_count(session, list_ids, campaign_conditions(session, campaign.id)),
        "cfg": mail_settings(),  # its DKIM warning goes once a key is stored
        "editable": campaign.status in EDITABLE,
    }


# Pauses nothing resumes by itself: the page says a person must act.
WAITS_FOR_A_PERSON = (
    "campaign.relay_refused",
    "campaign.error_brake_permanent",
    "campaign.probes_gave_up",
    "campaign.probe_refused",
)


def _progress(session: Session, campaign: Campaign) -> dict[str, Any]:
    """What the progress card shows: the counters, what needs a person, the relay probes."""
    p = campaign_progress(session, campaign.id)
    return {
        "p": p,
        "attention": needs_attention(campaign.status, int(p["unknown"])),  # type: ignore[call-overload]
        "probes": healing.probes(session, campaign.id),
        # Read only when the page says it (a probe waits): not on every poll.
        "probe_max": get_sending_config(session).probe_max_attempts
        if campaign.probe_due_at
        else None,
        "waits_for_a_person": campaign.status == "paused"
        and campaign.status_code in WAITS_FOR_A_PERSON,
    }


@bp.route("/campaigns/<int:campaign_id>")
@require_role("editor")
def show(campaign_id: int) -> Any:
    """The campaign page: details, actions, live progress and failures."""
    session = db_session()
    campaign = campaign_or_404(session, campaign_id)
    page = _page()
    failures, failures_total = _failures(session, campaign_id, page)
    return render_template(
        "campaigns/show.html",
        c=campaign,
        **_summary(session, campaign),
        **_progress(session, campaign),
        poll=POLL,
        failures=failures,
        failures_total=failures_total,
        page=page,
        pages=max((failures_total + FAILURES_PAGE_SIZE - 1) // FAILURES_PAGE_SIZE, 1),
    )


@bp.route("/campaigns/<int:campaign_id>/progress")
@require_role("editor")
def progress(campaign_id: int) -> Any:
    """The live progress fragment (htmx polls it while the campaign moves).

    ``shown`` is the status the page was drawn with. Once the campaign has moved on
    (finished, or paused by the error brake) the status card and the buttons around the
    fragment are stale too: the answer then carries them as well, for htmx to swap in
    out of band (no reload: the failures list and the reader's scroll position stay).
    """
    session = db_session()
    campaign = campaign_or_404(session, campaign_id)
    shown = request.args.get("shown")
    changed = bool(shown) and shown != campaign.status
    return render_template(
        "campaigns/_progress.html",
        c=campaign,
        **_progress(session, campaign),
        poll=POLL,
        status_changed=changed,
        **(_summary(session, campaign) if changed else {}),
    )
