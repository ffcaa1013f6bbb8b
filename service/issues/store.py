"""Issues in the database: import a document, review and edit its articles, publish it.

Plain functions over a SQLAlchemy ``Session`` (DESIGN §2): the CLI, the admin views, the demo
loader and the tests call the same code. Callers commit; these functions only flush.

Articles are addressed by their ``anchor`` ("a1", "a2", …): it is unique in an issue, stays
the same when articles are moved, and is what the web archive and the excerpt-mode
「阅读全文」 links point at, so a link in an email already sent keeps working after a reorder.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import PurePath
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from service.accounts.audit import audit
from service.config import Settings
from service.errors import DomainError
from service.issues.blocks import strip_controls
from service.issues.importer import (
    DocumentImportError,
    import_file,
    missing_sentences,
    source_markdown,
)
from service.issues.render import (
    DEFAULT_MAX_HTML_BYTES,
    Layout,
    Mode,
    RenderedIssue,
    render_issue,
)
from service.issues.structure import Article, IssueDoc, Section
from service.model import Campaign, Issue, utcnow

__all__ = [
    "ArticleNotFound",
    "DocumentImportError",
    "DuplicateIssue",
    "IssueEditError",
    "IssueInUse",
    "Preview",
    "add_article",
    "archive_url",
    "campaigns_using",
    "completeness",
    "content_sha256",
    "create_issue_from_document",
    "delete_article",
    "deleted_article",
    "delete_issue",
    "find_article",
    "find_duplicate",
    "issue_summary",
    "load_doc",
    "move_article",
    "move_article_to_section",
    "move_section",
    "parse_issue_date",
    "preview",
    "publish",
    "rename_section",
    "render_for_preview",
    "save_doc",
    "unpublish",
    "undo_delete",
    "unique_slug",
    "update_article",
    "update_cover_lines",
    "update_details",
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
MAX_ARTICLE_TITLE_CHARS = 500
MAX_SOURCE_CHARS = 300
# The printed cover has a handful of short lines; more is text pasted into the wrong box.
MAX_COVER_LINES = 20
MAX_COVER_LINE_CHARS = 200
# Preview: who the sample message is addressed to, and the slot values used (never a real
# subscriber's data).
SAMPLE_NAME = "会员"
SAMPLE_EMAIL = "member@example.org"
SAMPLE_LINK = "#"
# A 1×1 transparent GIF: the open pixel of a preview must not call the tracking endpoint.
SAMPLE_PIXEL = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="
SAMPLE_LIST_LABEL = "newsletter"
PREVIEW_CACHE_SIZE = 8
MAX_SECTION_TITLE_CHARS = 200
# Deleted articles kept for "undo", the newest first to go back.
KEEP_DELETED = 5
UNDO_KEY_BYTES = 9

_SLUG_JUNK = re.compile(r"[^a-z0-9]+")
_PARENTHESISED = re.compile(r"[(（][^)）]*[)）]")
_DIGITS = re.compile(r"\d+")
_ANCHOR_NUMBER = re.compile(r"a(\d+)\Z")
# 2026-03-31, 2026/3/31, 2026.3.31, 2026年3月31日; the day may be left out.
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*(?:(?:月|[-/.])\s*(\d{1,2})\s*日?|月)?")

Direction = Literal["up", "down"]


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


def move_article(
    session: Session, issue: Issue, anchor: str, direction: Direction, user_id: int | None = None
) -> None:
    """Move an article one place up or down; at a section's edge it crosses into the
    neighbouring section (last place of the previous one, first place of the next one)."""
    doc = load_doc(issue)
    si, ai = find_article(doc, anchor)
    articles = doc.sections[si].articles
    if direction == "up":
        if ai > 0:
            articles[ai - 1], articles[ai] = articles[ai], articles[ai - 1]
        elif si > 0:
            doc.sections[si - 1].articles.append(articles.pop(ai))
        else:
            raise IssueEditError("issue.already_first", "The article is already the first one.")
    elif direction == "down":
        if ai < len(articles) - 1:
            articles[ai + 1], articles[ai] = articles[ai], articles[ai + 1]
        elif si < len(doc.sections) - 1:
            doc.sections[si + 1].articles.insert(0, articles.pop(ai))
        else:
            raise IssueEditError("issue.already_last", "The article is already the last one.")
    else:
        raise IssueEditError("issue.bad_direction", "Unknown direction.")
    save_doc(session, issue, doc)
    audit(session, user_id, "issue.article.move", "issue", issue.id, anchor=anchor, to=direction)


def _clean_fields(title: str, body: str, source: str | None) -> tuple[str, str, str | None]:
    title = " ".join((title or "").split())
    body = (body or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    clean_source = " ".join((source or "").split()) or None
    if not title:
        raise IssueEditError("issue.no_title", "An article needs a title.")
    if len(title) > MAX_ARTICLE_TITLE_CHARS:
        raise IssueEditError(
            "issue.title_too_long",
            "The title is longer than %(max)s characters.",
            max=MAX_ARTICLE_TITLE_CHARS,
        )
    if clean_source and len(clean_source) > MAX_SOURCE_CHARS:
        raise IssueEditError(
            "issue.source_too_long",
            "The source is longer than %(max)s characters.",
            max=MAX_SOURCE_CHARS,
        )
    return title, body, clean_source


def update_article(
    session: Session,
    issue: Issue,
    anchor: str,
    *,
    title: str,
    body: str,
    source: str | None,
    user_id: int | None = None,
) -> Article:
    """Replace an article's title, Markdown body and source line."""
    title, body, source = _clean_fields(title, body, source)
    doc = load_doc(issue)
    si, ai = find_article(doc, anchor)
    article = doc.sections[si].articles[ai]
    article.title, article.body = title, body
    if source != article.source:
        article.source, article.source_url = source, None
    save_doc(session, issue, doc)
    audit(session, user_id, "issue.article.edit", "issue", issue.id, anchor=anchor)
    return article


