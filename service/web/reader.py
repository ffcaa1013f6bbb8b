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
"""

from __future__ import annotations

import logging
from typing import Any, cast

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    jsonify,
    render_template,
    request,
    session,
)
from flask.blueprints import BlueprintSetupState
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from service import tokens
from service.mail.addresses import InvalidAddress, email_hash, normalise
from service.model import MailingList, Subscriber, SubscriberStatus
from service.subscribers.preferences import current_list_ids, preference_lists, update_preferences
from service.subscribers.preferences_link import subscriber_to_mail
from service.subscribers.public_lists import (
    ListUnavailable,
    embed_snippet,
    public_list_by_slug,
    public_lists,
    signup_url,
)
from service.subscribers.subscriptions import (
    MAX_NAME_LENGTH,
    ConfirmOutcome,
    ConfirmResult,
    SubscribeResult,
    SubscriptionInputError,
    confirm,
    confirm_state,
    find_confirm_token,
    renew_confirmation,
    subscribe,
)
from service.subscribers.unsubscribe_links import (
    UnsubscribeLink,
    lists_named,
    read_unsubscribe_token,
)
from service.subscribers.unsubscribe_undo import (
    UndoOutcome,
    remember_for_undo,
    undo_unsubscribe,
)
from service.subscribers.unsubscribing import unsubscribe
from service.web import LOCALES
from service.web.context import (
    confirmation_cap,
    db_session,
    install_prefix,
    mail_settings,
    settings,
)
from service.web.extensions import csrf, limiter
from service.web.messages import describe

log = logging.getLogger(__name__)

bp = Blueprint("reader", __name__)

# Against list-bombing (someone subscribing a victim's address to many lists, or many
# addresses from one machine). Limits count POSTs only; the one-click endpoint has none.
SUBSCRIBE_LIMIT_PER_IP = "5 per minute; 30 per hour"
SUBSCRIBE_LIMIT_PER_EMAIL = "3 per hour; 10 per day"
RESEND_LIMIT_PER_IP = "5 per hour"
# "Mail me my preferences link": a reader needs it rarely; a bot must not mail-bomb anyone.
LINK_REQUEST_LIMIT_PER_IP = "5 per minute; 20 per hour"
LINK_REQUEST_LIMIT_PER_EMAIL = "3 per hour; 5 per day"
HONEYPOT_FIELD = "website"
ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"
ONE_CLICK_BODY = "已退订 / Unsubscribed\n"
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


# --------------------------------------------------------------------------- helpers


def _wants_json() -> bool:
    return request.is_json or (
        request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"
    )


def _submitted() -> dict[str, str]:
    """The posted fields, from a form or a JSON object (anything else counts as empty)."""
    if request.is_json:
        try:
            data = request.get_json(silent=True)
        except RecursionError:  # nested too deep for the parser; silent covers ValueError only
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): str(v) for k, v in data.items() if isinstance(v, str | int | bool)}
    return {k: v for k, v in request.form.items()}


def _email_key() -> str:
    """Rate-limit key per submitted address (hashed: no addresses in Redis)."""
    raw = _submitted().get("email", "")
    try:
        return email_hash(normalise(raw).email)
    except InvalidAddress:
        return email_hash(raw)


def _no_email() -> bool:
    return not _submitted().get("email", "").strip()


def _ip() -> str | None:
    return request.remote_addr


def _ua() -> str | None:
    # Kept as evidence; NUL is dropped because PostgreSQL text cannot hold it.
    return request.user_agent.string.replace("\x00", "") or None


def _page_language() -> str:
    return "en" if str(get_locale()) == "en" else "zh-CN"


def _read(purpose: str, token: str, count: int) -> tuple[int, ...]:
    ids = tokens.read_token(settings().secret_key, purpose, token, count)
    if ids is None:
        abort(404)
    return ids


def _page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(f"reader/{template}", **context), status


def _error_message(exc: Exception) -> str:
    if isinstance(exc, InvalidAddress):
        return _("This email address is not valid: %(reason)s", reason=describe(exc))
    if isinstance(exc, SubscriptionInputError) and exc.reason == "line_break":
        return _("Line breaks are not allowed in names.")
    if isinstance(exc, SubscriptionInputError):
        return _("Please use at most %(count)s characters.", count=MAX_NAME_LENGTH)
    return _("Please check the form.")


def _enqueue_confirmation(result: SubscribeResult) -> None:
    """Hand the mail to the worker after commit; a broker outage loses no data."""
    if result.confirm_token is None or result.subscriber_id is None:
        return
    from worker.tasks_reader import send_confirmation

    try:
        send_confirmation.delay(result.subscriber_id, result.list_id)
    except Exception:  # Redis down: the membership stays unconfirmed; they can retry
        log.exception("could not enqueue the confirmation mail for list %s", result.list_id)


def _enqueue_welcome(result: ConfirmResult) -> None:
    """Hand the welcome mail to the worker after the confirmation is committed."""
    if result.subscriber_id is None or result.list_id is None:
        return
    from worker.tasks_reader import send_welcome

    try:
        send_welcome.delay(result.subscriber_id, result.list_id)
    except Exception:  # Redis down: the subscription stands; only the welcome is lost
        log.exception("could not enqueue the welcome mail for list %s", result.list_id)


# --------------------------------------------------------------------------- subscribe


@bp.route("/subscribe", methods=["GET", "POST"])
@bp.route("/subscribe/<slug>", methods=["GET", "POST"])
@limiter.limit(SUBSCRIBE_LIMIT_PER_IP, methods=["POST"])
@limiter.limit(
    SUBSCRIBE_LIMIT_PER_EMAIL, methods=["POST"], key_func=_email_key, exempt_when=_no_email
)
def subscribe_page(slug: str | None = None) -> Any:
    """The subscribe form (GET) and its answer (POST: HTML, or JSON for fetch)."""
    lists = public_lists(db_session())
    if request.method != "POST":  # GET and HEAD (scanners send HEAD too) change nothing
        return _subscribe_form(lists, slug or request.args.get("list"))
    data = _submitted()
    chosen = _choose_list(lists, slug or data.get("list"))
    if chosen is None:
        return _subscribe_problem("list_required", _("Please choose a list."), lists, None, data)
    if data.get(HONEYPOT_FIELD, "").strip():
        log.info("honeypot filled on the subscribe form of list %s", chosen.slug)
        return _subscribe_answer(chosen)
    try:
        result = subscribe(
            db_session(),
            chosen,
            data.get("email", ""),
            data.get("name", ""),
            data.get("organisation", ""),
            data.get("language") or _page_language(),
            source="api" if _wants_json() else "form",
            ip=_ip(),
            user_agent=_ua(),
        )
    except (InvalidAddress, SubscriptionInputError) as exc:
        db_session().rollback()
        code = "invalid_email" if isinstance(exc, InvalidAddress) else f"invalid_{exc.field}"
        return _subscribe_problem(code, _error_message(exc), lists, chosen, data)
    except ListUnavailable:
        abort(404)
    db_session().commit()
    if not _confirmation_let_through(chosen, result):
        return _try_later(chosen)
    return _subscribe_answer(chosen)


csrf.exempt(subscribe_page)  # other sites post to it (embedded form, fetch)


def _confirmation_let_through(chosen: MailingList, result: SubscribeResult) -> bool:
    """Queue the confirmation mail if the hourly cap lets it through; False when the
    reader must be asked to try later (the sign-up stays, unconfirmed, without a mail).

    A sign-up that needs no mail (already on the list, suppressed) gets the same answer
    as one whose mail was held back, so the answer still tells nothing about the address.
    """
    if not chosen.double_opt_in:
        return True
    cap = confirmation_cap()
    if result.confirm_token is None:
        return cap.has_room(_ip())
    if not cap.take(_ip()):
        log.info("confirmation mail for list %s held back by the hourly cap", chosen.slug)
        return False
    _enqueue_confirmation(result)
    return True


def _try_later(chosen: MailingList) -> Any:
    """The answer to a sign-up whose confirmation mail the cap held back: 429, with the
    seconds to the next hour, and nothing about why."""
    retry = {"Retry-After": str(confirmation_cap().seconds_left())}
    message = _("We cannot send the confirmation email right now. Please try again later.")
    if _wants_json():
        body = {"ok": False, "code": "try_later", "list": chosen.slug, "message": message}
        return jsonify(body), 429, retry
    return render_template("reader/subscribed.html", chosen=chosen, code="try_later"), 429, retry


def _choose_list(lists: list[MailingList], slug: str | None) -> MailingList | None:
    if slug:
        try:
            return public_list_by_slug(db_session(), slug)
        except ListUnavailable:
            abort(404)
    return lists[0] if len(lists) == 1 else None


def _subscribe_form(lists: list[MailingList], slug: str | None) -> Any:
    chosen = _choose_list(lists, slug)
    return _page("subscribe.html", lists=lists, chosen=chosen, values={}, error=None)


def _subscribe_answer(chosen: MailingList) -> Any:
    code = "confirmation_sent" if chosen.double_opt_in else "subscribed"
    if _wants_json():
        message = (
            _("Please check your inbox and confirm your subscription.")
            if chosen.double_opt_in
            else _("You are subscribed.")
        )
        return jsonify({"ok": True, "code": code, "list": chosen.slug, "message": message})
    return _page("subscribed.html", chosen=chosen, code=code)


def _subscribe_problem(
    code: str,
    message: str,
    lists: list[MailingList],
    chosen: MailingList | None,
    values: dict[str, str],
) -> Any:
    if _wants_json():
        return jsonify({"ok": False, "code": code, "message": message}), 400
    return _page("subscribe.html", 400, lists=lists, chosen=chosen, values=values, error=message)


# --------------------------------------------------------------------------- confirm


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm_page(token: str) -> Any:
    """GET (and HEAD): the list's name and a confirm button; changes nothing, because
    mail scanners fetch every link in a mail. POST (the button, CSRF-protected): activate
    the membership. Used, expired and unknown links get their friendly pages either way."""
    if request.method == "POST":
        result = confirm(db_session(), token, _ip(), _ua())
        db_session().commit()
        if result.outcome == ConfirmOutcome.CONFIRMED:
            _enqueue_welcome(result)
    else:
        result = confirm_state(db_session(), token)
        db_session().rollback()
    return _confirm_answer(token, result)


def _confirm_answer(token: str, result: ConfirmResult, status: int = 200, **notes: Any) -> Any:
    if result.outcome == ConfirmOutcome.UNKNOWN:
        abort(404)
    mailing_list = db_session().get(MailingList, result.list_id) if result.list_id else None
    return _page(
        "confirm.html",
        status,
        outcome=str(result.outcome),
        active=result.membership_active,
        mailing_list=mailing_list,
        token=token,
        **notes,
    )


@bp.route("/confirm/<token>/resend", methods=["POST"])
@limiter.limit(RESEND_LIMIT_PER_IP)
def resend_confirmation(token: str) -> Any:
    """ "Send me a new link" from an expired or used confirmation page (CSRF-protected)."""
    result = renew_confirmation(db_session(), token)
    if result is None:
        db_session().rollback()
        if find_confirm_token(db_session(), token) is None:
            abort(404)
        return _page("confirm.html", outcome="nothing_to_resend", active=True, token=token)
    if not confirmation_cap().take(_ip()):
        db_session().rollback()  # the old link stays as it was; they can press again later
        retry = {"Retry-After": str(confirmation_cap().seconds_left())}
        return render_template("reader/confirm.html", outcome="try_later", token=token), 429, retry
    db_session().commit()
    _enqueue_confirmation(result)
    mailing_list = db_session().get(MailingList, result.list_id)
    return _page("confirm.html", outcome="resent", active=False, mailing_list=mailing_list)


# --------------------------------------------------------------------------- unsubscribe

# A test send to an address that is no subscriber carries links made for subscriber 0.
TEST_SUBSCRIBER_ID = 0


def _test_link_page() -> Any:
    """What a test message's unsubscribe or preferences link opens: changes nothing, and
    says where the link leads in the real mail (one-click POSTs get their 200 too)."""
    if request.method == "POST" and request.form.get("confirm") != "1":
        return Response(ONE_CLICK_BODY, 200, mimetype="text/plain")
    return _page("test_link.html")


def _unsubscribe_link(token: str) -> UnsubscribeLink:
    """What a signed unsubscribe ``token`` names; a forged one gets the friendly 404."""
    link = read_unsubscribe_token(db_session(), settings().secret_key, token)
    if link is None:
        abort(404)
    return link


def _preferences_token(subscriber_id: int) -> str:
    """The token of the subscriber's preferences page, for a link on a reader page."""
    return tokens.make_token(settings().secret_key, tokens.PREFERENCES, subscriber_id)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@limiter.exempt
