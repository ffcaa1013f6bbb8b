"""Tasks of the reader side: the double opt-in confirmation mail.

The subscribe request only commits the unconfirmed membership and its token, then
enqueues this task, so a slow or absent SMTP relay never blocks the public page.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db import utcnow
from service.mail.backends import PermanentSendError, TransientSendError, backend_for
from service.subscribers.confirmation import build_confirmation
from service.subscribers.models import (
    MailingList,
    Membership,
    MembershipStatus,
    Subscriber,
    SubscriberToken,
    TokenPurpose,
)
from service.subscribers.suppression import is_suppressed
from worker.app import AppTask, celery, settings

log = logging.getLogger(__name__)

SEND_RETRIES = 5
RETRY_BACKOFF_MAX_SECONDS = 600

# Periodic jobs of this module, merged into the beat schedule by worker.app.
BEAT: dict[str, dict[str, Any]] = {}


@celery.task(
    name="tidings.default.send_confirmation",
    base=AppTask,
    autoretry_for=(TransientSendError,),
    retry_backoff=True,
    retry_backoff_max=RETRY_BACKOFF_MAX_SECONDS,
    max_retries=SEND_RETRIES,
)
def send_confirmation(session: Session, subscriber_id: int, list_id: int) -> str:
    """Mail the current confirmation link of (subscriber, list), if it is still wanted.

    Reads the newest token at send time: a retry after a resend mails the new link, and a
    membership confirmed or left in the meantime gets no mail. Returns what it did.
    """
    token = session.scalar(
        select(SubscriberToken).where(
            SubscriberToken.purpose == TokenPurpose.CONFIRM,
            SubscriberToken.subscriber_id == subscriber_id,
            SubscriberToken.list_id == list_id,
        )
    )
    subscriber = session.get(Subscriber, subscriber_id)
    membership = session.get(Membership, (subscriber_id, list_id))
    mailing_list = session.get(MailingList, list_id)
    if token is None or subscriber is None or mailing_list is None or membership is None:
        return "gone"
    if token.used_at is not None or membership.status != MembershipStatus.UNCONFIRMED:
        return "not needed"
    if token.expires_at is not None and token.expires_at <= utcnow():
        return "expired"
    if is_suppressed(session, subscriber.email):
        return "suppressed"
    mail = build_confirmation(
        settings,
        to_email=subscriber.email,
        to_name=subscriber.name,
        language=subscriber.language,
        list_name=mailing_list.name,
        confirm_url=f"{settings.base_url}/confirm/{token.token}",
    )
    try:
        with backend_for(settings.smtp, settings.data_dir / "outbox") as backend:
            backend.send(mail.mail_from, mail.rcpt, mail.data)
    except PermanentSendError as exc:
        # Nothing to retry: the reader sees no mail and can ask for a new link.
        log.warning("confirmation to subscriber %s refused: %s", subscriber_id, exc)
        return "refused"
    return "sent"
