"""The ground floor: every table of the service, and nothing else but the one owner of a
delivery's status (``service.model.delivery_states``, imported by its own name).

Domains take their tables from here, never from each other; importing this package loads
the whole schema (Alembic, ``Database`` and the tests rely on that).
"""

from service.model.accounts import (
    ApiToken,
    AuditEntry,
    RecoveryCode,
    Role,
    Setting,
    StaffSession,
    User,
)
from service.model.base import Base, UTCDateTime, utcnow
from service.model.campaigns import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Link,
    RecipientDomain,
    RelayProbe,
    SendClaim,
    campaign_lists,
)
from service.model.events import Engagement, Event, EventHour
from service.model.issues import Issue, IssueImage, IssueImport
from service.model.subscribers import (
    Consent,
    ImportJob,
    MailingList,
    Membership,
    MembershipStatus,
    Organisation,
    Segment,
    Subscriber,
    SubscriberStatus,
    SubscriberToken,
    Suppression,
    SuppressionReason,
    TokenPurpose,
    UnsubscribeUndo,
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
    "Engagement",
    "Event",
    "EventHour",
    "ImportJob",
    "Issue",
    "IssueImage",
    "IssueImport",
    "Link",
    "MailingList",
    "Membership",
    "MembershipStatus",
    "Organisation",
    "RecipientDomain",
    "RecoveryCode",
    "RelayProbe",
    "Role",
    "Segment",
    "SendClaim",
    "Setting",
    "StaffSession",
    "Subscriber",
    "SubscriberStatus",
    "SubscriberToken",
    "UnsubscribeUndo",
    "Suppression",
    "SuppressionReason",
    "TokenPurpose",
    "UTCDateTime",
    "User",
    "campaign_lists",
    "utcnow",
]
