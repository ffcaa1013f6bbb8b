"""Admin pages for lists, subscribers, imports, exports and the suppression list.

Thin views: each parses the request, calls a domain function with the request's session,
commits, and renders or redirects. The domain lives in ``service/subscribers/``.

The ``audience`` blueprint is made here with the lists and suppression pages; the
subscriber pages are in ``audience_subscribers``, the import pages in ``audience_imports``
(both add their routes through ``service.web.routes``), shared helpers in
``audience_requests``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _

from service.mail.addresses import InvalidAddress
from service.model import SuppressionReason
from service.subscribers import lists as list_domain
from service.subscribers import suppression_list
from service.web import audience_imports, audience_subscribers
from service.web.audience_requests import audience_page, client_ip, require_editor
from service.web.context import db_session
from service.web.messages import describe, flash_error
from service.web.roles import current_user_id, require_role, staff_blueprint

log = logging.getLogger(__name__)

bp = staff_blueprint("audience", __name__)
audience_subscribers.routes.register(bp)
audience_imports.routes.register(bp)
bp.add_app_template_filter(audience_imports.import_reason, "import_reason")


# --- lists ----------------------------------------------------------------------------


@bp.route("/lists")
@require_role("editor")
def lists() -> Any:
    """Every list with its member counts by status, and a form to add one."""
    session = db_session()
    return audience_page(
        "lists.html",
        lists=list_domain.all_lists(session),
        counts=list_domain.member_counts(session),
    )


@bp.route("/lists", methods=["POST"])
@require_role("editor")
def list_create() -> Any:
    """Add a list from the form on the lists page."""
    session = db_session()
    try:
        row = list_domain.create_list(
            session,
            request.form.get("slug", ""),
            request.form.get("name", ""),
            request.form.get("description", ""),
            double_opt_in=bool(request.form.get("double_opt_in")),
            **_audience_choice(),
        )
    except list_domain.ListError as exc:
        flash_error(exc)
        return redirect(url_for("audience.lists"))
    from service.accounts.audit import audit

    audit(
        session,
        current_user_id(),
        "list.create",
        "list",
        row.id,
        client_ip(),
        slug=row.slug,
        public=row.public,
        double_opt_in=row.double_opt_in,
    )
    session.commit()
    flash(_("List %(name)s added.", name=row.name), "info")
    return redirect(url_for("audience.list_edit", list_id=row.id))


@bp.route("/lists/<int:list_id>", methods=["GET", "POST"])
@require_role("editor")
def list_edit(list_id: int) -> Any:
    """One list: rename, describe, public or private, double opt-in, archive; its counts."""
    session = db_session()
    try:
        row = list_domain.get_list(session, list_id)
    except list_domain.ListError:
        abort(404)
    if request.method == "POST":
        require_editor()
        from service.accounts.audit import audit

        try:
            if "archive" in request.form:
                list_domain.set_archived(session, list_id, request.form["archive"] == "1")
            else:
                old_slug = row.slug
                list_domain.update_list(
                    session,
                    list_id,
                    request.form.get("name", ""),
                    request.form.get("description", ""),
                    bool(request.form.get("double_opt_in")),
                    slug=request.form.get("slug"),
                    **_audience_choice(),
                )
                if row.slug != old_slug:
                    audit(
                        session,
                        current_user_id(),
                        "list.slug",
                        "list",
                        list_id,
                        client_ip(),
                        old=old_slug,
                        new=row.slug,
                    )
        except list_domain.ListError as exc:
            session.rollback()
            flash_error(exc)
            return redirect(url_for("audience.list_edit", list_id=list_id))
        audit(
            session,
            current_user_id(),
            "list.edit",
            "list",
            list_id,
            client_ip(),
            public=row.public,
            double_opt_in=row.double_opt_in,
        )
        session.commit()
        flash(_("Saved."), "info")
        return redirect(url_for("audience.list_edit", list_id=list_id))
    counts = list_domain.member_counts(session, list_id).get(list_id, {})
    return audience_page("list.html", lst=row, counts=counts)


def _audience_choice() -> dict[str, Any]:
    """The list form's public/private choice and the override fields, for the domain."""
    from service.web.roles import has_role

    return {
        "public": bool(request.form.get("public")),
        "reason": request.form.get("opt_in_reason", ""),
        "may_override": has_role("admin"),
        "user_id": current_user_id(),
        "ip": client_ip(),
    }


# --- suppression list -----------------------------------------------------------------


@bp.route("/suppressions", methods=["GET", "POST"])
@require_role("editor")
def suppressions() -> Any:
    """Every address that must never be mailed; search, pages, add by hand."""
    session = db_session()
    if request.method == "POST":
        require_editor()
        try:
            suppression_list.add_manual(
                session,
                request.form.get("email", ""),
                request.form.get("note", ""),
                current_user_id(),
                client_ip(),
            )
        except InvalidAddress as exc:
            flash(_("This email address is not valid: %(reason)s", reason=describe(exc)), "error")
            return redirect(url_for("audience.suppressions"))
        session.commit()
        flash(_("The address is suppressed."), "info")
        return redirect(url_for("audience.suppressions"))
    q = request.args.get("q", "").strip()[:200]
    result = suppression_list.search(session, q, request.args.get("before", type=int))
    return audience_page("suppressions.html", result=result, q=q, reasons=list(SuppressionReason))


@bp.route("/suppressions/<int:suppression_id>/remove", methods=["POST"])
@require_role("admin")
def suppression_remove(suppression_id: int) -> Any:
    """Take an address off the list; a reason is required and audited."""
    session = db_session()
    try:
        suppression_list.remove(
            session, suppression_id, request.form.get("reason", ""), current_user_id(), client_ip()
        )
    except suppression_list.SuppressionError as exc:
        flash_error(exc)
        return redirect(url_for("audience.suppressions"))
    session.commit()
    flash(_("Removed from the suppression list; the reason is in the audit log."), "info")
    return redirect(url_for("audience.suppressions"))
