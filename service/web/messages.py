"""The domain's messages in the reader's language: one catalogue from code to sentence.

Domain code raises errors and stores notes as a code with parameters
(``service.errors``); this is the one place that turns them into words. Every sentence is
a literal ``_l()`` call so the string extractor finds it, and gets its Chinese in the
catalogue like any other. A code missing here shows its English text, so a new error is
never lost, only untranslated.

The catalogue is kept in parts by area (``messages_campaigns``, ``messages_audience``,
``messages_issues``, ``messages_staff``) and joined here into ``MESSAGES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import flash
from flask_babel.speaklater import LazyString

from service.errors import Message, message_of
from service.web.labels import status_label
from service.web.messages_audience import AUDIENCE_MESSAGES
from service.web.messages_campaigns import CAMPAIGN_MESSAGES
from service.web.messages_issues import ISSUE_MESSAGES
from service.web.messages_staff import STAFF_MESSAGES

# Parameters that hold a stored status value; shown by their label, not the raw value.
STATUS_PARAMS = frozenset({"status", "new_status"})

# Sentences that take another message as a parameter (``%(error)s``) end without a full
# stop: the inner sentence brings its own.
MESSAGES: dict[str, LazyString] = {
    **CAMPAIGN_MESSAGES,
    **AUDIENCE_MESSAGES,
    **ISSUE_MESSAGES,
    **STAFF_MESSAGES,
}


def describe(message: Message | BaseException) -> str:
    """The message (or any exception) as a sentence in the current request's language.

    Unknown codes, and exceptions that are not domain errors, give their English text;
    so does a translation that does not fit the stored parameters (an old row).
    """
    if isinstance(message, BaseException):
        message = message_of(message)
    template = MESSAGES.get(message.code)
    if template is None:
        return message.text
    try:
        return str(template) % _shown(message.params)
    except (KeyError, ValueError, TypeError):
        return message.text


def _shown(params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: describe(value)
        if isinstance(value, Message)
        else status_label(value)
        if key in STATUS_PARAMS
        else value
        for key, value in params.items()
    }


def flash_error(error: Message | BaseException) -> None:
    """Flash ``error`` in the staff member's language (how every admin view reports one)."""
    flash(describe(error), "error")