def unsubscribe_page(token: str) -> Any:
    """GET: a page with a button (changes nothing). POST: RFC 8058 one-click, or the
    page's own button. Always 200 on a valid token, never a redirect."""
    database = db_session()
    link = _unsubscribe_link(token)
    if link.subscriber_id == TEST_SUBSCRIBER_ID:
        return _test_link_page()
    subscriber = database.get(Subscriber, link.subscriber_id)
    list_names = [m.name for m in lists_named(database, link)]
    if request.method != "POST":  # GET and HEAD (scanners send HEAD too) change nothing
        if subscriber is None or subscriber.status == SubscriberStatus.ERASED:
            abort(404)
        return _page(
            "unsubscribe.html",
            subscriber=subscriber,
            list_names=list_names,
            token=token,
            preferences_token=_preferences_token(link.subscriber_id),
        )
    from_page = request.form.get("confirm") == "1"
    if not from_page and request.form.get(ONE_CLICK_FIELD) != ONE_CLICK_VALUE:
        # Not the RFC 8058 body, but a POST to this URL still means "unsubscribe me";
        # refusing it would leave a reader subscribed because of a client's bug.
        log.info("unsubscribe POST without the one-click body; honoured as one-click")
    everything = from_page and request.form.get("everything") == "1"
    result = unsubscribe(
        database,
        link.subscriber_id,
        link.list_ids,
        source="form" if from_page else "one-click",
        everything=everything,
        ip=_ip(),
        user_agent=_ua(),
        campaign_id=link.campaign_id,
    )
    if not from_page:
        database.commit()
        # Mail providers read only the status; keep the body tiny and language-neutral.
        return Response(ONE_CLICK_BODY, 200, mimetype="text/plain")
    undo = remember_for_undo(database, token, link.subscriber_id, result, everything)
    database.commit()
    return _page(
        "unsubscribed.html", list_names=list_names, everything=everything, undo=undo, token=token
    )


