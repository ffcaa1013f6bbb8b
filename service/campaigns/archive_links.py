"""Campaign mail links to its issue's archive page; that page must answer while the links live.

Every campaign message of an issue carries "view in browser" (and in excerpt mode a
"read more" link per article) pointing at ``/archive/<slug>``, which answers only while
the issue is published. So starting a campaign publishes the issue (unless staff keep it
private, and then the mail has no such links), and unpublishing an issue whose links are
live in sent mail first says what it would break.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.campaigns.content import ContentError
from service.issues import publishing, store
from service.model import Campaign, Delivery, DeliveryStatus, Issue

# Rows whose message left: its links are in a mailbox now.
WENT_OUT = (
    DeliveryStatus.SENT,
    DeliveryStatus.BOUNCED_SOFT,
    DeliveryStatus.COMPLAINED,
    DeliveryStatus.UNKNOWN,
)


@dataclass(frozen=True)
class SentCampaign:
    """A campaign of the issue whose messages went out."""

    id: int
    subject: str
    messages: int


@dataclass(frozen=True)
class LiveLinks:
    """What unpublishing an issue would break: the sent mail that links to its page."""

    campaigns: list[SentCampaign] = field(default_factory=list)

    @property
    def messages(self) -> int:
        """Messages in mailboxes whose archive links would answer "not found"."""
        return sum(c.messages for c in self.campaigns)


def live_links(session: Session, issue_id: int) -> LiveLinks:
    """The campaigns of the issue whose sent messages link to its archive page."""
    rows = session.execute(
        select(Campaign.id, Campaign.subject, func.count(Delivery.id))
        .join(Delivery, Delivery.campaign_id == Campaign.id)
        .where(
            Campaign.issue_id == issue_id,
            Delivery.status.in_([str(s) for s in WENT_OUT]),
        )
        .group_by(Campaign.id, Campaign.subject)
        .order_by(Campaign.id)
    ).all()
    return LiveLinks([SentCampaign(int(i), str(s), int(n)) for i, s, n in rows])


def publish_for_sending(session: Session, campaign: Campaign, user_id: int | None = None) -> bool:
    """Publish the campaign's issue so its mail's archive links answer; return whether
    the issue is (now) public. An issue kept private stays unpublished (its mail carries
    no archive links)."""
    if campaign.issue_id is None:
        return False
    issue = session.get(Issue, campaign.issue_id)
    if issue is None or issue.keep_private:
        return False
    if issue.published_at is None:
        try:
            publishing.publish(session, issue, user_id)
        except store.IssueEditError as exc:  # nothing to show, so nothing to send either
            raise ContentError(exc.code, exc.message) from exc
    return True
