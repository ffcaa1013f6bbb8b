"""Unsubscribe by mail: the ``mailto:`` half of List-Unsubscribe (RFC 2369 §3.2).

Every campaign message carries ``List-Unsubscribe: <https://…>, <mailto:unsubscribe@<bounce
domain>?subject=unsubscribe>``. Mail clients that use the mailto (Yahoo accepts it as a
one-click method) send a message from the reader's own address to that mailbox; the
bounce listener accepts it and this module unsubscribes the sender from every list.

Why every list: such a request names no list, and an unsubscribe that does too much is
the safe side of the law (Advertising Law Art. 43, MIIT Art. 14); the reader can come back
through the preferences page.
"""

from __future__ import annotations

import email
import logging
from email.policy import default as default_policy

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.config import Settings
from service.events.policy import Applied, NoOp, Outcome
from service.subscribers.addresses import InvalidAddress, normalise
from service.subscribers.models import Subscriber

log = logging.getLogger(__name__)

UNSUBSCRIBE_LOCAL_PART = "unsubscribe"
MAILTO_SOURCE = "mailto"
# Messages a machine sent on its own (vacation replies, bounces) are not requests.
AUTOMATIC = ("auto-replied", "auto-generated", "auto-notified")


def unsubscribe_address(settings: Settings) -> str:
    """The address in the mailto: of every campaign's List-Unsubscribe header."""
    return f"{UNSUBSCRIBE_LOCAL_PART}@{settings.bounce_domain}"


def is_unsubscribe_address(address: str, settings: Settings) -> bool:
    """Whether ``address`` is our unsubscribe mailbox (case-insensitive)."""
    return address.strip().strip("<>").casefold() == unsubscribe_address(settings).casefold()


def process_unsubscribe_mail(session: Session, settings: Settings, raw: bytes) -> Outcome:
    """Unsubscribe the sender of an unsubscribe request from every list (idempotent)."""
    from service.subscribers.subscriptions import unsubscribe

    msg = email.message_from_bytes(raw, policy=default_policy)
    if str(msg.get("Auto-Submitted", "no")).strip().lower().startswith(AUTOMATIC):
        return NoOp("automatic message, not a request")
    sender = email.utils.parseaddr(str(msg.get("From", "")))[1]
    try:
        address = normalise(sender).email
    except InvalidAddress:
        return NoOp("no usable From address")
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address))
    if subscriber is None:
        return NoOp("unknown sender")
    result = unsubscribe(session, subscriber.id, None, source=MAILTO_SOURCE, everything=True)
    log.info("mailto unsubscribe of subscriber %s (changed=%s)", subscriber.id, result.changed)
    if not result.changed:
        return NoOp("already unsubscribed")
    return Applied(event_id=0, effect="unsubscribed", suppressed=True)
