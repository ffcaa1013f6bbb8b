"""Public endpoints that need no login: health and the language switch."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, jsonify, redirect, request, session, url_for

from service.ops.health import as_json, run_checks
from service.web import LOCALES
from service.web.app import get_db
from service.web.context import settings

bp = Blueprint("public", __name__)


@bp.route("/healthz")
def healthz() -> Any:
    """JSON with the same checks as the dashboard; 503 when any fails."""
    body = as_json(run_checks(settings(), get_db(current_app)))
    return jsonify(body), 200 if body["status"] == "ok" else 503


@bp.route("/lang/<code>")
def set_language(code: str) -> Any:
    """Switch the interface language and go back where the visitor was."""
    if code not in LOCALES:
        abort(404)
    session["lang"] = code
    back = request.referrer or ""
    parts = urlsplit(back)
    same_site = parts.netloc in ("", request.host)
    return redirect(back if back and same_site else url_for("admin.dashboard"))
