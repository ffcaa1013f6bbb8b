"""What the reader pages share (``service.web.reader``): the posted fields, from a form or
JSON; the rate-limit key per address; the client's address and user agent kept as evidence;
a reader page and the message of a refused field; the page a test message's links open.
"""

from __future__ import annotations

from typing import Any

from flask import Response, render_template, request
from flask_babel import gettext as _

from service.mail.addresses import InvalidAddress, email_hash, normalise
from service.subscribers.subscriptions import MAX_NAME_LENGTH, SubscriptionInputError
from service.web.messages import describe

HONEYPOT_FIELD = "website"
ONE_CLICK_BODY = "已退订 / Unsubscribed\n"
# A test send to an address that is no subscriber carries links made for subscriber 0.
TEST_SUBSCRIBER_ID = 0


def wants_json() -> bool:
    """The client asked for JSON (a JSON body, or JSON preferred over HTML)."""
    return request.is_json or (
        request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"
    )


def submitted() -> dict[str, str]:
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


def email_key() -> str:
    """Rate-limit key per submitted address (hashed: no addresses in Redis)."""
    raw = submitted().get("email", "")
    try:
        return email_hash(normalise(raw).email)
    except InvalidAddress:
        return email_hash(raw)


def no_email() -> bool:
    """Nothing was posted as the address (the per-address limit does not apply)."""
    return not submitted().get("email", "").strip()


def client_ip() -> str | None:
    """The client's address (kept as evidence; the confirmation cap counts by it)."""
    return request.remote_addr


def user_agent() -> str | None:
    """The client's user agent, kept as evidence."""
    # Kept as evidence; NUL is dropped because PostgreSQL text cannot hold it.
    return request.user_agent.string.replace("\x00", "") or None


def reader_page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """A page of ``templates/web/reader`` with its status."""
    return render_template(f"reader/{template}", **context), status


def error_message(exc: Exception) -> str:
    """What the reader is told about a refused address or name, in their language."""
    if isinstance(exc, InvalidAddress):
        return _("This email address is not valid: %(reason)s", reason=describe(exc))
    if isinstance(exc, SubscriptionInputError) and exc.reason == "line_break":
        return _("Line breaks are not allowed in names.")
    if isinstance(exc, SubscriptionInputError):
        return _("Please use at most %(count)s characters.", count=MAX_NAME_LENGTH)
    return _("Please check the form.")


def page_for_test_link() -> Any:
    """What a test message's unsubscribe or preferences link opens: changes nothing, and
    says where the link leads in the real mail (one-click POSTs get their 200 too)."""
    if request.method == "POST" and request.form.get("confirm") != "1":
        return Response(ONE_CLICK_BODY, 200, mimetype="text/plain")
    return reader_page("test_link.html")
