"""Tables of the content: issues of the journal (structured) and their source files."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, LargeBinary, String, false
from sqlalchemy.orm import Mapped, mapped_column

from service.model.base import Base, UTCDateTime, utcnow


class Issue(Base):
    """One issue of the journal, as imported and then reviewed by staff."""

    __tablename__ = "issues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    number: Mapped[str] = mapped_column(String(120), default="")
    # The structured issue (sections → articles) as JSON; empty until imported.
    structure: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The original document stays attached so staff can always go back to it.
    source_filename: Mapped[str] = mapped_column(String(300), default="")
    source_data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # SHA-256 (hex) of source_data, so uploading the same file again is noticed (see
    # store.content_sha256 for why the bytes and not the imported structure).
    content_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Kept out of the public archive on purpose (e.g. members only): its campaigns go out
    # in full, with no "view in browser" or "read more" links, since no page answers them.
    keep_private: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class IssueImport(Base):
    """A heavy document upload waiting for (or done by) the worker: the admin's page polls
    it and shows the result (the new issue, the reason it failed, or the duplicate)."""

    __tablename__ = "issue_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    filename: Mapped[str] = mapped_column(String(300))
    # queued → running → done | failed | duplicate (→ queued again on "import anyway")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    allow_duplicate: Mapped[bool] = mapped_column(Boolean, default=False)
    issue_id: Mapped[int | None] = mapped_column(
        ForeignKey("issues.id", ondelete="SET NULL"), nullable=True
    )
    # Why it failed or was refused as a duplicate (a ``Message.dump()``), and which issue.
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    duplicate_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IssueImage(Base):
    """An image uploaded into an article, served to mail readers at a public address.

    The address carries ``token`` (random, so the images of unpublished issues cannot be
    listed by counting ids). A row outlives its removal from the article's Markdown: mail
    already sent still shows it.
    """

    __tablename__ = "issue_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    # A safe ASCII file name (the last part of the address), e.g. "harbour.png".
    filename: Mapped[str] = mapped_column(String(120))
    mime: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    alt: Mapped[str] = mapped_column(String(300))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