def delete_article(
    session: Session, issue: Issue, anchor: str, user_id: int | None = None
) -> tuple[Article, str]:
    """Remove an article; return it and the key that undoes the deletion.

    Its text goes to ``doc.removed``: the completeness report then lists it as removed on
    purpose instead of lost. A copy and its place are kept in ``doc.deleted`` (the last
    :data:`KEEP_DELETED` deletions) for :func:`undo_delete`.
    """
    doc = load_doc(issue)
    si, ai = find_article(doc, anchor)
    article = doc.sections[si].articles.pop(ai)
    parts = [
        part
        for part in (
            article.title,
            article.body,
            (article.source_label or "") + (article.source or ""),
        )
        if part
    ]
    doc.removed.extend(parts)
    key = secrets.token_urlsafe(UNDO_KEY_BYTES)
    doc.deleted.append(
        {
            "key": key,
            "section": si,
            "position": ai,
            "article": article.to_dict(),
            "removed": parts,
        }
    )
    del doc.deleted[:-KEEP_DELETED]
    save_doc(session, issue, doc)
    audit(session, user_id, "issue.article.delete", "issue", issue.id, anchor=anchor)
    return article, key


def deleted_article(issue: Issue, key: str) -> Article | None:
    """The deleted article that ``key`` can still bring back, or None."""
    kept = next((d for d in load_doc(issue).deleted if d.get("key") == key), None)
    return Article.from_dict(kept["article"]) if kept else None


def undo_delete(session: Session, issue: Issue, key: str, user_id: int | None = None) -> Article:
    """Put a deleted article back in its place (once: the kept copy is used up).

    Its place is the section and position it had; when the sections changed since, the
    nearest that still exists. Raises :class:`IssueEditError` when there is nothing to
    undo any more (already undone, or too many deletions since).
    """
    doc = load_doc(issue)
    kept = next((d for d in doc.deleted if d.get("key") == key), None)
    if kept is None:
        raise IssueEditError(
            "issue.undo_gone", "There is nothing to undo any more; the deletion stays."
        )
    doc.deleted.remove(kept)
    article = Article.from_dict(kept["article"])
    if any(a.anchor == article.anchor for _, a in doc.articles()):
        article.anchor = _next_anchor(doc)  # cannot happen through the admin; stay unique
    if not doc.sections:
        doc.sections.append(Section(title="", articles=[]))
    section = doc.sections[min(int(kept.get("section", 0)), len(doc.sections) - 1)]
    section.articles.insert(min(int(kept.get("position", 0)), len(section.articles)), article)
    for part in kept.get("removed", []):
        if part in doc.removed:  # the last copy: the one this deletion added
            del doc.removed[len(doc.removed) - 1 - doc.removed[::-1].index(part)]
    save_doc(session, issue, doc)
    audit(session, user_id, "issue.article.undelete", "issue", issue.id, anchor=article.anchor)
    return article


