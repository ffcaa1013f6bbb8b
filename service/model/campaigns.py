"""Tables of sending: campaigns, the per-recipient delivery ledger, and tracked links."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.errors import Message
from service.model.base import Base, UTCDateTime, utcnow


class CampaignStatus(enum.StrEnum):
    """Campaign states (DESIGN §4); every transition is one guarded UPDATE."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    CANCELLED = "cancelled"


class DeliveryStatus(enum.StrEnum):
    """Delivery states (DESIGN §4)."""

    # Made ahead by `campaign render` for a campaign not yet materialized, so that the
    # file it writes has the Message-ID and links later sent; materialize turns it into
    # `pending`, or removes it when the subscriber is no longer in the audience.
    RESERVED = "reserved"
    PENDING = "pending"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    RETRY_DUE = "retry_due"
    FAILED = "failed"
    UNKNOWN = "unknown"  # was sending when its worker vanished; never re-sent by itself
    SKIPPED = "skipped"  # suppressed or cancelled before it went out
    BOUNCED_SOFT = "bounced_soft"
    BOUNCED_HARD = "bounced_hard"
    COMPLAINED = "complained"


campaign_lists = Table(
    "campaign_lists",
    Base.metadata,
    Column("campaign_id", ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    Column("list_id", ForeignKey("lists.id", ondelete="RESTRICT"), primary_key=True),
)


class Campaign(Base):
    """One issue sent to an audience at a time."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int | None] = mapped_column(
        ForeignKey("issues.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(String(300), default="")
    subject: Mapped[str] = mapped_column(String(300))
    preheader: Mapped[str] = mapped_column(String(300), default="")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    from_addr: Mapped[str] = mapped_column(String(320))
    reply_to: Mapped[str | None] = mapped_column(String(320), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.DRAFT, index=True)
    tracking: Mapped[bool] = mapped_column(Boolean, default=True)
    content_mode: Mapped[str] = mapped_column(String(16), default="auto")  # full|excerpt|auto
    # A plain HTML body, for campaigns not made from an issue.
    body_html: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The compiled per-recipient template, rendered once when sending starts.
    compiled: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Why the campaign is in its state: English text (the API and the command line show
    # it), and the same as a code with parameters so the admin can translate it. Rows
    # from before the code existed have only the text.
    status_reason: Mapped[str] = mapped_column(Text, default="")
    status_code: Mapped[str] = mapped_column(String(64), default="")
    status_params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    materialized_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The error brake's self-healing (``campaigns.healing``): when the next probe of the
    # relay is due (None: no probe waits; every transition clears it) and how many probes
    # this trip of the brake has made so far.
    probe_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    probe_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    recipients_total: Mapped[int] = mapped_column(Integer, default=0)
    # The saved filter on the lists' members (None: every member). Judged when the rows
    # are made, not when the campaign is created. No ON DELETE action: a segment in use
    # is not deleted (``segments.delete_segment`` refuses, or unlinks finished campaigns),
    # and SQLite adds the key in place only without one (migration 0017).
    segment_id: Mapped[int | None] = mapped_column(
        ForeignKey("segments.id"), nullable=True, index=True
    )
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def status_message(self) -> Message:
        """Why the campaign is in its state, for the reader's language (may be empty)."""
        return Message.load(
            {"code": self.status_code, "text": self.status_reason, "params": self.status_params}
        )


class Delivery(Base):
    """One recipient of one campaign: the ledger row that makes sending exactly-once."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), nullable=True, index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # How often staff chose "resend unknown" for this row, and when last: a resent row
    # may have reached its recipient twice (with the same Message-ID), so the report
    # counts these apart.
    resends: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    resent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The ``send_claims`` row of the batch that holds (or last held) this row ``sending``:
    # when that batch's worker stops beating, the sweep settles its rows (``claims``).
    # No foreign key: a claim is deleted when its batch ends, its rows are done by then.
    claim_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)

    __table_args__ = (
        UniqueConstraint("campaign_id", "subscriber_id", name="uq_deliveries_campaign_subscriber"),
        Index("ix_deliveries_campaign_status_id", "campaign_id", "status", "id"),
    )


class RelayProbe(Base):
    """One probe of the relay made while the error brake held a campaign paused: when,
    whether the relay answered, and what it said (shown on the campaign page)."""

    __tablename__ = "relay_probes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    # The relay's answer (or why there was none), as the relay gave it.
    reply: Mapped[str] = mapped_column(Text, default="")


class SendClaim(Base):
    """One claimed batch while its worker sends it: who holds it, and its heartbeat.

    The worker refreshes ``beat_at`` from a thread every few seconds (a slow SMTP reply
    does not stop it); a claim whose beat is older than the sending settings'
    ``worker_dead_seconds`` belonged to a worker that died, and the sweep settles its rows
    from the begun marks kept in Redis under ``token`` (``service.campaigns.claims``).
    """

    __tablename__ = "send_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer)
    # Names the Redis list of begun marks; also which process holds it, for the logs.
    token: Mapped[str] = mapped_column(String(200), unique=True)
    # The Redis server's run_id when the marks list was made (None: no Redis then). A
    # different run_id at the sweep means Redis restarted: the marks may be incomplete.
    redis_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Link(Base):
    """A link in a campaign's content, stored at render time; clicks redirect only here."""

    __tablename__ = "links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)
    article_anchor: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        UniqueConstraint("campaign_id", "position", name="uq_links_campaign_position"),
    )


class RecipientDomain(Base):
    """What the MX of a company recipient domain says about its mailbox provider, kept so
    that a report does not look up thousands of domains on every view
    (``service.mail.providers``). Consumer domains (qq.com, 163.com, …) are never stored:
    a table in the code names their provider."""

    __tablename__ = "recipient_domains"

    # The domain as addresses store it: lower-case, an IDN as its U-label.
    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    # A provider code (``providers.PROVIDERS``), or the domain itself when its MX matches
    # no known host; empty while ``resolved`` is false.
    provider: Mapped[str] = mapped_column(String(255), default="")
    # The MX host that decided it (the most preferred one), "" when the domain has none.
    mx: Mapped[str] = mapped_column(String(255), default="")
    # False: no DNS server answered (or it sees no public name); looked up again later.
    resolved: Mapped[bool] = mapped_column(Boolean, default=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
