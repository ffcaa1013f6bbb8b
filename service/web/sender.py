"""Admin pages for the sender and the site: From, Reply-To, the association's name and
postal address, the public base URL (``service.mail.site_settings``); the DKIM key
(``service.mail.dkim_store``); a "test connection" button for each relay; the logo.

Thin: validation and precedence live in the domain module; a field a ``TIDINGS_*``
variable pins is shown with that variable's name and is not editable here.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from service.accounts.audit import audit
from service.campaigns.preflight_auth import check_dkim_record
from service.campaigns.preflight_result import ERROR, Check
from service.issues.logo import MAX_LOGO_BYTES, LogoError, remove_logo, save_logo, stored_logo
from service.mail import dns_records as dns
from service.mail.backends import SendError
from service.mail.dkim_store import (
    DkimSetupError,
    default_selector,
    dns_record_line,
    generate_dkim_key,
    stored_dkim,
)
from service.mail.dkim_store import env_pinned as dkim_env_pinned
from service.mail.sending_config import get_sending_config
from service.mail.site_settings import (
    FIELD_NAMES,
    SiteSettingsError,
    effective_settings,
    env_overrides,
    save_site_settings,
    stored_site_settings,
)
from service.mail.transport import signer_for, try_relay
from service.web.context import db_session, settings
from service.web.messages import describe, flash_error
from service.web.roles import current_user_id, require_role, staff_blueprint

bp = staff_blueprint("sender", __name__)


@bp.route("/settings/sender", methods=["GET", "POST"])
@require_role("admin")
def site() -> Any:
    """The sender and site settings form; a POST validates, stores and audits them."""
    session = db_session()
    pinned = env_overrides(settings())
    errors: dict[str, str] = {}
    site = stored_site_settings(session)
    values = asdict(site)
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
        effective=effective_settings(session, settings(), site),
        logo=stored_logo(session),
        max_logo_kb=MAX_LOGO_BYTES // 1024,
    ), (400 if errors else 200)


# The DNS lookups of the "check" button (tests give a fake one).
DNS_RESOLVER: dns.TxtResolver = dns.dns_resolver


def _dkim_page(check: Check | None = None, error: str = "", status: int = 200) -> Any:
    """The DKIM page: the key in use, where it comes from, the record to publish."""
    session = db_session()
    config = settings()
    effective = effective_settings(session, config)
    signer = signer_for(effective)
    stored = stored_dkim(session)
    from_domain = effective.from_addr.rpartition("@")[2]
    return render_template(
        "settings/dkim.html",
        pinned=dkim_env_pinned(config),
        signer=signer,
        record=dns_record_line(signer) if signer else "",
        stored=stored,
        domain=stored.domain if stored else from_domain,
        selector=default_selector(),
        check=check,
        error=error,
    ), status


@bp.route("/settings/dkim")
@require_role("admin")
def dkim() -> Any:
    """The DKIM key: generate one, see the TXT record to publish, check it in DNS."""
    return _dkim_page()


@bp.route("/settings/dkim/generate", methods=["POST"])
@require_role("admin")
def dkim_generate() -> Any:
    """Generate a 2048-bit key for the domain and selector given (replacing the stored
    one); refused while TIDINGS_DKIM_* pins the key."""
    session = db_session()
    if dkim_env_pinned(settings()):
        abort(409)
    try:
        stored = generate_dkim_key(
            session, request.form.get("domain", ""), request.form.get("selector", "")
        )
    except DkimSetupError as exc:
        session.rollback()
        return _dkim_page(error=describe(exc), status=400)
    audit(
        session,
        current_user_id(),
        "settings.dkim_generate",
        "settings",
        "dkim",
        request.remote_addr,
        domain=stored.domain,
        selector=stored.selector,
    )
    session.commit()
    flash(_("A new DKIM key was made. Publish its record, then check it."), "info")
    return redirect(url_for("sender.dkim"))


@bp.route("/settings/dkim/check", methods=["POST"])
@require_role("admin")
def dkim_check() -> Any:
    """Look the key's record up in the public DNS and say what was found."""
    session = db_session()
    effective = effective_settings(session, settings())
    from_domain = effective.from_addr.rpartition("@")[2]
    check = check_dkim_record(dns.PublicDns(DNS_RESOLVER), effective, from_domain, ERROR)
    return _dkim_page(check=check)


@bp.route("/settings/relays/<int:index>/test", methods=["POST"])
@require_role("admin")
def relay_test(index: int) -> Any:
    """Try one relay of the sending settings (no message is sent) and show its reply."""
    session = db_session()
    effective = effective_settings(session, settings())
    config = get_sending_config(session)
    try:
        reply = try_relay(effective, config, index, effective.from_addr)
    except LookupError:
        abort(404)
    except SendError as exc:
        flash(_("The relay refused: %(reply)s", reply=str(exc)), "error")
    else:
        flash(_("The relay answered: %(reply)s", reply=reply), "info")
    return redirect(url_for("campaigns.sending_settings"))


@bp.route("/settings/logo", methods=["POST"])
@require_role("admin")
def logo_upload() -> Any:
    """Store an uploaded PNG or JPEG as the logo of the mail header."""
    session = db_session()
    upload = request.files.get("logo")
    try:
        logo = save_logo(session, upload.read(MAX_LOGO_BYTES + 1) if upload else b"")
    except LogoError as exc:
        session.rollback()
        flash_error(exc)
        return redirect(url_for("sender.site"))
    audit(
        session,
        current_user_id(),
        "settings.logo",
        "settings",
        "logo",
        request.remote_addr,
        width=logo.width,
        height=logo.height,
    )
    session.commit()
    flash(
        _("Logo saved: %(width)s × %(height)s pixels.", width=logo.width, height=logo.height),
        "info",
    )
    return redirect(url_for("sender.site"))


@bp.route("/settings/logo/remove", methods=["POST"])
@require_role("admin")
def logo_remove() -> Any:
    """Forget the uploaded logo."""
    session = db_session()
    remove_logo(session)
    audit(session, current_user_id(), "settings.logo_remove", "settings", "logo")
    session.commit()
    flash(_("Logo removed."), "info")
    return redirect(url_for("sender.site"))
