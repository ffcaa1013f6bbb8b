"""Web layer: thin blueprints over the domain modules, plus app-wide wiring."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g, render_template, request, session
from flask_babel import format_datetime, format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from service.issues.blocks import plain_text
from service.ops.secrets import mask_url
from service.web.extensions import babel, csrf, login_manager
from service.web.roles import has_role

# Each area of the site is one blueprint module here (``bp`` in each).
BLUEPRINT_MODULES = (
    "auth",
    "public",
    "admin",
    "issues",
    "campaigns",
    "audience",
    "organisations",
    "segments",
    "reports",
    "reader",
    "archive",
    "tracking",
    "webhooks",
    "api",
    "users",
    "audit",
    "metrics",
    "sender",
)

LOCALES = {"zh": "中文", "en": "English"}

# The policy of every page that does not set its own (the Outbox HTML, the issue preview
# HTML and the reader's pages set stricter ones, which win). Scripts only from our own
# origin (htmx and Chart.js are vendored) or inline blocks carrying this request's nonce;
# inline styles stay allowed because templates use style="" attributes and htmx injects its
# indicator style (style injection cannot run code). Previews are same-origin iframes.
CSP_TEMPLATE = (
    "default-src 'self'; script-src 'self'{nonce}; style-src 'self' 'unsafe-inline'; "
    "img-src * data:; frame-src 'self'; frame-ancestors 'self'; form-action 'self'; "
    "base-uri 'self'; object-src 'none'"
)
CSP_NONCE_BYTES = 16
DEFAULT_LOCALE = "zh"


def select_locale() -> str:
    """The visitor's chosen language (session), else Chinese, the association's own."""
    chosen = session.get("lang")
    if chosen in LOCALES:
        return str(chosen)
    best = request.accept_languages.best_match(["zh", "en"]) if request else None
    return (
        "en" if best == "en" and not request.accept_languages.best_match(["zh"]) else DEFAULT_LOCALE
    )


def init_app(app: Flask) -> None:
    """Attach extensions, blueprints, template helpers and error pages."""
    from service.web import BLUEPRINT_MODULES
    from service.web.context import close_session

    babel.init_app(app, locale_selector=select_locale)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None  # the login page itself says what to do

    import importlib

    for module_name in BLUEPRINT_MODULES:
        app.register_blueprint(importlib.import_module(f"service.web.{module_name}").bp)
    app.teardown_appcontext(close_session)

    app.jinja_env.globals.update(
        LOCALES=LOCALES, get_locale=get_locale, csp_nonce=csp_nonce, has_role=has_role
    )
    app.jinja_env.filters["num"] = _format_number
    app.jinja_env.filters["dt"] = _format_dt
    app.jinja_env.filters["ts"] = _format_timestamp
    from service.web.labels import (
        content_mode_label,
        coverage_reason_label,
        enumerated,
        machine_reason_label,
        parenthesised,
        provider_label,
        status_label,
    )
    from service.web.messages import describe

    app.jinja_env.filters["status"] = status_label
    app.jinja_env.filters["describe"] = describe
    app.jinja_env.filters["content_mode"] = content_mode_label
    app.jinja_env.filters["mask_url"] = mask_url
    app.jinja_env.filters["plain"] = plain_text
    app.jinja_env.filters["parenthesised"] = parenthesised
    app.jinja_env.filters["enumerated"] = enumerated
    app.jinja_env.filters["coverage_reason"] = coverage_reason_label
    app.jinja_env.filters["machine_reason"] = machine_reason_label
    app.jinja_env.filters["provider"] = provider_label
    app.after_request(_security_headers)

    for code in (400, 403, 404, 405, 413, 429, 500):
        app.register_error_handler(code, _error_page)


def _format_number(value: Any) -> str:
    return str(format_decimal(value or 0))


def _format_dt(value: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    # Babel converts to the configured zone (Asia/Shanghai by default) before formatting.
    return "" if value is None else str(format_datetime(value, fmt))


def _format_timestamp(value: float | None) -> str:
    if value is None:
        return ""
    return _format_dt(datetime.fromtimestamp(value, UTC), "yyyy-MM-dd HH:mm:ss")


def csp_nonce() -> str:
    """This request's script nonce (``<script nonce="{{ csp_nonce() }}">``), made on first use."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(CSP_NONCE_BYTES)
    return str(g.csp_nonce)


def content_security_policy() -> str:
    """The default policy for this response (with the nonce when a page used one)."""
    nonce = f" 'nonce-{g.csp_nonce}'" if "csp_nonce" in g else ""
    return CSP_TEMPLATE.format(nonce=nonce)


def _security_headers(response: Any) -> Any:
    # setdefault: a route that set a stricter policy of its own keeps it.
    response.headers.setdefault("Content-Security-Policy", content_security_policy())
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    return response


ERROR_TITLES = {
    400: _l("The request was not understood"),
    403: _l("You may not do that"),
    404: _l("Not found"),
    405: _l("Not allowed"),
    413: _l("The file is too large"),
    429: _l("Too many requests"),
    500: _l("Something went wrong on our side"),
}


def _error_page(error: Any) -> Any:
    code = getattr(error, "code", 500) or 500
    title = str(ERROR_TITLES.get(code, _("Error")))
    if (
        request.path.startswith(("/api/", "/healthz"))
        or request.accept_mimetypes.best == "application/json"
    ):
        return {"error": {"code": code, "message": title}}, code
    g.error_code = code
    return render_template("error.html", code=code, title=title), code