csrf.exempt(unsubscribe_page)  # RFC 8058: the POST carries no cookie and no CSRF token


@bp.route("/unsubscribe/<token>/undo", methods=["POST"])
def undo_unsubscribe_page(token: str) -> Any:
    """「误操作？重新订阅」 on the unsubscribed page (CSRF-protected): back on the lists the
    page's unsubscribe with this same token just left, once. A forged token gets the
    friendly 404; a used one, or one that unsubscribed nothing, its own friendly page."""
    database = db_session()
    link = _unsubscribe_link(token)
    if link.subscriber_id == TEST_SUBSCRIBER_ID:
        return _test_link_page()
    result = undo_unsubscribe(database, token, link.subscriber_id, ip=_ip(), user_agent=_ua())
    database.commit()
    names = [
        m.name for m in lists_named(database, UnsubscribeLink(link.subscriber_id, result.lists))
    ]
    status = 200 if result.outcome == UndoOutcome.UNDONE else 409
    return _page(
        "resubscribed.html",
        status,
        outcome=str(result.outcome),
        list_names=names,
        preferences_token=_preferences_token(link.subscriber_id),
    )


# --------------------------------------------------------------------------- preferences


def _enqueue_preferences_link(subscriber_id: int) -> None:
    from worker.tasks_reader import send_preferences_link

    try:
        send_preferences_link.delay(subscriber_id)
    except Exception:  # Redis down: nothing was promised but "if the address is known"
        log.exception("could not enqueue the preferences link of subscriber %s", subscriber_id)


