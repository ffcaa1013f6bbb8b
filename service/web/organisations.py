"""Admin pages for organisations (member companies): the list with their counts, and one
organisation's contacts with their state on each list.

Thin views over ``service.subscribers.organisations``, like ``audience``.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from service.model import Organisation
from service.subscribers import organisations as domain
from service.web.context import db_session
from service.web.messages import flash_error
from service.web.roles import current_user_id, require_role, staff_blueprint

bp = staff_blueprint("organisations", __name__)


def _get(org_id: int) -> Organisation:
    row = db_session().get(Organisation, org_id)
    if row is None:
        abort(404)
    return row


@bp.route("/organisations")
@require_role("editor")
def index() -> Any:
    """Every organisation by name, a page at a time, with contacts and deliverable."""
    after = request.args.get("after", "").strip()[:400] or None
    result = domain.page(db_session(), after)
    return render_template("organisations/index.html", result=result, after=after)


@bp.route("/organisations/<int:org_id>", methods=["GET", "POST"])
@require_role("editor")
def show(org_id: int) -> Any:
    """One organisation: its level (editable) and its contacts' states per list."""
    session = db_session()
    row = _get(org_id)
    if request.method == "POST":
        try:
            domain.set_level(
                session, row, request.form.get("level", ""), current_user_id(), request.remote_addr
            )
        except domain.LevelError as exc:
            flash_error(exc)
            return redirect(url_for("organisations.show", org_id=org_id))
        session.commit()
        flash(_("The membership level is saved."), "info")
        return redirect(url_for("organisations.show", org_id=org_id))
    [summary] = domain.summaries(session, [row])
    return render_template(
        "organisations/show.html",
        org=row,
        summary=summary,
        contacts=domain.contacts(session, org_id),
        levels=domain.LEVELS,
    )
