"""The admin page of the sending settings: global rate, per-domain and provider limits,
extra relays with weights, the error brake.

A route of the ``campaigns`` blueprint (see ``service.web.routes``) over
``service.mail.sending_config``, audited.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from service.accounts.audit import audit
from service.config import ConfigError
from service.mail.providers import PROVIDERS
from service.mail.sending_config import (
    PROVIDER_FIELDS,
    PROVIDER_LIMITS_ENV,
    SendingConfigError,
    env_provider_limits,
    get_sending_config,
    save_sending_config,
)
from service.ops.secrets import mask_url, restore_masked
from service.web.context import db_session, settings
from service.web.messages import describe
from service.web.roles import current_user_id, require_role
from service.web.routes import Routes

routes = Routes()


@routes.route("/campaigns/settings", methods=["GET", "POST"])
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
