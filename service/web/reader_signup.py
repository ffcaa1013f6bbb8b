"""The sign-up pages of the ``reader`` blueprint (see ``service.web.routes``): subscribe
(the form, and JSON for fetch from association sites), confirm, and a new confirmation link.
Thin views over ``service.subscribers.subscriptions``; the mails go out through the worker.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import abort, jsonify, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _

from service.mail.addresses import InvalidAddress
from service.model import MailingList
from service.subscribers.public_lists import ListUnavailable, public_list_by_slug, public_lists
from service.subscribers.subscriptions import (
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
from service.web.context import confirmation_cap, db_session
from service.web.extensions import csrf, limiter
from service.web.reader_requests import (
    HONEYPOT_FIELD,
    client_ip,
    email_key,
    error_message,
    no_email,
    reader_page,
    submitted,
    user_agent,
    wants_json,
)
from service.web.routes import Routes

log = logging.getLogger(__name__)

routes = Routes()

# Against list-bombing (someone subscribing a victim's address to many lists, or many
# addresses from one machine). Limits count POSTs only; the one-click endpoint has none.
SUBSCRIBE_LIMIT_PER_IP = "5 per minute; 30 per hour"
SUBSCRIBE_LIMIT_PER_EMAIL = "3 per hour; 10 per day"
RESEND_LIMIT_PER_IP = "5 per hour"


def _page_language() -> str:
    return "en" if str(get_locale()) == "en" else "zh-CN"


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


@routes.route("/subscribe", methods=["GET", "POST"])
@routes.route("/subscribe/<slug>", methods=["GET", "POST"])
@limiter.limit(SUBSCRIBE_LIMIT_PER_IP, methods=["POST"])
@limiter.limit(
    SUBSCRIBE_LIMIT_PER_EMAIL, methods=["POST"], key_func=email_key, exempt_when=no_email
)
def subscribe_page(slug: str | None = None) -> Any:
    """The subscribe form (GET) and its answer (POST: HTML, or JSON for fetch)."""
    lists = public_lists(db_session())
    if request.method != "POST":  # GET and HEAD (scanners send HEAD too) change nothing
        return _subscribe_form(lists, slug or request.args.get("list"))
    data = submitted()
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
            source="api" if wants_json() else "form",
            ip=client_ip(),
            user_agent=user_agent(),
        )
    except (InvalidAddress, SubscriptionInputError) as exc:
        db_session().rollback()
        code = "invalid_email" if isinstance(exc, InvalidAddress) else f"invalid_{exc.field}"
        return _subscribe_problem(code, error_message(exc), lists, chosen, data)
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
        return cap.has_room(client_ip())
    if not cap.take(client_ip()):
        log.info("confirmation mail for list %s held back by the hourly cap", chosen.slug)
        return False
    _enqueue_confirmation(result)
    return True


def _try_later(chosen: MailingList) -> Any:
    """The answer to a sign-up whose confirmation mail the cap held back: 429, with the
    seconds to the next hour, and nothing about why."""
    retry = {"Retry-After": str(confirmation_cap().seconds_left())}
    message = _("We cannot send the confirmation email right now. Please try again later.")
    if wants_json():
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
    return reader_page("subscribe.html", lists=lists, chosen=chosen, values={}, error=None)


def _subscribe_answer(chosen: MailingList) -> Any:
    code = "confirmation_sent" if chosen.double_opt_in else "subscribed"
    if wants_json():
        message = (
            _("Please check your inbox and confirm your subscription.")
            if chosen.double_opt_in
            else _("You are subscribed.")
        )
        return jsonify({"ok": True, "code": code, "list": chosen.slug, "message": message})
    return reader_page("subscribed.html", chosen=chosen, code=code)


def _subscribe_problem(
    code: str,
    message: str,
    lists: list[MailingList],
    chosen: MailingList | None,
    values: dict[str, str],
) -> Any:
    if wants_json():
        return jsonify({"ok": False, "code": code, "message": message}), 400
    return reader_page(
        "subscribe.html", 400, lists=lists, chosen=chosen, values=values, error=message
    )


@routes.route("/confirm/<token>", methods=["GET", "POST"])
def confirm_page(token: str) -> Any:
    """GET (and HEAD): the list's name and a confirm button; changes nothing, because
    mail scanners fetch every link in a mail. POST (the button, CSRF-protected): activate
    the membership. Used, expired and unknown links get their friendly pages either way."""
    if request.method == "POST":
        result = confirm(db_session(), token, client_ip(), user_agent())
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
    return reader_page(
        "confirm.html",
        status,
        outcome=str(result.outcome),
        active=result.membership_active,
        mailing_list=mailing_list,
        token=token,
        **notes,
    )


@routes.route("/confirm/<token>/resend", methods=["POST"])
@limiter.limit(RESEND_LIMIT_PER_IP)
def resend_confirmation(token: str) -> Any:
    """ "Send me a new link" from an expired or used confirmation page (CSRF-protected)."""
    result = renew_confirmation(db_session(), token)
    if result is None:
        db_session().rollback()
        if find_confirm_token(db_session(), token) is None:
            abort(404)
        return reader_page("confirm.html", outcome="nothing_to_resend", active=True, token=token)
    if not confirmation_cap().take(client_ip()):
        db_session().rollback()  # the old link stays as it was; they can press again later
        retry = {"Retry-After": str(confirmation_cap().seconds_left())}
        return render_template("reader/confirm.html", outcome="try_later", token=token), 429, retry
    db_session().commit()
    _enqueue_confirmation(result)
    mailing_list = db_session().get(MailingList, result.list_id)
    return reader_page("confirm.html", outcome="resent", active=False, mailing_list=mailing_list)


def confirm_again() -> Any | None:
    """The confirm page again, with a fresh CSRF token, for a button press whose session
    was lost between the page and the press (a browser restarted, the link opened in
    another profile); None for a token that confirms nothing (its 404 follows)."""
    token = (request.view_args or {}).get("token", "")
    state = confirm_state(db_session(), token)
    db_session().rollback()
    if state.outcome == ConfirmOutcome.UNKNOWN:
        return None
    return _confirm_answer(token, state, 400, press_again=True)
