"""What an unsubscribe link (or List-Unsubscribe header) points at.

Campaign mail carries a token bound to (subscriber, campaign): one click leaves every list
the campaign went to, so a reader on two of its lists is not mailed again through the
other. Tokens bound to (subscriber, list), from older mail, keep working for that list.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.model import MailingList, Membership, campaign_lists
from service.tokens import UNSUBSCRIBE, UNSUBSCRIBE_CAMPAIGN, make_token, read_token


@dataclass(frozen=True)
class UnsubscribeLink:
    """The reader and the lists one unsubscribe link leaves."""

    subscriber_id: int
    list_ids: tuple[int, ...]
    campaign_id: int | None = None


def campaign_unsubscribe_token(secret: str | bytes, subscriber_id: int, campaign_id: int) -> str:
    """The token in a campaign message's unsubscribe link and List-Unsubscribe header."""
    return make_token(secret, UNSUBSCRIBE_CAMPAIGN, subscriber_id, campaign_id)


def read_unsubscribe_token(
    session: Session, secret: str | bytes, token: str
) -> UnsubscribeLink | None:
    """The link behind ``token``, or None for a forged or mangled one."""
    ids = read_token(secret, UNSUBSCRIBE_CAMPAIGN, token, 2)
    if ids is not None:
        subscriber_id, campaign_id = ids
        return UnsubscribeLink(
            subscriber_id, _campaign_lists_of(session, subscriber_id, campaign_id), campaign_id
        )
    ids = read_token(secret, UNSUBSCRIBE, token, 2)
    if ids is not None:
        return UnsubscribeLink(ids[0], (ids[1],))
    return None


def _campaign_lists_of(session: Session, subscriber_id: int, campaign_id: int) -> tuple[int, ...]:
    # The campaign's lists this reader is (or was) on: the ones the message came through.
    rows = session.scalars(
        select(campaign_lists.c.list_id)
        .join(
            Membership,
            (Membership.list_id == campaign_lists.c.list_id)
            & (Membership.subscriber_id == subscriber_id),
        )
        .where(campaign_lists.c.campaign_id == campaign_id)
        .order_by(campaign_lists.c.list_id)
    )
    return tuple(int(list_id) for list_id in rows)


def lists_named(session: Session, link: UnsubscribeLink) -> list[MailingList]:
    """The lists of ``link`` that still exist, in id order (for the page's wording)."""
    if not link.list_ids:
        return []
    return list(
        session.scalars(
            select(MailingList).where(MailingList.id.in_(link.list_ids)).order_by(MailingList.id)
        )
    )
