"""Admin pages that make and change a campaign: the create form and the edit form, with
the lists ticked, the segment chosen and the count of who they reach.

Routes of the ``campaigns`` blueprint (see ``service.web.routes``); thin views over
``service.campaigns.drafts`` (the schedule through ``service.campaigns.service``), audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from service.campaigns.campaign_states import EDITABLE
from service.campaigns.drafts import (
    CONTENT_MODES,
    campaign_list_ids,
    create_campaign,
    edit_campaign,
)
from service.campaigns.recipients import AudienceSummary, audience_summary
from service.campaigns.service import CampaignError, TransitionError, parse_local_time, set_schedule
from service.mail.site_settings import effective_settings, stored_site_settings
from service.model import Issue, MailingList, Membership, MembershipStatus
from service.subscribers.segments import SegmentError, all_segments, conditions_of
from service.web.campaign_common import audit_campaign, campaign_or_404
from service.web.context import db_session, settings
from service.web.messages import describe
from service.web.roles import current_user_id, require_role
from service.web.routes import Routes

routes = Routes()
# What a datetime-local field holds.
LOCAL_INPUT = "%Y-%m-%dT%H:%M"


def _lists_with_counts(session: Session) -> list[tuple[MailingList, int]]:
    counts = dict(
        session.execute(
            select(Membership.list_id, func.count())
            .where(Membership.status == MembershipStatus.ACTIVE)
            .group_by(Membership.list_id)
        ).all()
    )
    lists = session.scalars(
        select(MailingList).where(MailingList.archived_at.is_(None)).order_by(MailingList.name)
    ).all()
    return [(lst, int(counts.get(lst.id, 0))) for lst in lists]


def _chosen_lists(lists: list[tuple[MailingList, int]]) -> set[str]:
    """The list slugs ticked on the form: what was sent, else (on a fresh form, also one
    opened from an issue's "send" link) the only list there is."""
    form = request.form if request.method == "POST" else request.args
    if request.method == "POST" or "lists" in form:
        return set(form.getlist("lists"))
    return {lists[0][0].slug} if len(lists) == 1 else set()


def _chosen_segment() -> int | None:
    """The segment chosen on the form (None: every member of the lists)."""
    form = request.form if request.method == "POST" else request.args
    return form.get("segment_id", type=int)


def _form_audience(
    session: Session,
    lists: list[tuple[MailingList, int]],
    chosen: set[str],
    segment_id: int | None,
) -> AudienceSummary | None:
    """Who the lists ticked and the segment chosen on a form reach now, as the preflight
    counts them (None: no list ticked, or the segment is gone)."""
    list_ids = [lst.id for lst, _n in lists if lst.slug in chosen]
    if not list_ids:
        return None
    try:
        conditions = conditions_of(session, segment_id)
    except SegmentError:
        return None
    return audience_summary(session, list_ids, conditions)


def _wants_count() -> bool:
    """The form's "Count recipients" button: show the count, change nothing."""
    return request.method == "POST" and request.form.get("count") == "1"


@routes.route("/campaigns/new", methods=["GET", "POST"])
@require_role("editor")
def new() -> Any:
    """The create form: issue, lists (with active members), From, subject, tracking, mode."""
    session = db_session()
    site = stored_site_settings(session)  # the form shows the sender set in the admin
    cfg = effective_settings(session, settings(), site)
    # The dropdown needs no original documents (up to 20 MB each): leave them unloaded.
    issues = session.scalars(
        select(Issue).options(defer(Issue.source_data)).order_by(Issue.id.desc()).limit(200)
    ).all()
    form = request.form if request.method == "POST" else request.args
    error = None
    if request.method == "POST" and not _wants_count():
        try:
            campaign = create_campaign(
                session,
                cfg,
                lists=request.form.getlist("lists"),
                issue_id=request.form.get("issue_id", type=int),
                body_html=(
                    None
                    if request.form.get("issue_id", type=int)
                    else (request.form.get("body_html") or "").strip() or None
                ),
                subject=request.form.get("subject") or None,
                preheader=request.form.get("preheader", ""),
                from_name=request.form.get("from_name") or None,
                from_addr=request.form.get("from_addr") or None,
                # The form shows the stored Reply-To: a field emptied there means none.
                reply_to=request.form.get("reply_to"),
                tracking=request.form.get("tracking") == "1",
                content_mode=request.form.get("content_mode", "auto"),
                created_by=current_user_id(),
                segment_id=_chosen_segment(),
            )
            audit_campaign(session, "campaign.create", campaign.id, subject=campaign.subject)
            session.commit()
            flash(_("Campaign created. Check it, send a test, then send."), "info")
            return redirect(url_for("campaigns.show", campaign_id=campaign.id))
        except CampaignError as exc:
            session.rollback()
            error = describe(exc)
    lists = _lists_with_counts(session)
    chosen = _chosen_lists(lists)
    return render_template(
        "campaigns/new.html",
        issues=issues,
        lists=lists,
        chosen_lists=chosen,
        segments=all_segments(session),
        chosen_segment=_chosen_segment(),
        audience=_form_audience(session, lists, chosen, _chosen_segment()),
        modes=CONTENT_MODES,
        form=form,
        error=error,
        cfg=cfg,
        reply_to=site.reply_to,
    ), (400 if error else 200)


def _local_input(value: datetime | None) -> str:
    """A stored time as a ``datetime-local`` field shows it: in the configured zone."""
    return value.astimezone(settings().zone).strftime(LOCAL_INPUT) if value else ""


@routes.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@require_role("editor")
def edit(campaign_id: int) -> Any:
    """Change a campaign that has not started: subject, preheader, lists and schedule (an
    empty time takes a scheduled campaign back to draft). A started one is not changed:
    the page says so instead of showing the form."""
    session = db_session()
    campaign = campaign_or_404(session, campaign_id)
    error = None
    if request.method == "POST" and campaign.status in EDITABLE and not _wants_count():
        try:
            edit_campaign(
                session,
                campaign_id,
                subject=request.form.get("subject", ""),
                preheader=request.form.get("preheader", ""),
                lists=request.form.getlist("lists"),
                segment_id=_chosen_segment(),
            )
            text = request.form.get("at", "").strip()
            at = parse_local_time(text, settings().zone) if text else None
            rescheduled = set_schedule(session, campaign_id, at)
            audit_campaign(
                session,
                "campaign.edit",
                campaign_id,
                subject=request.form.get("subject", "").strip(),
                at=at.isoformat() if rescheduled and at else None,
                unscheduled=rescheduled and at is None,
            )
            session.commit()
            flash(_("Campaign saved."), "info")
            return redirect(url_for("campaigns.show", campaign_id=campaign_id))
        except (CampaignError, TransitionError) as exc:
            session.rollback()
            error = describe(exc)
        campaign = campaign_or_404(session, campaign_id)
    started = campaign.status not in EDITABLE
    lists = _lists_with_counts(session)
    if request.method == "POST":
        chosen = set(request.form.getlist("lists"))
        segment_id = _chosen_segment()
    else:
        linked = set(campaign_list_ids(session, campaign_id))  # once, not once per list
        chosen = {lst.slug for lst, _n in lists if lst.id in linked}
        segment_id = campaign.segment_id
    return render_template(
        "campaigns/edit.html",
        c=campaign,
        started=started,
        lists=lists,
        chosen_lists=chosen,
        segments=all_segments(session),
        chosen_segment=segment_id,
        audience=None if started else _form_audience(session, lists, chosen, segment_id),
        form=request.form if request.method == "POST" else {},
        at=_local_input(campaign.scheduled_at),
        error=error,
        cfg=settings(),
    ), (409 if started and request.method == "POST" else 400 if error else 200)
