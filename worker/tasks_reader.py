"""Tasks of the reader side: the double opt-in confirmation, the welcome once confirmed,
and the preferences link.

The subscribe request only commits the unconfirmed membership and its token, then
enqueues this task, so a slow or absent SMTP relay never blocks the public page.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service.mail.backends import TransientSendError
from service.subscribers.confirmation import send_confirmation as deliver_confirmation
from service.subscribers.preferences_link import (
    send_preferences_link as deliver_preferences_link,
)
from service.subscribers.welcome import send_welcome as deliver_welcome
from worker.app import AppTask, celery, settings

SEND_RETRIES = 5
RETRY_BACKOFF_MAX_SECONDS = 600

# Periodic jobs of this module, merged into the beat schedule by worker.app.
BEAT: dict[str, dict[str, Any]] = {}


# A single message to one reader: retried with backoff while the relay says "later".
MAIL_TASK: dict[str, Any] = {
    "base": AppTask,
    "autoretry_for": (TransientSendError,),
    "retry_backoff": True,
    "retry_backoff_max": RETRY_BACKOFF_MAX_SECONDS,
    "max_retries": SEND_RETRIES,
}


@celery.task(name="tidings.default.send_confirmation", **MAIL_TASK)
def send_confirmation(session: Session, subscriber_id: int, list_id: int) -> str:
    """Mail the current confirmation link of (subscriber, list), if it is still wanted
    (see ``service.subscribers.confirmation.send_confirmation``)."""
    return deliver_confirmation(session, settings, subscriber_id, list_id)


@celery.task(name="tidings.default.send_preferences_link", **MAIL_TASK)
def send_preferences_link(session: Session, subscriber_id: int) -> str:
    """Mail a subscriber the link to its preferences page, as asked on ``/preferences``
    (see ``service.subscribers.preferences_link``)."""
    return deliver_preferences_link(session, settings, subscriber_id)


@celery.task(name="tidings.default.send_welcome", **MAIL_TASK)
def send_welcome(session: Session, subscriber_id: int, list_id: int) -> str:
    """Mail the welcome to a reader who just confirmed (see
    ``service.subscribers.welcome``)."""
    return deliver_welcome(session, settings, subscriber_id, list_id)