def move_article_to_section(
    session: Session, issue: Issue, anchor: str, section_index: int, user_id: int | None = None
) -> None:
    """Move an article to the end of section ``section_index``."""
    doc = load_doc(issue)
    si, ai = find_article(doc, anchor)
    target = _section(doc, section_index)
    target.articles.append(doc.sections[si].articles.pop(ai))
    save_doc(session, issue, doc)
    audit(
        session,
        user_id,
        "issue.article.move",
        "issue",
        issue.id,
        anchor=anchor,
        to_section=section_index,
    )


def update_cover_lines(
    session: Session, issue: Issue, text: str, user_id: int | None = None
) -> list[str]:
    """Replace the issue's cover lines (metadata, never mailed) with the lines of ``text``.

    One line each; blank lines are dropped and spaces squashed. A line taken out goes to
    ``doc.removed`` like a deleted article, so completeness lists it as removed on purpose.
    """
    raw = strip_controls((text or "").replace("\r\n", "\n").replace("\r", "\n"))
    lines = [" ".join(line.split()) for line in raw.split("\n")]
    lines = [line for line in lines if line]
    if len(lines) > MAX_COVER_LINES:
        raise IssueEditError(
            "issue.cover_too_many", "Keep the cover to %(max)s lines.", max=MAX_COVER_LINES
        )
    if any(len(line) > MAX_COVER_LINE_CHARS for line in lines):
        raise IssueEditError(
            "issue.cover_line_too_long",
            "A cover line is longer than %(max)s characters.",
            max=MAX_COVER_LINE_CHARS,
        )
    doc = load_doc(issue)
    doc.removed.extend(
        line for line in doc.cover_lines if line not in lines and line not in doc.removed
    )
    doc.cover_lines = lines
    save_doc(session, issue, doc)
    audit(session, user_id, "issue.cover.edit", "issue", issue.id, lines=len(lines))
    return lines


def _next_anchor(doc: IssueDoc) -> str:
    # The anchors of deleted articles kept for undo count too: undoing must not meet a
    # new article that took its anchor.
    anchors = [a.anchor for _, a in doc.articles()]
    anchors += [str(d.get("article", {}).get("anchor", "")) for d in doc.deleted]
    numbers = [int(m.group(1)) for anchor in anchors if (m := _ANCHOR_NUMBER.match(anchor))]
    return f"a{max(numbers, default=0) + 1}"


def add_article(
    session: Session,
    issue: Issue,
    section_index: int,
    *,
    title: str,
    body: str,
    source: str | None = None,
    user_id: int | None = None,
) -> Article:
    """Append a new article to section ``section_index`` (an issue without sections gets
    one untitled section)."""
    title, body, source = _clean_fields(title, body, source)
    doc = load_doc(issue)
    if not doc.sections:
        doc.sections.append(Section(title="", articles=[]))
    article = Article(title=title, body=body, source=source, anchor=_next_anchor(doc))
    _section(doc, section_index).articles.append(article)
    save_doc(session, issue, doc)
    audit(session, user_id, "issue.article.add", "issue", issue.id, anchor=article.anchor)
    return article


# ---- sections -----------------------------------------------------------------------------------


def _section(doc: IssueDoc, index: int, expected_title: str | None = None) -> Section:
    """Section ``index``; with ``expected_title``, only if it still has that title (the
    page the editor sees may be older than the last reorder)."""
    if not 0 <= index < len(doc.sections) or (
        expected_title is not None and doc.sections[index].title != expected_title
    ):
        raise IssueEditError(
            "issue.section_gone", "That section no longer exists; reload the page."
        )
    return doc.sections[index]


