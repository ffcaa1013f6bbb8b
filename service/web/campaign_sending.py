"""Admin actions that send a campaign or stop it: the confirm page with its preflight,
start, schedule, pause, resume, cancel, resend the unknown rows, and test sends.

Routes of the ``campaigns`` blueprint (see ``service.web.routes``); every action is a
campaigns-domain function, audited.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.campaigns.content import ContentError
from service.campaigns.drafts import campaign_list_ids
from service.campaigns.preflight import run_preflight
from service.campaigns.preflight_links import Fetch, http_fetch
from service.campaigns.preflight_result import Preflight, refusal
from service.campaigns.service import (
    PAUSED_BY_STAFF,
    CampaignError,
    TransitionError,
    cancel,
    parse_local_time,
    pause,
    resend_unknown,
    resume,
    schedule,
    unschedule,
)
from service.issues.publishing import archive_url
from service.mail.from_address import UnsendableFrom
from service.model import Issue, MailingList
from service.web.campaign_common import audit_campaign, campaign_or_404, segment_of
from service.web.context import db_session, mail_settings, settings
from service.web.messages import describe, flash_error
from service.web.roles import require_role
from service.web.routes import Routes

routes = Routes()
MAX_TEST_ADDRESSES = 5
# How the confirm page asks links to other sites (tests give a fake one).
FETCH_EXTERNAL: Fetch = http_fetch
# What each preflight check is called on the confirm page.
CHECK_LABELS = {
    "recipients": _l("Recipients"),
    "message": _l("Rendered message"),
    "own_links": _l("Links to this service"),
    "external_links": _l("Links to other sites"),
    "archive_public": _l("Web archive page"),
    "spf": _l("SPF record"),
    "dkim_record": _l("DKIM key in DNS"),
    "dmarc": _l("DMARC record"),
    "dkim_signature": _l("DKIM signature"),
    "list_unsubscribe": _l("One-click unsubscribe headers"),
    "html_size": _l("Size (Gmail clipping)"),
    "mail_from_alignment": _l("Return path in the From domain"),
}


def _fetch_own(base: str, url: str) -> int:
    """What this service answers for one of its own links, asked of the app itself (a
    reader's request: no staff session), so the check needs no network.

    Asked from a thread of its own: a test-client request made in this thread would share
    this request's ``g`` (Flask reuses the app context of the same app), and with it the
    staff login, the CSRF token (the confirm form then carried the reader page's token and
    its POST failed with 400) and the database session, which its teardown closed."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    path = url[len(base.rstrip("/")) :] or "/"
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: app.test_client().get(path).status_code).result()


def preflight(session: Session, campaign_id: int, *, external: bool = True) -> Preflight:
    """The preflight with own links asked of the app (the admin's and the API's);
    ``external=False`` leaves the links to other sites out (the start after the confirm
    page: see ``start``)."""
    fetch_external = FETCH_EXTERNAL if external else None
    # The base URL the preflight's links start with, read once (not once per link).
    base = mail_settings().base_url
    return run_preflight(
        session,
        settings(),
        campaign_id,
        fetch_own=partial(_fetch_own, base),
        fetch_external=fetch_external,
    )


@routes.route("/campaigns/<int:campaign_id>/confirm")
@require_role("editor")
def confirm(campaign_id: int) -> Any:
    """The confirmation step before sending: recipients, subject, From, and the preflight
    of the message (a failed error disables sending, warnings need a tick)."""
    session = db_session()
    campaign = campaign_or_404(session, campaign_id)
    checked = preflight(session, campaign_id)
    list_ids = campaign_list_ids(session, campaign_id)
    issue = session.get(Issue, campaign.issue_id) if campaign.issue_id else None
    return render_template(
        "campaigns/confirm.html",
        c=campaign,
        issue=issue,
        archive_url=archive_url(mail_settings(), issue.slug) if issue else None,
        # The preflight's count: suppressed addresses left out, as the page says.
        audience=checked.recipients,
        lists=session.scalars(select(MailingList).where(MailingList.id.in_(list_ids))).all(),
        segment=segment_of(session, campaign),
        preflight=checked,
        check_labels=CHECK_LABELS,
        describe=describe,
    )


def _queue_materialize(campaign_id: int) -> None:
    from worker.tasks_send import materialize

    materialize.apply_async(args=[campaign_id], retry=False)


