"""The unsubscribe pages of the ``reader`` blueprint (see ``service.web.routes``): the page
and the RFC 8058 one-click POST at one URL, and the undo on the unsubscribed page. Thin
views over ``service.subscribers.unsubscribing`` and ``unsubscribe_undo``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, abort, request

from service import tokens
from service.model import Subscriber, SubscriberStatus
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
from service.web.context import db_session, settings
from service.web.extensions import csrf, limiter
from service.web.reader_requests import (
    ONE_CLICK_BODY,
    TEST_SUBSCRIBER_ID,
    client_ip,
    page_for_test_link,
    reader_page,
    user_agent,
)
from service.web.routes import Routes

log = logging.getLogger(__name__)

routes = Routes()

ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"


def _unsubscribe_link(token: str) -> UnsubscribeLink:
    """What a signed unsubscribe ``token`` names; a forged one gets the friendly 404."""
    link = read_unsubscribe_token(db_session(), settings().secret_key, token)
    if link is None:
        abort(404)
    return link


def _preferences_token(subscriber_id: int) -> str:
    """The token of the subscriber's preferences page, for a link on a reader page."""
    return tokens.make_token(settings().secret_key, tokens.PREFERENCES, subscriber_id)


@routes.route("/unsubscribe/<token>", methods=["GET", "POST"])
@limiter.exempt
def unsubscribe_page(token: str) -> Any:
    """GET: a page with a button (changes nothing). POST: RFC 8058 one-click, or the
    page's own button. Always 200 on a valid token, never a redirect."""
    database = db_session()
    link = _unsubscribe_link(token)
    if link.subscriber_id == TEST_SUBSCRIBER_ID:
        return page_for_test_link()
    subscriber = database.get(Subscriber, link.subscriber_id)
    list_names = [m.name for m in lists_named(database, link)]
    if request.method != "POST":  # GET and HEAD (scanners send HEAD too) change nothing
        if subscriber is None or subscriber.status == SubscriberStatus.ERASED:
            abort(404)
        return reader_page(
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
        ip=client_ip(),
        user_agent=user_agent(),
        campaign_id=link.campaign_id,
    )
    if not from_page:
        database.commit()
        # Mail providers read only the status; keep the body tiny and language-neutral.
        return Response(ONE_CLICK_BODY, 200, mimetype="text/plain")
    undo = remember_for_undo(database, token, link.subscriber_id, result, everything)
    database.commit()
    return reader_page(
        "unsubscribed.html", list_names=list_names, everything=everything, undo=undo, token=token
    )


csrf.exempt(unsubscribe_page)  # RFC 8058: the POST carries no cookie and no CSRF token


@routes.route("/unsubscribe/<token>/undo", methods=["POST"])
def undo_unsubscribe_page(token: str) -> Any:
    """「误操作？重新订阅」 on the unsubscribed page (CSRF-protected): back on the lists the
    page's unsubscribe with this same token just left, once. A forged token gets the
    friendly 404; a used one, or one that unsubscribed nothing, its own friendly page."""
    database = db_session()
    link = _unsubscribe_link(token)
    if link.subscriber_id == TEST_SUBSCRIBER_ID:
        return page_for_test_link()
    result = undo_unsubscribe(
        database, token, link.subscriber_id, ip=client_ip(), user_agent=user_agent()
    )
    database.commit()
    names = [
        m.name for m in lists_named(database, UnsubscribeLink(link.subscriber_id, result.lists))
    ]
    status = 200 if result.outcome == UndoOutcome.UNDONE else 409
    return reader_page(
        "resubscribed.html",
        status,
        outcome=str(result.outcome),
        list_names=names,
        preferences_token=_preferences_token(link.subscriber_id),
    )