@bp.route("/preferences", methods=["GET", "POST"])
@limiter.limit(LINK_REQUEST_LIMIT_PER_IP, methods=["POST"])
@limiter.limit(
    LINK_REQUEST_LIMIT_PER_EMAIL, methods=["POST"], key_func=_email_key, exempt_when=_no_email
)
def preferences_request() -> Any:
    """For a reader without an issue at hand: mail the preferences link to an address.

    The answer is the same whether the address is known or not, so the page tells nobody
    who is subscribed; the link only ever goes to the address itself.
    """
    if request.method != "POST":
        return _page("preferences_request.html", sent=False)
    data = _submitted()
    if not data.get("email", "").strip():
        return _page("preferences_request.html", 400, sent=False, error=_("Please check the form."))
    if data.get(HONEYPOT_FIELD, "").strip():
        log.info("honeypot filled on the preferences link form")
        return _page("preferences_request.html", sent=True)
    subscriber_id = subscriber_to_mail(db_session(), data.get("email", ""))
    db_session().rollback()
    if subscriber_id is not None:
        _enqueue_preferences_link(subscriber_id)
    return _page("preferences_request.html", sent=True)


# No session to protect: a forged POST can only ask for what anyone may ask directly (a
# link mailed to the address itself), and readers post it from the plain page.
csrf.exempt(preferences_request)


