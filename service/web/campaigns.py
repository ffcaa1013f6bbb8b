"""Admin pages for campaigns: list, create, confirm and send, live progress, failures,
and the sending settings. Thin: every action is a campaigns-domain function, audited."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from service.accounts.audit import audit
from service.campaigns import healing, ledger
from service.campaigns.attention import needs_attention
from service.campaigns.campaign_states import EDITABLE
from service.campaigns.content import ContentError
from service.campaigns.preflight import run_preflight
from service.campaigns.preflight_links import Fetch, http_fetch
from service.campaigns.preflight_result import Preflight, refusal
from service.campaigns.service import (
    CONTENT_MODES,
    PAUSED_BY_STAFF,
    CampaignError,
    TransitionError,
    campaign_conditions,
    campaign_list_ids,
    cancel,
    create_campaign,
    edit_campaign,
    parse_local_time,
    pause,
    resend_unknown,
    resume,
    schedule,
    set_schedule,
    unschedule,
)
from service.config import ConfigError
from service.issues.publishing import archive_url
from service.mail.from_address import UnsendableFrom
from service.mail.providers import PROVIDERS
from service.mail.sending_config import (
    PROVIDER_FIELDS,
    PROVIDER_LIMITS_ENV,
    SendingConfigError,
    env_provider_limits,
    get_sending_config,
    save_sending_config,
)
from service.mail.site_settings import effective_settings, stored_site_settings
from service.model import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Issue,
    MailingList,
    Membership,
    MembershipStatus,
    Segment,
)
from service.ops.secrets import mask_url, restore_masked
from service.subscribers.segments import SegmentError, all_segments, conditions_of
from service.web.context import db_session, mail_settings, settings
from service.web.messages import describe, flash_error
from service.web.roles import current_user_id, require_role, staff_blueprint

bp = staff_blueprint("campaigns", __name__)
PAGE_SIZE = 50
FAILURES_PAGE_SIZE = 50
# The progress fragment polls this often while a campaign moves.
POLL = "every 2s"
MAX_TEST_ADDRESSES = 5
# What a datetime-local field holds.
LOCAL_INPUT = "%Y-%m-%dT%H:%M"
FAILURE_STATES = (DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN, DeliveryStatus.RETRY_DUE)
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


def _campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        abort(404)
    return campaign


def _audit(session: Session, action: str, campaign_id: int, **detail: Any) -> None:
    audit(
        session, current_user_id(), action, "campaign", campaign_id, request.remote_addr, **detail
    )


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
) -> ledger.AudienceSummary | None:
    """Who the lists ticked and the segment chosen on a form reach now, as the preflight
    counts them (None: no list ticked, or the segment is gone)."""
    list_ids = [lst.id for lst, _n in lists if lst.slug in chosen]
    if not list_ids:
        return None
    try:
        conditions = conditions_of(session, segment_id)
    except SegmentError:
        return None
    return ledger.audience_summary(session, list_ids, conditions)


def _wants_count() -> bool:
    """The form's "Count recipients" button: show the count, change nothing."""
    return request.method == "POST" and request.form.get("count") == "1"


@bp.route("/campaigns/new", methods=["GET", "POST"])
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
            _audit(session, "campaign.create", campaign.id, subject=campaign.subject)
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


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@require_role("editor")
def edit(campaign_id: int) -> Any:
    """Change a campaign that has not started: subject, preheader, lists and schedule (an
    empty time takes a scheduled campaign back to draft). A started one is not changed:
    the page says so instead of showing the form."""
    session = db_session()
    campaign = _campaign(session, campaign_id)
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
            _audit(
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
        campaign = _campaign(session, campaign_id)
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
        "segment": _segment_of(session, campaign),
        "audience": ledger.audience_count(
            session, list_ids, campaign_conditions(session, campaign.id)
        ),
        "cfg": mail_settings(),  # its DKIM warning goes once a key is stored
        "editable": campaign.status in EDITABLE,
    }


def _segment_of(session: Session, campaign: Campaign) -> Segment | None:
    return session.get(Segment, campaign.segment_id) if campaign.segment_id else None


