"""Admin pages for the sender and the site: From, Reply-To, the association's name and
postal address, the public base URL (``service.accounts.site_settings``).

Thin: validation and precedence live in the domain module; a field a ``TIDINGS_*``
variable pins is shown with that variable's name and is not editable here.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from service.accounts.audit import audit
from service.accounts.site_settings import (
    FIELD_NAMES,
    SiteSettingsError,
    effective_settings,
    env_overrides,
    save_site_settings,
    stored_site_settings,
)
from service.web.context import db_session, settings
from service.web.messages import describe
from service.web.roles import current_user_id, require_role, staff_blueprint

bp = staff_blueprint("sender", __name__)


@bp.route("/settings/sender", methods=["GET", "POST"])
@require_role("admin")
def site() -> Any:
    """The sender and site settings form; a POST validates, stores and audits them."""
    session = db_session()
    pinned = env_overrides(settings())
    errors: dict[str, str] = {}
    values = asdict(stored_site_settings(session))
    if request.method == "POST":
        # A pinned field is not in the form; what was stored for it stays as it was.
        submitted = {n: request.form.get(n, "") for n in FIELD_NAMES if n not in pinned}
        try:
            save_site_settings(session, submitted)
        except SiteSettingsError as exc:
            session.rollback()
            errors = {name: describe(error) for name, error in exc.errors.items()}
            values.update(submitted)
        else:
            audit(
                session, current_user_id(), "settings.site", "settings", "site", request.remote_addr
            )
            session.commit()
            flash(_("Sender and site settings saved."), "info")
            return redirect(url_for("sender.site"))
    return render_template(
        "settings/sender.html",
        values=values,
        errors=errors,
        pinned=pinned,
        effective=effective_settings(session, settings()),
    ), (400 if errors else 200)
