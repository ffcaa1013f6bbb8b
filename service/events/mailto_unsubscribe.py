"""Unsubscribe by mail: the ``mailto:`` half of List-Unsubscribe (RFC 2369 §3.2).

Every campaign message carries ``List-Unsubscribe: <https://…/unsubscribe/<token>>,
<mailto:unsubscribe@<bounce domain>?subject=unsubscribe%20<token>>``. A mail client that
uses the mailto (Yahoo accepts it as a one-click method) sends a message whose subject
holds the same signed token as the HTTPS link; the bounce listener accepts it and this
module unsubscribes that reader from the campaign's lists, exactly as the one-click POST does.

The token, not the From header, says who is leaving: From is trivially forged, and a
request without a valid token changes nothing.
"""

from __future__ import annotations

import email
import logging
import re
from email.policy import default as default_policy

from sqlalchemy.orm import Session

from service.config import Settings
from service.events.policy import Applied, NoOp, Outcome
from service.model import Subscriber
from service.subscribers.unsubscribe_links import UnsubscribeLink, read_unsubscribe_token

log = logging.getLogger(__name__)

UNSUBSCRIBE_LOCAL_PART = "unsubscribe"
MAILTO_SOURCE = "mailto"
# Messages a machine sent on its own (vacation replies, bounces) are not requests.
AUTOMATIC = ("auto-replied", "auto-generated", "auto-notified")
# The shape of a service.tokens token: base36 ids and a base32 MAC, dot-separated.
TOKEN_IN_SUBJECT = re.compile(r"[0-9a-z]+\.[0-9a-z]+\.[a-z2-7]{16}")


def unsubscribe_address(settings: Settings) -> str:
    """The address in the mailto: of every campaign's List-Unsubscribe header."""
    return f"{UNSUBSCRIBE_LOCAL_PART}@{settings.bounce_domain}"


def is_unsubscribe_address(address: str, settings: Settings) -> bool:
    """Whether ``address`` is our unsubscribe mailbox (case-insensitive)."""
    return address.strip().strip("<>").casefold() == unsubscribe_address(settings).casefold()


def process_unsubscribe_mail(session: Session, settings: Settings, raw: bytes) -> Outcome:
    """Apply an unsubscribe request sent by mail (idempotent)."""
    from service.subscribers.unsubscribing import unsubscribe

    msg = email.message_from_bytes(raw, policy=default_policy)
    if str(msg.get("Auto-Submitted", "no")).strip().lower().startswith(AUTOMATIC):
        return NoOp("automatic message, not a request")
    link = _link_in(session, settings, str(msg.get("Subject", "")))
    if link is None:
        return NoOp("no valid unsubscribe token in the subject")
    if session.get(Subscriber, link.subscriber_id) is None:
        return NoOp("unknown subscriber")
    result = unsubscribe(
        session,
        link.subscriber_id,
        link.list_ids,
        source=MAILTO_SOURCE,
        campaign_id=link.campaign_id,
    )
    log.info("mailto unsubscribe of subscriber %s (changed=%s)", link.subscriber_id, result.changed)
    if not result.changed:
        return NoOp("already unsubscribed")
    return Applied(event_id=0, effect="unsubscribed")


def _link_in(session: Session, settings: Settings, subject: str) -> UnsubscribeLink | None:
    for candidate in TOKEN_IN_SUBJECT.findall(subject.lower()):
        link = read_unsubscribe_token(session, settings.secret_key, candidate)
        if link is not None:
            return link
    return None