# Pauses nothing resumes by itself: the page says a person must act.
WAITS_FOR_A_PERSON = (
    "campaign.relay_refused",
    "campaign.error_brake_permanent",
    "campaign.probes_gave_up",
    "campaign.probe_refused",
)


def _progress(session: Session, campaign: Campaign) -> dict[str, Any]:
    """What the progress card shows: the counters, what needs a person, the relay probes."""
    p = ledger.progress(session, campaign.id)
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
    campaign = _campaign(session, campaign_id)
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
    campaign = _campaign(session, campaign_id)
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
    base = effective_settings(session, settings()).base_url
    return run_preflight(
        session,
        settings(),
        campaign_id,
        fetch_own=partial(_fetch_own, base),
        fetch_external=fetch_external,
    )


@bp.route("/campaigns/<int:campaign_id>/confirm")
@require_role("editor")
def confirm(campaign_id: int) -> Any:
    """The confirmation step before sending: recipients, subject, From, and the preflight
    of the message (a failed error disables sending, warnings need a tick)."""
    session = db_session()
    campaign = _campaign(session, campaign_id)
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
        segment=_segment_of(session, campaign),
        preflight=checked,
        check_labels=CHECK_LABELS,
        describe=describe,
    )


def _queue_materialize(campaign_id: int) -> None:
    from worker.tasks_send import materialize

    materialize.apply_async(args=[campaign_id], retry=False)


@bp.route("/campaigns/<int:campaign_id>/start", methods=["POST"])
@require_role("editor")
def start(campaign_id: int) -> Any:
    """Start sending now (only from the confirmation step)."""
    from service.campaigns.engine import start_and_prepare

    session = db_session()
    _campaign(session, campaign_id)
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
    _audit(session, "campaign.start", campaign_id)
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


@bp.route("/campaigns/<int:campaign_id>/schedule", methods=["POST"])
@require_role("editor")
def schedule_view(campaign_id: int) -> Any:
    """Schedule (or unschedule) for a time entered in the configured zone."""
    session = db_session()
    _campaign(session, campaign_id)
    try:
        if request.form.get("unschedule"):
            unschedule(session, campaign_id)
            _audit(session, "campaign.unschedule", campaign_id)
        else:
            at = parse_local_time(request.form.get("at", ""), settings().zone)
            schedule(session, campaign_id, at)
            _audit(session, "campaign.schedule", campaign_id, at=at.isoformat())
        session.commit()
        flash(_("Schedule saved."), "info")
    except (CampaignError, TransitionError) as exc:
        session.rollback()
        flash_error(exc)
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


def _simple_action(campaign_id: int, action: str, fn: Any, message: str) -> Any:
    session = db_session()
    _campaign(session, campaign_id)
    try:
        result = fn(session, campaign_id)
        _audit(session, f"campaign.{action}", campaign_id, result=result)
        session.commit()
        flash(message, "info")
    except TransitionError as exc:
        session.rollback()
        flash_error(exc)
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@bp.route("/campaigns/<int:campaign_id>/pause", methods=["POST"])
@require_role("editor")
def pause_view(campaign_id: int) -> Any:
    """Pause: workers stop within one batch."""
    return _simple_action(
        campaign_id,
        "pause",
        lambda s, i: pause(s, i, PAUSED_BY_STAFF),
        _("Paused. Sending stops within one batch."),
    )


@bp.route("/campaigns/<int:campaign_id>/resume", methods=["POST"])
@require_role("editor")
def resume_view(campaign_id: int) -> Any:
    """Resume a paused campaign."""
    return _simple_action(campaign_id, "resume", resume, _("Resumed."))


@bp.route("/campaigns/<int:campaign_id>/cancel", methods=["POST"])
@require_role("editor")
def cancel_view(campaign_id: int) -> Any:
    """Cancel for good."""
    return _simple_action(campaign_id, "cancel", cancel, _("Cancelled. Nothing more will be sent."))


@bp.route("/campaigns/<int:campaign_id>/resend-unknown", methods=["POST"])
@require_role("editor")
def resend_unknown_view(campaign_id: int) -> Any:
    """Send again the rows whose outcome is unknown (staff's explicit choice)."""
    return _simple_action(
        campaign_id,
        "resend_unknown",
        resend_unknown,
        _("The recipients whose outcome was unknown will be sent to again."),
    )


