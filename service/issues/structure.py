"""The structured issue: the data contract between the importer, the renderer and the database.

An imported document becomes an :class:`IssueDoc` (journal masthead → sections → articles).
Article bodies are CommonMark Markdown so the renderer can turn them into HTML and plain text
with one library. ``IssueDoc.to_dict()`` is what the ``issues.structure`` JSON column stores;
``from_dict`` accepts anything ``to_dict`` ever wrote, so optional fields added later must
default sensibly when missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from service.issues.blocks import plain_text
from service.issues.cover import clean_cover_line, is_cover_line

# Bump when the JSON shape changes incompatibly; from_dict can then migrate old rows.
SCHEMA_VERSION = 1


@dataclass
class Article:
    """One article of an issue."""

    title: str
    # Cleaned CommonMark: paragraphs, '### ' subheadings, lists, images, links, **bold**.
    body: str
    # The outlet the article was taken from, label ("文章来源：", "Source:") stripped.
    source: str | None
    # A stable HTML id ("a1", "a2", …), unique in the issue; used by the table of contents.
    anchor: str
    # The label the source line used ("文章来源", "Source"), so it can be shown as written.
    source_label: str | None = None
    # The link of the source line, if it had one.
    source_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the article as a JSON-safe dict."""
        return {
            "title": self.title,
            "body": self.body,
            "source": self.source,
            "anchor": self.anchor,
            "source_label": self.source_label,
            "source_url": self.source_url,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Article:
        """Build an article from :meth:`to_dict` output."""
        return cls(
            title=str(d.get("title", "")),
            body=str(d.get("body", "")),
            source=d.get("source") or None,
            anchor=str(d.get("anchor", "")),
            source_label=d.get("source_label") or None,
            source_url=d.get("source_url") or None,
        )


@dataclass
class Section:
    """A section (column) of the issue, e.g. "专家观点"; title is "" when there are none."""

    title: str
    articles: list[Article]
    # Optional Markdown that stands between the section title and its first article.
    intro: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the section as a JSON-safe dict."""
        return {
            "title": self.title,
            "intro": self.intro,
            "articles": [a.to_dict() for a in self.articles],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Section:
        """Build a section from :meth:`to_dict` output."""
        return cls(
            title=str(d.get("title", "")),
            articles=[Article.from_dict(a) for a in d.get("articles", [])],
            intro=str(d.get("intro", "")),
        )


@dataclass
class IssueDoc:
    """A whole issue: masthead, sections with articles, and the publisher's contact block."""

    journal: str
    number: str | None
    date: str | None
    # Markdown of the front matter worth keeping (a foreword above the first section), may be "".
    # It opens the email, so the printed cover's lines are never here: see cover_lines.
    intro: str
    sections: list[Section]
    contact: list[tuple[str, str]]
    # Text of the blocks the importer dropped as print furniture (running heads, the printed
    # table of contents, page numbers). Kept so staff can see exactly what was not imported
    # and so missing_sentences() can tell "deliberately dropped" from "lost".
    removed: list[str] = field(default_factory=list)
    # Lines of the printed cover ("季刊", "大连市数字贸易协会秘书处编", "内部资料"): metadata of
    # the issue, shown to staff and editable, never rendered for subscribers (see cover.py).
    cover_lines: list[str] = field(default_factory=list)
    # Copies of the articles deleted last, for "undo" (see store.delete_article): each
    # ``{"key", "section", "position", "article", "removed"}``. Never rendered.
    deleted: list[dict[str, Any]] = field(default_factory=list)

    @property
    def title(self) -> str:
        """A human title for lists and subjects: the journal name followed by the number."""
        return " ".join(part for part in (self.journal, self.number or "") if part)

    def to_dict(self) -> dict[str, Any]:
        """Return the issue as a JSON-safe dict (stored in ``issues.structure``)."""
        return {
            "version": SCHEMA_VERSION,
            "journal": self.journal,
            "number": self.number,
            "date": self.date,
            "intro": self.intro,
            "sections": [s.to_dict() for s in self.sections],
            # JSON has no tuples; pairs become two-element lists.
            "contact": [[label, value] for label, value in self.contact],
            "removed": list(self.removed),
            "cover_lines": list(self.cover_lines),
            "deleted": list(self.deleted),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IssueDoc:
        """Build an issue from :meth:`to_dict` output (also from older, sparser dicts).

        Issues imported before ``cover_lines`` existed kept the cover in ``intro``; their
        cover lines are moved out of it here, so they stop being mailed as text.
        """
        intro = str(d.get("intro", ""))
        if "cover_lines" in d:
            cover = [str(x) for x in d.get("cover_lines") or []]
        else:
            intro, cover = split_cover_from_intro(intro)
        return cls(
            journal=str(d.get("journal", "")),
            number=d.get("number") or None,
            date=d.get("date") or None,
            intro=intro,
            sections=[Section.from_dict(s) for s in d.get("sections", [])],
            contact=[(str(pair[0]), str(pair[1])) for pair in d.get("contact", [])],
            removed=[str(x) for x in d.get("removed", [])],
            cover_lines=cover,
            deleted=[x for x in d.get("deleted") or [] if isinstance(x, dict)],
        )

    def articles(self) -> Iterator[tuple[Section, Article]]:
        """Yield every (section, article) pair in reading order."""
        for section in self.sections:
            for article in section.articles:
                yield section, article

    def toc(self) -> list[dict[str, Any]]:
        """Return the table of contents: ``[{"title", "articles": [{"title", "anchor"}]}]``."""
        return [
            {
                "title": s.title,
                "articles": [{"title": a.title, "anchor": a.anchor} for a in s.articles],
            }
            for s in self.sections
        ]


def split_cover_from_intro(intro: str) -> tuple[str, list[str]]:
    """``(intro without its cover lines, the cover lines)`` for an intro written by an older
    importer, which kept one front-matter line per paragraph."""
    kept: list[str] = []
    cover: list[str] = []
    for paragraph in intro.split("\n\n") if intro else []:
        text = plain_text(paragraph)
        if is_cover_line(text):
            cover.append(clean_cover_line(text))
        else:
            kept.append(paragraph)
    return "\n\n".join(kept), cover
