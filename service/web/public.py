"""Public endpoints that need no login: health, the language switch, the logo and the
images of articles."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, jsonify, redirect, request, session, url_for

from service.issues.image_files import IMAGE_PATH
from service.issues.images import find_image
from service.issues.logo import LOGO_PATH, stored_logo
from service.ops.health import Check, HealthCache, as_json, as_status
from service.web import LOCALES
from service.web.app import get_db
from service.web.context import settings
from service.web.insiders import from_this_machine, has_metrics_token
from service.web.roles import has_role

bp = Blueprint("public", __name__)
HEALTH_CACHE_KEY = "tidings_health"
# An image's address never shows other bytes (a new upload gets a new token): a year.
IMAGE_CACHE = "public, max-age=31536000, immutable"


def health_checks() -> dict[str, Check]:
    """This process's recent round of health checks (`HealthCache`: the SMTP probe runs
    at most once per ``HEALTH_CACHE_SECONDS`` however often anyone asks)."""
    cache = current_app.extensions.setdefault(HEALTH_CACHE_KEY, HealthCache())
    checks: dict[str, Check] = cache.checks(settings(), get_db(current_app))
    return checks


def _may_see_health_details() -> bool:
    # Staff, and the machine itself (tidings up, deploy/healthcheck.py, a local scraper);
    # or a monitor elsewhere that holds the metrics token.
    return has_role("viewer") or from_this_machine() or has_metrics_token()


@bp.route("/healthz")
def healthz() -> Any:
    """The overall status (200 ok, 503 degraded); each check's line only for staff, this
    machine or the metrics token."""
    checks = health_checks()
    body = as_json(checks) if _may_see_health_details() else as_status(checks)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if body["status"] == "ok" else 503


@bp.route("/lang/<code>")
def set_language(code: str) -> Any:
    """Switch the interface language and go back where the visitor was."""
    if code not in LOCALES:
        abort(404)
    session["lang"] = code
    back = request.referrer or ""
    return redirect(back if back and _same_site(back) else url_for("admin.dashboard"))


def _same_site(url: str) -> bool:
    try:
        netloc = urlsplit(url).netloc
    except ValueError:  # "http://[::1" and the like: nowhere to go back to
        return False
    return netloc in ("", request.host)


@bp.route(LOGO_PATH)
def logo() -> Any:
    """The logo uploaded in the admin (mail clients fetch it, so no login). The address
    carries the image's version (``?v=``): a cache may keep it for a long time."""
    from service.web.context import db_session

    found = stored_logo(db_session())
    if found is None:
        abort(404)
    response = current_app.response_class(found.data, mimetype=found.mime)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.route(f"{IMAGE_PATH}/<token>/<size>/<name>")
def article_image(token: str, size: str, name: str) -> Any:
    """An image of an article (mail readers fetch it, so no login). The random token
    finds it; the size and name in the address are for the renderer and for people."""
    from service.web.context import db_session

    found = find_image(db_session(), token)
    if found is None:
        abort(404)
    response = current_app.response_class(found.data, mimetype=found.mime)
    response.headers["Cache-Control"] = IMAGE_CACHE
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
