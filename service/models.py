"""Every table, imported in one place so Alembic and tests see the whole schema."""

from service.accounts.models import ApiToken, AuditEntry, Role, Setting, User
from service.campaigns.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Link,
    campaign_lists,
)
from service.db import Base
from service.events.models import Event
from service.issues.models import Issue
from service.subscribers.models import (
    Consent,
    ImportJob,
    MailingList,
    Membership,
    MembershipStatus,
    Subscriber,
    SubscriberStatus,
    SubscriberToken,
    Suppression,
    SuppressionReason,
    TokenPurpose,
)

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Base",
    "Campaign",
    "CampaignStatus",
    "Consent",
    "Delivery",
    "DeliveryStatus",
    "Event",
    "ImportJob",
    "Issue",
    "Link",
    "MailingList",
    "Membership",
    "MembershipStatus",
    "Role",
    "Setting",
    "Subscriber",
    "SubscriberStatus",
    "SubscriberToken",
    "Suppression",
    "SuppressionReason",
    "TokenPurpose",
    "User",
    "campaign_lists",
]