@routes.route("/campaigns/<int:campaign_id>/start", methods=["POST"])
@require_role("editor")
def start(campaign_id: int) -> Any:
    """Start sending now (only from the confirmation step)."""
    from service.campaigns.engine import start_and_prepare

    session = db_session()
    campaign_or_404(session, campaign_id)
    if request.form.get("confirmed") != "1":
        return redirect(url_for("campaigns.confirm", campaign_id=campaign_id))
    # Checked again: the page may be old, and the form can be posted without it. Links
    # to other sites are not asked again (up to FETCH_TIMEOUT_SECONDS each, on the web):
    # they only ever warn, and the confirm page the tick was given on showed them.
    checked = preflight(session, campaign_id, external=False)
    refused = refusal(checked, request.form.get("acknowledged") == "1")
    if refused is not None:
        flash_error(refused)
        return redirect(url_for("campaigns.confirm", campaign_id=campaign_id))
    try:
        queue_error = start_and_prepare(session, settings(), campaign_id, _queue_materialize)
    except (TransitionError, ContentError, UnsendableFrom) as exc:
        session.rollback()
        flash_error(exc)
        return redirect(url_for("campaigns.show", campaign_id=campaign_id))
    audit_campaign(session, "campaign.start", campaign_id)
    session.commit()
    if queue_error is None:
        flash(_("Sending started."), "info")
    else:
        flash(
            _(
                "Sending started; the queue is unreachable right now, so it begins when "
                "the worker and Redis are back."
            ),
            "warning",
        )
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@routes.route("/campaigns/<int:campaign_id>/schedule", methods=["POST"])
@require_role("editor")
def schedule_view(campaign_id: int) -> Any:
    """Schedule (or unschedule) for a time entered in the configured zone."""
    session = db_session()
    campaign_or_404(session, campaign_id)
    try:
        if request.form.get("unschedule"):
            unschedule(session, campaign_id)
            audit_campaign(session, "campaign.unschedule", campaign_id)
        else:
            at = parse_local_time(request.form.get("at", ""), settings().zone)
            schedule(session, campaign_id, at)
            audit_campaign(session, "campaign.schedule", campaign_id, at=at.isoformat())
        session.commit()
        flash(_("Schedule saved."), "info")
    except (CampaignError, TransitionError) as exc:
        session.rollback()
        flash_error(exc)
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


def _simple_action(campaign_id: int, action: str, fn: Any, message: str) -> Any:
    session = db_session()
    campaign_or_404(session, campaign_id)
    try:
        result = fn(session, campaign_id)
        audit_campaign(session, f"campaign.{action}", campaign_id, result=result)
        session.commit()
        flash(message, "info")
    except TransitionError as exc:
        session.rollback()
        flash_error(exc)
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@routes.route("/campaigns/<int:campaign_id>/pause", methods=["POST"])
@require_role("editor")
def pause_view(campaign_id: int) -> Any:
    """Pause: workers stop within one batch."""
    return _simple_action(
        campaign_id,
        "pause",
        lambda s, i: pause(s, i, PAUSED_BY_STAFF),
        _("Paused. Sending stops within one batch."),
    )


@routes.route("/campaigns/<int:campaign_id>/resume", methods=["POST"])
@require_role("editor")
def resume_view(campaign_id: int) -> Any:
    """Resume a paused campaign."""
    return _simple_action(campaign_id, "resume", resume, _("Resumed."))


@routes.route("/campaigns/<int:campaign_id>/cancel", methods=["POST"])
@require_role("editor")
def cancel_view(campaign_id: int) -> Any:
    """Cancel for good."""
    return _simple_action(campaign_id, "cancel", cancel, _("Cancelled. Nothing more will be sent."))


@routes.route("/campaigns/<int:campaign_id>/resend-unknown", methods=["POST"])
@require_role("editor")
def resend_unknown_view(campaign_id: int) -> Any:
    """Send again the rows whose outcome is unknown (staff's explicit choice)."""
    return _simple_action(
        campaign_id,
        "resend_unknown",
        resend_unknown,
        _("The recipients whose outcome was unknown will be sent to again."),
    )


@routes.route("/campaigns/<int:campaign_id>/test", methods=["POST"])
@require_role("editor")
def test_send(campaign_id: int) -> Any:
    """Send a test to a few addresses (subject prefixed, not counted in reports),
    optionally rendered as the subscriber whose address is given in ``as``."""
    from service.campaigns.previews import send_test

    session = db_session()
    campaign_or_404(session, campaign_id)
    raw = request.form.get("to", "")
    addresses = [
        a.strip() for a in raw.replace(";", ",").replace("\n", ",").split(",") if a.strip()
    ]
    if not addresses or len(addresses) > MAX_TEST_ADDRESSES:
        flash(_("Give between 1 and %(n)s addresses.", n=MAX_TEST_ADDRESSES), "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign_id))
    shown_as = request.form.get("as", "").strip() or None
    try:
        results = send_test(session, settings(), campaign_id, addresses, as_subscriber=shown_as)
    except (LookupError, ContentError, UnsendableFrom) as exc:  # no such subscriber too
        flash_error(exc)
        return redirect(url_for("campaigns.show", campaign_id=campaign_id))
    session.rollback()
    audit_campaign(session, "campaign.test", campaign_id, to=addresses, shown_as=shown_as)
    session.commit()
    for result in results:
        if result.error is None:
            flash(_("Test sent to %(address)s.", address=result.address), "info")
        else:
            flash(
                _(
                    "The test to %(address)s was not sent: %(reason)s",
                    address=result.address,
                    reason=result.error,
                ),
                "error",
            )
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))
