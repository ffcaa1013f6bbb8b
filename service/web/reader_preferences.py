"""The preferences pages of the ``reader`` blueprint (see ``service.web.routes``): a
subscriber's lists, name and language behind the token of their link, and the form that
mails that link to an address. Thin views over ``service.subscribers.preferences``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import abort, request
from flask_babel import gettext as _

from service import tokens
from service.model import Subscriber, SubscriberStatus
from service.subscribers.preferences import current_list_ids, preference_lists, update_preferences
from service.subscribers.preferences_link import subscriber_to_mail
from service.subscribers.subscriptions import SubscriptionInputError
from service.web.context import db_session, settings
from service.web.extensions import csrf, limiter
from service.web.reader_requests import (
    HONEYPOT_FIELD,
    TEST_SUBSCRIBER_ID,
    client_ip,
    email_key,
    error_message,
    no_email,
    page_for_test_link,
    reader_page,
    submitted,
    user_agent,
)
from service.web.routes import Routes

log = logging.getLogger(__name__)

routes = Routes()

# "Mail me my preferences link": a reader needs it rarely; a bot must not mail-bomb anyone.
LINK_REQUEST_LIMIT_PER_IP = "5 per minute; 20 per hour"
LINK_REQUEST_LIMIT_PER_EMAIL = "3 per hour; 5 per day"


def _read(purpose: str, token: str, count: int) -> tuple[int, ...]:
    ids = tokens.read_token(settings().secret_key, purpose, token, count)
    if ids is None:
        abort(404)
    return ids


def _enqueue_preferences_link(subscriber_id: int) -> None:
    from worker.tasks_reader import send_preferences_link

    try:
        send_preferences_link.delay(subscriber_id)
    except Exception:  # Redis down: nothing was promised but "if the address is known"
        log.exception("could not enqueue the preferences link of subscriber %s", subscriber_id)


@routes.route("/preferences", methods=["GET", "POST"])
@limiter.limit(LINK_REQUEST_LIMIT_PER_IP, methods=["POST"])
@limiter.limit(
    LINK_REQUEST_LIMIT_PER_EMAIL, methods=["POST"], key_func=email_key, exempt_when=no_email
)
def preferences_request() -> Any:
    """For a reader without an issue at hand: mail the preferences link to an address.

    The answer is the same whether the address is known or not, so the page tells nobody
    who is subscribed; the link only ever goes to the address itself.
    """
    if request.method != "POST":
        return reader_page("preferences_request.html", sent=False)
    data = submitted()
    if not data.get("email", "").strip():
        return reader_page(
            "preferences_request.html", 400, sent=False, error=_("Please check the form.")
        )
    if data.get(HONEYPOT_FIELD, "").strip():
        log.info("honeypot filled on the preferences link form")
        return reader_page("preferences_request.html", sent=True)
    subscriber_id = subscriber_to_mail(db_session(), data.get("email", ""))
    db_session().rollback()
    if subscriber_id is not None:
        _enqueue_preferences_link(subscriber_id)
    return reader_page("preferences_request.html", sent=True)


# No session to protect: a forged POST can only ask for what anyone may ask directly (a
# link mailed to the address itself), and readers post it from the plain page.
csrf.exempt(preferences_request)


@routes.route("/preferences/<token>", methods=["GET", "POST"])
def preferences_page(token: str) -> Any:
    """Which lists, name, language; or leave everything (CSRF-protected POST)."""
    (subscriber_id,) = _read(tokens.PREFERENCES, token, 1)
    if subscriber_id == TEST_SUBSCRIBER_ID:
        return page_for_test_link()
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
                ip=client_ip(),
                user_agent=user_agent(),
            )
            database.commit()
        except SubscriptionInputError as exc:
            database.rollback()
            error = error_message(exc)
    return reader_page(
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
