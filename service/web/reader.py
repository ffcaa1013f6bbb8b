"""Public reader pages: subscribe, confirm, unsubscribe (RFC 8058), preferences.

No login anywhere here. Thin views over ``service.subscribers.subscriptions``. Rules
that matter (STANDARDS §1.5, §7):

- ``GET /confirm/<token>`` never confirms (mail scanners prefetch it, which would
  confirm a sign-up someone else made): it shows the list and a button whose POST does.
- ``GET /unsubscribe/<token>`` never changes anything (mail scanners prefetch it);
  ``POST /unsubscribe/<token>`` is the one-click endpoint: no cookie, no CSRF token, the
  write happens in the request, the answer is 200 and never a redirect.
- The subscribe answer depends only on the list's double opt-in flag, so the form cannot
  tell a stranger whether an address is suppressed or already subscribed.
- Token pages send ``Referrer-Policy: same-origin`` so tokens do not leak to other sites.
- Forged or mangled tokens get the friendly 404 page, never a 500.

The ``reader`` blueprint is made here with what every page shares (rate limits,
headers, the error pages); its pages are in ``reader_signup`` (subscribe, confirm),
``reader_unsubscribe`` and ``reader_preferences``, their helpers in ``reader_requests``.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, Flask, Response, jsonify, request, session
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from service.model import MailingList
from service.subscribers.public_lists import embed_snippet, signup_url
from service.web import LOCALES, reader_preferences, reader_signup, reader_unsubscribe
from service.web.context import install_prefix, mail_settings
from service.web.extensions import limiter
from service.web.reader_requests import reader_page, wants_json
from service.web.reader_signup import confirm_again

bp = Blueprint("reader", __name__)
reader_signup.routes.register(bp)
reader_unsubscribe.routes.register(bp)
reader_preferences.routes.register(bp)

TOKEN_ENDPOINTS = frozenset(
    {
        "reader.confirm_page",
        "reader.resend_confirmation",
        "reader.unsubscribe_page",
        "reader.undo_unsubscribe_page",
        "reader.preferences_page",
    }
)
SUBSCRIBE_ENDPOINT = "reader.subscribe_page"
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST",
    "Access-Control-Allow-Headers": "Content-Type, Accept",
}


@bp.record_once
def _init_limiter(state: BlueprintSetupState) -> None:
    """Attach Flask-Limiter to the app, on the app's Redis (memory if Redis is down)."""
    app = cast(Flask, state.app)
    redis_url: str = app.config["TIDINGS"].redis_url
    if redis_url.startswith("unix://"):
        redis_url = "redis+" + redis_url  # the `limits` spelling of a Redis socket
    app.config.setdefault("RATELIMIT_STORAGE_URI", redis_url)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", install_prefix(app.config["TIDINGS"]))
    # A Redis hiccup must not turn the public pages into 500s.
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    limiter.init_app(app)


@bp.before_request
def _language_from_query() -> None:
    # ``?lang=en`` switches in place, so a reader on a token page stays on it.
    code = request.args.get("lang")
    if code in LOCALES:
        session["lang"] = code


@bp.after_request
def _reader_headers(response: Response) -> Response:
    # same-origin, not no-referrer: the token never leaves for another site, and our own
    # form posts keep their Referer, which Flask-WTF's CSRF check requires over HTTPS.
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint in TOKEN_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
    if request.endpoint == SUBSCRIBE_ENDPOINT:
        # Association sites post the JSON variant with fetch from their own origin.
        response.headers.update(CORS_HEADERS)
    return response


@bp.app_context_processor
def _embed_helpers() -> dict[str, Any]:
    """``embed_snippet_for(list)`` and ``signup_url_for(list)`` in every template (for the
    staff list page): both at the base URL readers use, never the host this request came to."""

    def base_url() -> str:
        return mail_settings().base_url

    def embed_snippet_for(mailing_list: MailingList) -> str:
        return embed_snippet(base_url(), mailing_list)

    def signup_url_for(mailing_list: MailingList) -> str:
        return signup_url(base_url(), mailing_list)

    return {"embed_snippet_for": embed_snippet_for, "signup_url_for": signup_url_for}


def _reader_error(error: Any) -> Any:
    code = getattr(error, "code", 500) or 500
    if isinstance(error, CSRFError) and request.endpoint == "reader.confirm_page":
        page = confirm_again()
        if page is not None:
            return page
        code = 404
    if wants_json():
        message = (
            _("Too many requests. Please wait a while and try again.")
            if code == 429
            else _("Not found")
        )
        codes = {429: "rate_limited", 404: "not_found", 400: "bad_request"}
        return jsonify({"ok": False, "code": codes.get(code, "error"), "message": message}), code
    return reader_page("error.html", code, code=code)


for _code in (400, 404, 429):
    bp.register_error_handler(_code, _reader_error)
