"""The web application: ``create_app`` builds it (configuration, database, extensions,
blueprints); ``get_db`` is its database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface, SessionMixin

from service.config import Settings, load_settings
from service.db import Database

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates" / "web"
STATIC = Path(__file__).resolve().parents[1] / "static"


class BackgroundQuietSessions(SecureCookieSessionInterface):
    """Signed-cookie sessions that a background htmx request (a poll, a partial) only
    writes when it changed them.

    A permanent session is re-sent with every response to slide its expiry. A poll that
    read the cookie before a click (a language, a login) and answered after it then sent
    the old cookie back, and the browser dropped what the click had stored. Pages still
    refresh the cookie.
    """

    def should_set_cookie(self, app: Flask, session: SessionMixin) -> bool:
        """False for an unchanged session on an ``HX-Request``; else Flask's rule."""
        if request.headers.get("HX-Request") and not session.modified:
            return False
        return super().should_set_cookie(app, session)


def create_app(
    test_config: dict[str, Any] | None = None, settings: Settings | None = None
) -> Flask:
    """Build the web application: configuration, database, extensions and blueprints."""
    settings = settings or load_settings()
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder=str(STATIC))
    app.session_interface = BackgroundQuietSessions()
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TIDINGS=settings,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.base_url.startswith("https://"),
        MAX_CONTENT_LENGTH=64 * 1024 * 1024,
        BABEL_DEFAULT_LOCALE="zh",
        BABEL_DEFAULT_TIMEZONE=settings.timezone,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).resolve().parents[1] / "translations"),
        WTF_CSRF_TIME_LIMIT=None,
    )
    if test_config:
        app.config.update(test_config)

    app.extensions["tidings_db"] = Database(settings.database_url)
    if settings.trusted_proxies:
        # Behind a TLS proxy, take the client address and scheme from the proxy's headers
        # so rate limits, the consent log and the audit log see the real visitor.
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    from service.web import init_app as init_web

    init_web(app)
    return app


def get_db(app: Flask) -> Database:
    """The app's database (engine and session factory)."""
    db: Database = app.extensions["tidings_db"]
    return db
