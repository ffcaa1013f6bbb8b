"""Issues in the database: their rows and lifecycle. A document imported as a new issue
(duplicates refused, a unique slug), the structure loaded and saved, the completeness
report, an unused issue deleted. Edits of the structure are in ``edits``, publishing and
the archive's addresses in ``publishing``, the admin preview in ``previews``.

Plain functions over a SQLAlchemy ``Session`` (DESIGN §2): the CLI, the admin views, the demo
loader and the tests call the same code. Callers commit; these functions only flush.

Articles are addressed by their ``anchor`` ("a1", "a2", …): it is unique in an issue, stays
the same when articles are moved, and is what the web archive and the excerpt-mode
「阅读全文」 links point at, so a link in an email already sent keeps working after a reorder.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date
from pathlib import PurePath
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from service.accounts.audit import audit
from service.errors import DomainError
from service.issues.importer import DocumentImportError, import_file, source_markdown
from service.issues.sentences import missing_sentences
from service.issues.structure import IssueDoc
from service.model import Campaign, Issue, utcnow

__all__ = [
    "ArticleNotFound",
    "DocumentImportError",
    "DuplicateIssue",
    "IssueEditError",
    "IssueInUse",
    "article_count",
    "campaigns_using",
    "completeness",
    "content_sha256",
    "create_issue_from_document",
    "delete_issue",
    "find_article",
    "find_duplicate",
    "issue_summary",
    "load_doc",
    "save_doc",
    "size_of_source",
    "unique_slug",
]

# An upload larger than this is not a newsletter; refuse it before parsing.
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
# Column sizes of the issues table (see service/issues/models.py).
MAX_SLUG_CHARS = 120
MAX_TITLE_CHARS = 300
MAX_NUMBER_CHARS = 120
MAX_FILENAME_CHARS = 300
# Room left in a slug for a "-N" suffix when the base is taken.
SLUG_BASE_CHARS = 100

_SLUG_JUNK = re.compile(r"[^a-z0-9]+")
_PARENTHESISED = re.compile(r"[(（][^)）]*[)）]")
_DIGITS = re.compile(r"\d+")


class IssueEditError(DomainError, ValueError):
    """An edit cannot be made; the message says why in words an editor understands."""


class ArticleNotFound(IssueEditError):
    """No article with that anchor in the issue (stale page, or deleted meanwhile)."""


class IssueInUse(IssueEditError):
    """The issue cannot be deleted: campaigns were made from it (their reports need it)."""


class DuplicateIssue(DomainError, ValueError):
    """The same document was imported before; import again only if that is really meant.

    ``params``: ``issue_id``, ``title``, ``number`` and ``imported_at`` of the existing issue.
    """

    @property
    def duplicate_of(self) -> int:
        """The id of the issue already imported from this document."""
        return int(self.params["issue_id"])


# ---- import -------------------------------------------------------------------------------------


def content_sha256(data: bytes) -> str:
    """The duplicate-detection hash of an uploaded document: SHA-256 of its bytes, in hex.

    The bytes, not the imported structure: the same file uploaded twice is byte for byte the
    same, so it always matches; the hash of a stored issue never changes when staff edit its
    articles or when the importer's rules improve (a hash of the structure would do both,
    and migration 0008 could not compute it for old rows without re-running the importer).
    The price: a .docx and its .md conversion, or a file saved again with other line
    endings, are not recognised as the same document; that is accepted.
    """
    return hashlib.sha256(data).hexdigest()


def find_duplicate(session: Session, data: bytes) -> Issue | None:
    """The oldest issue imported from exactly these bytes, or None."""
    return session.scalar(
        select(Issue)
        .options(defer(Issue.source_data))
        .where(Issue.content_sha256 == content_sha256(data))
        .order_by(Issue.id)
        .limit(1)
    )


def create_issue_from_document(
    session: Session,
    filename: str,
    data: bytes,
    user_id: int | None = None,
    *,
    allow_duplicate: bool = False,
) -> Issue:
    """Import ``data`` (a .md or .docx file called ``filename``) as a new, unpublished issue.

    The structure, title, number and a unique URL-safe slug come from the document; the
    original bytes stay attached. Raises :class:`DocumentImportError` (with a message for
    the editor) when the file cannot be imported, and :class:`DuplicateIssue` when the same
    document was imported before, unless ``allow_duplicate``; nothing is stored then.
    """
    name = PurePath(filename.replace("\\", "/")).name.strip()[:MAX_FILENAME_CHARS]
    if not name:
        raise DocumentImportError(
            "document.no_name", "The file has no name; import a .md or .docx file."
        )
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentImportError(
            "document.too_large",
            "The file is larger than %(mb)s MB.",
            mb=MAX_DOCUMENT_BYTES // (1024 * 1024),
        )
    existing = find_duplicate(session, data)
    if existing is not None and not allow_duplicate:
        raise DuplicateIssue(
            "issue.duplicate",
            "This document was already imported as issue %(issue_id)s "
            "(%(title)s %(number)s, imported %(imported_at)s).",
            issue_id=existing.id,
            title=existing.title,
            number=existing.number,
            imported_at=f"{existing.created_at:%Y-%m-%d %H:%M} UTC",
        )
    # A Word file is converted in a child process with a time and memory limit: this runs
    # in a web request (the admin, the API) and must answer, not hang or eat the server.
    doc = import_file(name, data, isolated=True)
    if not any(True for _ in doc.articles()):
        raise DocumentImportError("document.no_articles", "No articles were found in the document.")
    issue = Issue(
        slug=unique_slug(session, _slug_base(doc, name)),
        title=_issue_title(doc, name),
        number=(doc.number or "")[:MAX_NUMBER_CHARS],
        structure=doc.to_dict(),
        source_filename=name,
        source_data=data,
        content_sha256=content_sha256(data),
    )
    session.add(issue)
    session.flush()
    detail: dict[str, Any] = {"filename": name, "size": len(data)}
    if existing is not None:
        detail["duplicate_of"] = existing.id  # imported again on purpose
    audit(session, user_id, "issue.import", "issue", issue.id, **detail)
    return issue


def campaigns_using(session: Session, issue_id: int) -> list[Campaign]:
    """The campaigns made from the issue (any state, cancelled ones too), oldest first."""
    return list(
        session.scalars(select(Campaign).where(Campaign.issue_id == issue_id).order_by(Campaign.id))
    )


def delete_issue(
    session: Session, issue: Issue, user_id: int | None = None, ip: str | None = None
) -> None:
    """Delete an issue that no campaign was made from (an unwanted or duplicate import).

    An issue a campaign used stays: the campaign's page, its report and the archive link in
    mail already sent need it. Raises :class:`IssueInUse` naming those campaigns.
    """
    used = campaigns_using(session, issue.id)
    if used:
        raise IssueInUse(
            "issue.in_use",
            "Issue %(issue_id)s cannot be deleted: it is used by campaign(s) %(campaigns)s.",
            issue_id=issue.id,
            campaigns=", ".join(f"#{c.id} “{c.subject}”" for c in used),
            campaign_ids=[c.id for c in used],
        )
    audit(
        session,
        user_id,
        "issue.delete",
        "issue",
        issue.id,
        ip,
        title=issue.title,
        number=issue.number,
        slug=issue.slug,
        filename=issue.source_filename,
    )
    session.delete(issue)
    session.flush()


def _issue_title(doc: IssueDoc, filename: str) -> str:
    return (doc.journal or PurePath(filename).stem or "Issue")[:MAX_TITLE_CHARS]


def _ascii_slug(text: str) -> str:
    # NFKD turns "Café" into "Cafe" and full-width digits into ASCII; CJK drops out (a
    # pinyin transliteration is not worth a dependency: the filename or number is used then).
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _SLUG_JUNK.sub("-", ascii_text.lower()).strip("-")


def _number_slug(number: str | None) -> str:
    # "2026 年第 1 期 (总第 14 期)" → "2026-1": the running total in brackets is redundant.
    digits = _DIGITS.findall(_PARENTHESISED.sub("", unicodedata.normalize("NFKC", number or "")))
    return "-".join(str(int(d)) for d in digits)


def _slug_base(doc: IssueDoc, filename: str) -> str:
    """journal-number for Latin journal names, else the file name, else number or date."""
    journal = _ascii_slug(doc.journal)
    number = _number_slug(doc.number)
    if journal:
        base = f"{journal}-{number}" if number else journal
    else:
        base = _ascii_slug(PurePath(filename).stem) or number
    if not base or base.isdigit():
        base = f"issue-{base or date.today().isoformat()}"
    return base[:SLUG_BASE_CHARS].strip("-")


def unique_slug(session: Session, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``, … whichever is not yet taken by an issue."""
    taken = set(
        session.scalars(
            select(Issue.slug).where((Issue.slug == base) | Issue.slug.like(f"{base}-%"))
        )
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


# ---- the structured issue -----------------------------------------------------------------------


def load_doc(issue: Issue) -> IssueDoc:
    """The issue's structure as an :class:`IssueDoc` (empty for an issue never imported)."""
    return IssueDoc.from_dict(issue.structure or {})


def save_doc(session: Session, issue: Issue, doc: IssueDoc) -> None:
    """Store ``doc`` as the issue's structure (and keep title and number in step)."""
    issue.structure = doc.to_dict()
    if doc.journal:
        issue.title = doc.journal[:MAX_TITLE_CHARS]
    issue.number = (doc.number or "")[:MAX_NUMBER_CHARS]
    issue.updated_at = utcnow()
    session.flush()


def issue_summary(issue: Issue) -> dict[str, Any]:
    """``{id, slug, title, number, sections: [{title, articles: [{title, source}]}]}`` (§7)."""
    doc = load_doc(issue)
    return {
        "id": issue.id,
        "slug": issue.slug,
        "title": issue.title,
        "number": issue.number,
        "sections": [
            {
                "title": s.title,
                "articles": [{"title": a.title, "source": a.source} for a in s.articles],
            }
            for s in doc.sections
        ],
    }


def article_count(issue: Issue) -> int:
    """How many articles the issue has."""
    return sum(1 for _ in load_doc(issue).articles())


def find_article(doc: IssueDoc, anchor: str) -> tuple[int, int]:
    """``(section index, article index)`` of the article with ``anchor``."""
    for si, section in enumerate(doc.sections):
        for ai, article in enumerate(section.articles):
            if article.anchor == anchor:
                return si, ai
    raise ArticleNotFound("issue.article_gone", "That article no longer exists; reload the page.")


# ---- article edits ------------------------------------------------------------------------------


# ---- sections -----------------------------------------------------------------------------------


# ---- the issue's own details --------------------------------------------------------------------


# ---- publishing and completeness ----------------------------------------------------------------


def completeness(issue: Issue) -> list[str]:
    """Sentences of the original document that are not in the issue as it is now.

    Empty proves nothing was lost. Sentences removed on purpose (print furniture the importer
    dropped, deleted articles) are in ``load_doc(issue).removed`` and are not listed here.
    An issue without an attached original has nothing to compare: empty too.
    """
    if not issue.source_data:
        return []
    source = source_markdown(issue.source_filename, issue.source_data)
    return missing_sentences(source, load_doc(issue))


def size_of_source(session: Session, issue_ids: list[int]) -> dict[int, int]:
    """Bytes of these issues' original documents, by issue id, without loading the bytes."""
    rows = session.execute(
        select(Issue.id, func.length(Issue.source_data)).where(Issue.id.in_(issue_ids))
    )
    return {issue_id: int(size or 0) for issue_id, size in rows}


# ---- preview ------------------------------------------------------------------------------------