def rename_section(
    session: Session,
    issue: Issue,
    index: int,
    title: str,
    *,
    expected_title: str | None = None,
    user_id: int | None = None,
) -> Section:
    """Give section ``index`` a new name (spaces squashed; an empty name is refused)."""
    clean = " ".join(strip_controls(title or "").split())
    if not clean:
        raise IssueEditError("issue.section_no_title", "A section needs a name.")
    if len(clean) > MAX_SECTION_TITLE_CHARS:
        raise IssueEditError(
            "issue.section_title_too_long",
            "The section name is longer than %(max)s characters.",
            max=MAX_SECTION_TITLE_CHARS,
        )
    doc = load_doc(issue)
    section = _section(doc, index, expected_title)
    old, section.title = section.title, clean
    save_doc(session, issue, doc)
    audit(session, user_id, "issue.section.rename", "issue", issue.id, old=old, new=clean)
    return section


def move_section(
    session: Session,
    issue: Issue,
    index: int,
    direction: Direction,
    *,
    expected_title: str | None = None,
    user_id: int | None = None,
) -> None:
    """Swap section ``index`` with the one before (``up``) or after it (``down``)."""
    doc = load_doc(issue)
    _section(doc, index, expected_title)
    other = index - 1 if direction == "up" else index + 1
    if direction not in ("up", "down"):
        raise IssueEditError("issue.bad_direction", "Unknown direction.")
    if not 0 <= other < len(doc.sections):
        if direction == "up":
            raise IssueEditError(
                "issue.section_already_first", "The section is already the first one."
            )
        raise IssueEditError("issue.section_already_last", "The section is already the last one.")
    doc.sections[index], doc.sections[other] = doc.sections[other], doc.sections[index]
    save_doc(session, issue, doc)
    audit(
        session,
        user_id,
        "issue.section.move",
        "issue",
        issue.id,
        section=doc.sections[other].title,
        to=direction,
    )


# ---- the issue's own details --------------------------------------------------------------------


def parse_issue_date(text: str) -> str | None:
    """The publication date typed by an editor, as ``YYYY-MM-DD`` (or ``YYYY-MM`` for a
    month), None when empty. "2026-3-5", "2026/03/05", "2026年3月5日" are all understood.

    Raises :class:`IssueEditError` for anything else or a day the calendar has not.
    """
    raw = unicodedata.normalize("NFKC", text or "").strip()
    if not raw:
        return None
    match = _DATE.fullmatch(raw)
    if match is None:
        raise IssueEditError("issue.bad_date", "Write the date as year-month-day, e.g. 2026-03-31.")
    year, month, day = (int(g) if g else None for g in match.groups())
    try:
        date(year or 0, month or 0, day or 1)
    except ValueError:
        raise IssueEditError(
            "issue.no_such_date", "There is no such day as %(date)s.", date=raw
        ) from None
    return f"{year:04d}-{month:02d}" + (f"-{day:02d}" if day else "")


def update_details(
    session: Session,
    issue: Issue,
    *,
    title: str,
    number: str,
    issue_date: str,
    user_id: int | None = None,
) -> None:
    """Change the issue's title (the journal's name in the masthead), number (期号) and
    publication date. The slug stays: archive links in mail already sent use it.

    A date not changed is kept as it was imported, even in a form :func:`parse_issue_date`
    would not take ("2026 年 3 月"), so saving the other fields never loses it.
    """
    clean_title = " ".join(strip_controls(title or "").split())
    clean_number = " ".join(strip_controls(number or "").split())
    if not clean_title:
        raise IssueEditError("issue.no_issue_title", "The issue needs a title.")
    if len(clean_title) > MAX_TITLE_CHARS:
        raise IssueEditError(
            "issue.title_too_long",
            "The title is longer than %(max)s characters.",
            max=MAX_TITLE_CHARS,
        )
    if len(clean_number) > MAX_NUMBER_CHARS:
        raise IssueEditError(
            "issue.number_too_long",
            "The number is longer than %(max)s characters.",
            max=MAX_NUMBER_CHARS,
        )
    doc = load_doc(issue)
    typed = (issue_date or "").strip()
    new_date = doc.date if typed == (doc.date or "") else parse_issue_date(typed)
    doc.journal, doc.number, doc.date = clean_title, clean_number or None, new_date
    save_doc(session, issue, doc)
    issue.title = clean_title
    audit(
        session,
        user_id,
        "issue.details.edit",
        "issue",
        issue.id,
        title=clean_title,
        number=clean_number,
        date=new_date,
    )


