"""Tables of the audience: lists, subscribers, memberships, suppressions, consent, tokens."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.model.base import Base, UTCDateTime, utcnow


class SubscriberStatus(enum.StrEnum):
    """A person's standing across all lists."""

    ENABLED = "enabled"
    UNSUBSCRIBED = "unsubscribed"  # from everything
    ERASED = "erased"  # personal data removed; a hash stays in suppressions


class MembershipStatus(enum.StrEnum):
    """A person's standing on one list (double opt-in starts unconfirmed)."""

    UNCONFIRMED = "unconfirmed"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"


class SuppressionReason(enum.StrEnum):
    """Why an address must never be mailed."""

    UNSUBSCRIBED = "unsubscribed"
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complaint"
    MANUAL = "manual"
    ERASED = "erased"


class TokenPurpose(enum.StrEnum):
    """What a subscriber token lets its bearer do."""

    CONFIRM = "confirm"  # single use, expires
    UNSUBSCRIBE = "unsubscribe"  # never expires (RFC 8058 links live as long as the mail)
    PREFERENCES = "preferences"


class MailingList(Base):
    """A list people subscribe to."""

    __tablename__ = "lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    double_opt_in: Mapped[bool] = mapped_column(Boolean, default=True)
    # Offered on /subscribe and embeddable on other sites; a private list (the default)
    # takes members only from staff (import, admin pages, API).
    public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Organisation(Base):
    """A member company of the association; its people are subscribers.

    ``name_key`` is the name folded for matching (NFKC, spaces collapsed, Latin
    case-folded: ``service.subscribers.organisation_names``) and is what makes two
    spellings one organisation; ``name`` is the first spelling seen, as shown.
    """

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(400), unique=True)
    # 会长单位, 副会长单位, 理事单位, 会员单位 … or empty when not known.
    level: Mapped[str] = mapped_column(String(32), default="", server_default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Segment(Base):
    """A saved, named filter on the audience, reusable by many campaigns.

    ``conditions`` is structured JSON, never SQL: a list of conditions that must all hold,
    each of a closed set of kinds (``service.subscribers.segments`` checks and applies
    them). A campaign with a segment mails the members of its lists who match it, judged
    when its delivery rows are made.
    """

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Subscriber(Base):
    """One person (one address), whatever lists they are on."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Case-folded, as entered otherwise (an IDN domain stays in U-label form here).
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # The form that goes on the wire: IDN domain as A-label. Equal to email for ASCII.
    email_ascii: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # The organisation as the person or the import file spelt it (searched, exported);
    # organisation_id is the organisation it was matched to by its folded name.
    organisation: Mapped[str] = mapped_column(String(200), default="")
    # No ON DELETE action: an organisation with people linked is not deleted by accident
    # (and SQLite could only add the key in place, without an action its reflection sees).
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id"), nullable=True, index=True
    )
    language: Mapped[str] = mapped_column(String(16), default="zh-CN")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=SubscriberStatus.ENABLED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="subscriber")

    __table_args__ = (
        Index("ix_subscribers_name", "name"),
        Index("ix_subscribers_organisation", "organisation"),
        Index("ix_subscribers_status_id", "status", "id"),
    )


class Membership(Base):
    """A subscriber on a list, with the state of their consent for it."""

    __tablename__ = "memberships"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    list_id: Mapped[int] = mapped_column(
        ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16), default=MembershipStatus.UNCONFIRMED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    subscriber: Mapped[Subscriber] = relationship(back_populates="memberships")

    # Materialising a campaign walks one list's active members in id order (keyset).
    __table_args__ = (
        Index("ix_memberships_list_status_sub", "list_id", "status", "subscriber_id"),
    )


class Suppression(Base):
    """An address that must never be mailed, whoever asks.

    Looked up by ``email_hash`` (SHA-256 of the case-folded address) so that the row
    still works after the person's data has been erased.
    """

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    reason: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Consent(Base):
    """Append-only evidence of what a person agreed to or withdrew, and how."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Plain ids, no foreign keys: the log outlives what it names, and a referential check
    # per row doubled the server's cost of an import (migration 0006).
    subscriber_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    list_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(32))  # subscribe, confirm, unsubscribe, ...
    source: Mapped[str] = mapped_column(String(32))  # form, import, admin, one-click, api
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(500), nullable=True)
    consent_text_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SubscriberToken(Base):
    """A short opaque token in a link: confirm, unsubscribe or preferences.

    Kept short (≤ 32 characters) so the List-Unsubscribe URL is never folded.
    """

    __tablename__ = "subscriber_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    list_id: Mapped[int | None] = mapped_column(
        ForeignKey("lists.id", ondelete="CASCADE"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        UniqueConstraint(
            "purpose", "subscriber_id", "list_id", name="uq_subscriber_tokens_purpose_sub_list"
        ),
    )


class UnsubscribeUndo(Base):
    """The undo an unsubscribe page offers: the lists one unsubscribe link just left.

    Keyed by the SHA-256 of the (stateless, never expiring) unsubscribe token, so the undo
    button POSTs that same token; ``used_at`` makes the undo single-use.
    """

    __tablename__ = "unsubscribe_undos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    # The lists that were active until this unsubscribe (only those come back).
    list_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # "Leave everything": the undo also lifts the suppression that came with it.
    everything: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ImportJob(Base):
    """One subscriber import: its progress while it runs and its report afterwards."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int | None] = mapped_column(
        ForeignKey("lists.id", ondelete="SET NULL"), nullable=True
    )
    filename: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    mode: Mapped[str] = mapped_column(String(16), default="add")  # add | upsert
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    encoding: Mapped[str | None] = mapped_column(String(32), nullable=True)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
