"""The edits of an issue's structure: its articles (edit, add, move, delete and undo),
its sections, its cover lines and its own details (title, number, date).

Every edit loads the structure, changes it and saves it back with an audit row; a refused
edit raises :class:`IssueEditError` with a message an editor understands. Callers commit.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import date
from typing import Literal

from sqlalchemy.orm import Session

from service.accounts.audit import audit
from service.issues.blocks import strip_controls
from service.issues.store import (
    MAX_NUMBER_CHARS,
    MAX_TITLE_CHARS,
    IssueEditError,
    find_article,
    load_doc,
    save_doc,
)
from service.issues.structure import Article, IssueDoc, Section
from service.model import Issue

__all__ = [
    "add_article",
    "delete_article",
    "deleted_article",
    "move_article",
    "move_article_to_section",
    "move_section",
    "parse_issue_date",
    "rename_section",
    "undo_delete",
    "update_article",
    "update_cover_lines",
    "update_details",
]

MAX_ARTICLE_TITLE_CHARS = 500
MAX_SOURCE_CHARS = 300
# The printed cover has a handful of short lines; more is text pasted into the wrong box.
MAX_COVER_LINES = 20
MAX_COVER_LINE_CHARS = 200
MAX_SECTION_TITLE_CHARS = 200
# Deleted articles kept for "undo", the newest first to go back.
KEEP_DELETED = 5
UNDO_KEY_BYTES = 9

_ANCHOR_NUMBER = re.compile(r"a(\d+)\Z")
# 2026-03-31, 2026/3/31, 2026.3.31, 2026年3月31日; the day may be left out.
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*(?:(?:月|[-/.])\s*(\d{1,2})\s*日?|月)?")

Direction = Literal["up", "down"]


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