@bp.route("/campaigns/<int:campaign_id>/test", methods=["POST"])
@require_role("editor")
def test_send(campaign_id: int) -> Any:
    """Send a test to a few addresses (subject prefixed, not counted in reports),
    optionally rendered as the subscriber whose address is given in ``as``."""
    from service.campaigns.previews import send_test

    session = db_session()
    _campaign(session, campaign_id)
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
    _audit(session, "campaign.test", campaign_id, to=addresses, shown_as=shown_as)
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


@bp.route("/campaigns/settings", methods=["GET", "POST"])
@require_role("admin")
def sending_settings() -> Any:
    """Global rate, per-domain limits, extra relays with weights, the error brake."""
    session = db_session()
    smtp = settings().smtp
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            data = _settings_form(request.form)
            # The page shows relay URLs masked; a row sent back unchanged keeps its password.
            stored = [r.url for r in get_sending_config(session).relays]
            data["relays"] = restore_masked(data["relays"], stored)
            save_sending_config(session, data)
            audit(
                session,
                current_user_id(),
                "settings.sending",
                "settings",
                "sending",
                request.remote_addr,
            )
            session.commit()
            flash(_("Sending settings saved."), "info")
            return redirect(url_for("campaigns.sending_settings"))
        except SendingConfigError as exc:
            session.rollback()
            errors = {name: describe(error) for name, error in exc.errors.items()}
        except LineSyntaxError as exc:
            # The domain and provider limits have a syntax of their own (_settings_form).
            errors = {exc.field: str(exc)}
    pinned, env_error = _pinned_presets()
    return render_template(
        "campaigns/settings.html",
        config=get_sending_config(session),
        errors=errors,
        providers=PROVIDERS,
        pinned=pinned,
        env_error=env_error,
        env_variable=PROVIDER_LIMITS_ENV,
        primary=smtp.display if smtp else _("local capture"),
        relay_names=[
            smtp.display if smtp else _("local capture"),
            *(mask_url(r.url) for r in get_sending_config(session).relays),
        ],
    ), (400 if errors else 200)


class LineSyntaxError(ValueError):
    """A line of a limits field of the settings form is not in its syntax."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _pinned_presets() -> tuple[dict[str, dict[str, float]], str]:
    """The provider presets TIDINGS_PROVIDER_LIMITS pins, and what is wrong with it."""
    try:
        return env_provider_limits(settings()), ""
    except ConfigError as exc:
        return {}, str(exc)


def _settings_form(form: Any) -> dict[str, Any]:
    """Parse the settings form: one "domain limit window", one "provider limit window
    [backoff [longest backoff]]" and one "url weight" per line."""
    limits: dict[str, dict[str, str]] = {}
    for line in form.get("domain_limits", "").splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) not in (2, 3):
            raise LineSyntaxError(
                "domain_limits", _("Write each domain limit as: domain limit [window seconds]")
            )
        limits[parts[0]] = {"limit": parts[1], "window": parts[2] if len(parts) == 3 else "60"}
    presets: dict[str, dict[str, str]] = {}
    for line in form.get("provider_limits", "").splitlines():
        parts = line.split()
        if not parts:
            continue
        if not 2 <= len(parts) <= 5:
            raise LineSyntaxError(
                "provider_limits",
                _(
                    "Write each provider as: provider limit [window [back-off "
                    "[longest back-off]]], in seconds"
                ),
            )
        presets[parts[0]] = dict(zip(PROVIDER_FIELDS, parts[1:], strict=False))
    relays = []
    for line in form.get("relays", "").splitlines():
        parts = line.split()
        if parts:
            relays.append({"url": parts[0], "weight": parts[1] if len(parts) > 1 else "1"})
    data: dict[str, Any] = {"domain_limits": limits, "relays": relays}
    if "provider_limits" in form:  # a form without the field keeps the stored presets
        data["provider_limits"] = presets
    for name in ("global_rate", "error_brake", "primary_weight", "batch_size", "max_attempts"):
        if form.get(name, "").strip():
            data[name] = form.get(name).strip()
    return data