# ---- publishing and completeness ----------------------------------------------------------------


def publish(session: Session, issue: Issue, user_id: int | None = None) -> None:
    """Show the issue in the public web archive (keeps the first publication time)."""
    if not any(True for _ in load_doc(issue).articles()):
        raise IssueEditError(
            "issue.publish_empty", "An issue without articles cannot be published."
        )
    if issue.published_at is None:
        issue.published_at = utcnow()
    issue.keep_private = False
    session.flush()
    audit(session, user_id, "issue.publish", "issue", issue.id)


def unpublish(
    session: Session, issue: Issue, user_id: int | None = None, *, keep_private: bool = False
) -> None:
    """Take the issue out of the public web archive; ``keep_private`` also keeps it out
    when a campaign of it starts (its mail then goes out in full, with no archive links)."""
    issue.published_at = None
    issue.keep_private = keep_private
    session.flush()
    audit(
        session,
        user_id,
        "issue.keep_private" if keep_private else "issue.unpublish",
        "issue",
        issue.id,
    )


def latest_published(session: Session) -> Issue | None:
    """The newest issue in the public web archive (the archive's first entry), or None."""
    return session.scalar(
        select(Issue)
        .options(defer(Issue.source_data))
        .where(Issue.published_at.is_not(None))
        .order_by(Issue.published_at.desc(), Issue.id.desc())
        .limit(1)
    )


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


def archive_url(settings: Settings, slug: str) -> str:
    """The public web-archive page of an issue (also the excerpt links' target)."""
    return f"{settings.base_url.rstrip('/')}/archive/{slug}"


_PREVIEW_SALT = "tidings-archive-preview"


def preview_token(secret: str, slug: str) -> str:
    """A token that opens the archive page of an issue not published yet: the links of a
    test send, which goes out before the campaign publishes the issue, must answer too."""
    from itsdangerous import URLSafeSerializer

    return URLSafeSerializer(secret, salt=_PREVIEW_SALT).dumps(slug)


def read_preview_token(secret: str, token: str) -> str | None:
    """The slug a preview token opens, or None for a forged or mangled one."""
    from itsdangerous import BadData, URLSafeSerializer

    try:
        value = URLSafeSerializer(secret, salt=_PREVIEW_SALT).loads(token)
    except (BadData, UnicodeError, ValueError):
        return None
    return value if isinstance(value, str) else None


def preview_archive_url(settings: Settings, issue: Issue) -> str:
    """The archive URL a test send links to: the public one once published, else one
    carrying a preview token."""
    url = archive_url(settings, issue.slug)
    if issue.published_at is not None:
        return url
    return f"{url}?preview={preview_token(settings.secret_key, issue.slug)}"


@functools.lru_cache(maxsize=PREVIEW_CACHE_SIZE)
def _render_cached(structure: str, layout: str, mode: Mode, url: str) -> RenderedIssue:
    # The preview page and its two iframes render the same issue within a second: cache by
    # content, so an edit or a layout change is always seen.
    return render_issue(
        IssueDoc.from_dict(json.loads(structure)),
        Layout(**json.loads(layout)),
        mode=mode,
        archive_url=url,
    )


def render_for_preview(
    issue: Issue, layout: Layout, settings: Settings, mode: Mode = "auto"
) -> RenderedIssue:
    """Render the issue as a campaign would (tracking on, so the size is the real one)."""
    return _render_cached(
        json.dumps(issue.structure, sort_keys=True, ensure_ascii=False),
        json.dumps(layout.__dict__, sort_keys=True, ensure_ascii=False),
        mode,
        archive_url(settings, issue.slug),
    )