@bp.route("/preferences/<token>", methods=["GET", "POST"])
def preferences_page(token: str) -> Any:
    """Which lists, name, language; or leave everything (CSRF-protected POST)."""
    (subscriber_id,) = _read(tokens.PREFERENCES, token, 1)
    if subscriber_id == TEST_SUBSCRIBER_ID:
        return _test_link_page()
    database = db_session()
    subscriber = database.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.status == SubscriberStatus.ERASED:
        abort(404)
    error = None
    saved = None
    if request.method == "POST":
        wanted = {int(v) for v in request.form.getlist("lists") if v.isdigit()}
        try:
            saved = update_preferences(
                database,
                subscriber_id,
                wanted,
                request.form.get("name", ""),
                request.form.get("language", ""),
                unsubscribe_all=request.form.get("everything") == "1",
                ip=_ip(),
                user_agent=_ua(),
            )
            database.commit()
        except SubscriptionInputError as exc:
            database.rollback()
            error = _error_message(exc)
    return _page(
        "preferences.html",
        400 if error else 200,
        subscriber=subscriber,
        lists=preference_lists(database, subscriber_id),
        on=current_list_ids(database, subscriber_id),
        saved=saved,
        error=error,
        token=token,
        name_value=request.form.get("name", subscriber.name) if error else subscriber.name,
    )


# --------------------------------------------------------------------------- errors


def _confirm_again() -> Any | None:
    """The confirm page again, with a fresh CSRF token, for a button press whose session
    was lost between the page and the press (a browser restarted, the link opened in
    another profile); None for a token that confirms nothing (its 404 follows)."""
    token = (request.view_args or {}).get("token", "")
    state = confirm_state(db_session(), token)
    db_session().rollback()
    if state.outcome == ConfirmOutcome.UNKNOWN:
        return None
    return _confirm_answer(token, state, 400, press_again=True)


def _reader_error(error: Any) -> Any:
    code = getattr(error, "code", 500) or 500
    if isinstance(error, CSRFError) and request.endpoint == "reader.confirm_page":
        page = _confirm_again()
        if page is not None:
            return page
        code = 404
    if _wants_json():
        message = (
            _("Too many requests. Please wait a while and try again.")
            if code == 429
            else _("Not found")
        )
        codes = {429: "rate_limited", 404: "not_found", 400: "bad_request"}
        return jsonify({"ok": False, "code": codes.get(code, "error"), "message": message}), code
    return _page("error.html", code, code=code)


for _code in (400, 404, 429):
    bp.register_error_handler(_code, _reader_error)
