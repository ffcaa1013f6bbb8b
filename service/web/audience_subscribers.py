"""The subscriber pages of the ``audience`` blueprint (see ``service.web.routes``): the
table with its filters and bulk actions, the export, one person's page, their data as JSON,
and the erasure. Thin views over ``service.subscribers`` (``query``, ``bulk``, ``personal``).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, abort, flash, redirect, request, url_for
from flask_babel import gettext as _

from service.model import MembershipStatus, SubscriberStatus
from service.subscribers import bulk, personal, query
from service.subscribers import lists as list_domain
from service.web.audience_requests import audience_page, client_ip, require_editor
from service.web.context import db_session
from service.web.downloads import subscribers_download
from service.web.messages import flash_error
from service.web.roles import current_user_id, require_role
from service.web.routes import Routes

routes = Routes()


@routes.route("/subscribers")
@require_role("editor")
def subscribers() -> Any:
    """The subscribers table: search, filters, sorting, keyset pages, bulk actions."""
    session = db_session()
    flt = query.SubscriberFilter.from_args(request.args)
    result = query.page(
        session, flt, after=request.args.get("after"), before=request.args.get("before")
    )
    total = query.count(session, flt)
    return audience_page(
        "subscribers.html",
        flt=flt,
        args=flt.as_args(),
        page=result,
        total=total,
        lists=list_domain.all_lists(session),
        statuses=list(SubscriberStatus),
        member_statuses=list(MembershipStatus),
        sorts=list(query.SORTS),
        actions=list(bulk.BulkAction),
    )


@routes.route("/subscribers/bulk", methods=["POST"])
@require_role("editor")
def subscribers_bulk() -> Any:
    """A bulk action on the ticked rows, or (``scope=filter``) on the whole filter result,
    which runs in the worker, chunk by chunk."""
    form = request.form
    action = form.get("action", "")
    if action == bulk.BulkAction.DELETE and not _is_admin():
        abort(403)
    list_id = form.get("list_id", type=int)
    filter_args = json.loads(form.get("filter") or "{}")
    back = url_for("audience.subscribers", **filter_args)
    session = db_session()
    if form.get("scope") == "filter":
        flt = query.SubscriberFilter.from_args(filter_args)
        if flt.is_empty and form.get("confirm_all") != "1":
            flash(_("Tick 'I mean every subscriber' to act on the whole table."), "error")
            return redirect(back)
        try:
            bulk.check(action, list_id)
        except bulk.BulkError as exc:
            flash_error(exc)
            return redirect(back)
        from worker.tasks_audience import bulk_subscribers

        bulk_subscribers.delay(action, filter_args, list_id, current_user_id(), client_ip())
        flash(_("The action runs in the background; reload in a moment to see it."), "info")
        return redirect(back)
    ids = [int(v) for v in form.getlist("ids") if v.isdigit()]
    if not ids:
        flash(_("Tick some rows first, or choose 'every result of this filter'."), "error")
        return redirect(back)
    try:
        changed = bulk.apply_bulk(
            session, action, ids=ids, list_id=list_id, user_id=current_user_id(), ip=client_ip()
        )
    except bulk.BulkError as exc:
        flash_error(exc)
        return redirect(back)
    session.commit()
    flash(_("%(n)s subscribers changed.", n=f"{changed:,}"), "info")
    return redirect(back)


def _is_admin() -> bool:
    from service.web.roles import has_role

    return has_role("admin")


@routes.route("/subscribers/export.<fmt>")
@require_role("editor")
def subscribers_export(fmt: str) -> Any:
    """The current filter result (or a list) as CSV with BOM or as XLSX, streamed."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    session = db_session()
    flt = query.SubscriberFilter.from_args(request.args)
    from service.accounts.audit import audit

    audit(
        session,
        current_user_id(),
        "subscribers.export",
        "subscribers",
        None,
        client_ip(),
        format=fmt,
        filter=flt.as_args(),
    )
    session.commit()
    return subscribers_download(session, flt, fmt)


@routes.route("/subscribers/<int:subscriber_id>", methods=["GET", "POST"])
@require_role("editor")
def subscriber(subscriber_id: int) -> Any:
    """One person: profile, attributes, memberships, consent history, deliveries, events."""
    session = db_session()
    sub = personal.get_subscriber(session, subscriber_id)
    if sub is None:
        abort(404)
    if request.method == "POST":
        require_editor()
        pairs = list(
            zip(request.form.getlist("attr_key"), request.form.getlist("attr_value"), strict=False)
        )
        try:
            personal.update_profile(
                session,
                sub,
                name=request.form.get("name", ""),
                organisation=request.form.get("organisation", ""),
                language=request.form.get("language", ""),
                attributes=pairs,
                user_id=current_user_id(),
                ip=client_ip(),
            )
        except personal.ProfileError as exc:
            flash_error(exc)
            return redirect(url_for("audience.subscriber", subscriber_id=subscriber_id))
        session.commit()
        flash(_("Saved."), "info")
        return redirect(url_for("audience.subscriber", subscriber_id=subscriber_id))
    return audience_page(
        "subscriber.html",
        sub=sub,
        memberships=personal.memberships(session, sub.id),
        consents=personal.consents(session, sub.id),
        deliveries=personal.deliveries(session, sub.id),
        events=personal.events(session, sub.id),
        erased=sub.status == SubscriberStatus.ERASED,
    )


@routes.route("/subscribers/<int:subscriber_id>/data.json")
@require_role("editor")
def subscriber_data(subscriber_id: int) -> Any:
    """Everything stored about the person, as a JSON download (audited)."""
    session = db_session()
    sub = personal.get_subscriber(session, subscriber_id)
    if sub is None:
        abort(404)
    data = personal.personal_data(session, sub)
    from service.accounts.audit import audit

    audit(session, current_user_id(), "subscriber.data_export", "subscriber", sub.id, client_ip())
    session.commit()
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="subscriber-{sub.id}.json"',
        },
    )


@routes.route("/subscribers/<int:subscriber_id>/erase", methods=["POST"])
@require_role("admin")
def subscriber_erase(subscriber_id: int) -> Any:
    """Erase the person's data (keeps a hash in suppressions); needs the typed address."""
    session = db_session()
    sub = personal.get_subscriber(session, subscriber_id)
    if sub is None:
        abort(404)
    if request.form.get("confirm", "").strip().casefold() != sub.email:
        flash(_("Type the address exactly to confirm the erasure."), "error")
        return redirect(url_for("audience.subscriber", subscriber_id=subscriber_id))
    personal.erase(session, sub, current_user_id(), client_ip())
    session.commit()
    flash(_("The subscriber's personal data was erased."), "info")
    return redirect(url_for("audience.subscriber", subscriber_id=subscriber_id))