def sample_values(rendered: RenderedIssue) -> dict[str, str]:
    """Slot values of the preview: a sample name and inert links, never a subscriber's."""
    values = {
        "name": SAMPLE_NAME,
        "unsubscribe_url": SAMPLE_LINK,
        "preferences_url": SAMPLE_LINK,
        "open_pixel_url": SAMPLE_PIXEL,
    }
    values.update(dict.fromkeys(rendered.compiled.link_slots, SAMPLE_LINK))
    return values


@dataclass
class Preview:
    """What the admin preview shows: one mode's message and the size report of all modes."""

    mode: str
    # The mode actually shown ("full" or "excerpt"); for mode="auto" the one auto picks.
    mode_used: str
    auto_picks: str
    html: str
    text: str
    headers: list[tuple[str, str]]
    # Encoded (base64, worst-case slots) HTML size per concrete mode, and the limit.
    sizes: dict[str, int]
    limit: int
    warnings: list[str] = field(default_factory=list)

    @property
    def html_bytes(self) -> int:
        """Encoded HTML size of the message shown."""
        return self.sizes[self.mode_used]


def _sample_headers(
    issue: Issue, settings: Settings, html: str, text: str
) -> list[tuple[str, str]]:
    """The headers of a sample message of this issue (STANDARDS §2.1), decoded."""
    from service.mail.message import ListId, MessageBuilder, MessageParts

    domain = settings.from_addr.rpartition("@")[2]
    builder = MessageBuilder(
        MessageParts(
            from_name=settings.from_name,
            from_addr=settings.from_addr,
            subject=" ".join(p for p in (issue.title, issue.number) if p),
            list_id=ListId(SAMPLE_LIST_LABEL, domain, issue.title or None),
            message_id_domain=domain,
            tz=settings.timezone,
        )
    )
    # List-Unsubscribe must be https (RFC 8058); the sample shows its shape.
    host = urlsplit(settings.base_url).netloc or domain
    raw = builder.build(
        SAMPLE_EMAIL,
        SAMPLE_NAME,
        html,
        text,
        f"https://{host}/unsubscribe/SAMPLE",
        f"<preview.{issue.id}@{domain}>",
    )
    parsed = BytesHeaderParser(policy=default_policy).parsebytes(bytes(raw))
    return [(name, str(value)) for name, value in parsed.items()]


def _headers_or_problem(
    issue: Issue, settings: Settings, html: str, text: str
) -> list[tuple[str, str]]:
    # The builder refuses what it could not send (e.g. a control character in the title);
    # the preview then says so where the headers would be instead of failing as a whole.
    try:
        return _sample_headers(issue, settings, html, text)
    except ValueError as exc:
        return [("(error)", str(exc))]


def preview(
    issue: Issue,
    layout: Layout,
    settings: Settings,
    mode: Mode = "auto",
    limit: int = DEFAULT_MAX_HTML_BYTES,
) -> Preview:
    """Render the issue for the admin preview: filled HTML and text, headers, size report.

    Both concrete modes are rendered (cached) so the report can say what each costs and
    which one ``auto`` picks, exactly as :func:`render_issue` decides it.
    """
    full = render_for_preview(issue, layout, settings, "full")
    excerpt = render_for_preview(issue, layout, settings, "excerpt")
    sizes = {"full": full.html_size_encoded, "excerpt": excerpt.html_size_encoded}
    auto_picks = "full" if sizes["full"] <= limit else "excerpt"
    mode_used = auto_picks if mode == "auto" else mode
    rendered = full if mode_used == "full" else excerpt
    html, text = rendered.compiled.fill(sample_values(rendered))
    return Preview(
        mode=mode,
        mode_used=mode_used,
        auto_picks=auto_picks,
        html=html,
        text=text,
        headers=_headers_or_problem(issue, settings, html, text),
        sizes=sizes,
        limit=limit,
        warnings=[w for w in rendered.warnings if "over the" not in w],
    )
