"""The structure of an imported document: its blocks read into a structured issue
(:class:`IssueDoc`).

The documents come from print layout, so they are messy in predictable ways: heading levels do
not follow the structure, running heads and a printed table of contents with page numbers are
mixed into the text, and page breaks cut paragraphs in the middle of a sentence or a word.
The pipeline works on top-level blocks (see ``blocks.py``) and uses only general rules (their
tunables and small classifiers are in ``import_rules.py``):

1. masthead: journal name, issue number, date, the lines of the printed cover (季刊,
   "…秘书处编", 内部资料: issue metadata, see ``cover.py``) and the front matter worth keeping;
2. furniture: rules, running heads, page numbers and the printed table of contents are
   dropped (their text is kept in ``IssueDoc.removed``); the table of contents is parsed first
   because its entries tell us which headings are article titles and which are sections;
3. contact block at the end of the document ("联系方式", "电话: …");
4. rejoin paragraphs and headings cut by page breaks (see ``import_cleanup.py``);
5. sections (【…】 markers, headings named like a TOC group, or a heading level used only for
   headings that directly precede another heading) and articles (cues: the previous article
   ended with its source line, the printed TOC lists the heading, heading level relative to
   the article title; numbered headings such as 一、 are subheadings);
6. source lines ("文章来源：国际商报") close an article.

Nothing is silently lost: ``sentences.missing_sentences`` proves that every sentence of the
source is either in the structured issue (cover lines included) or in the list of removed
furniture.
"""

from __future__ import annotations

import re
from collections import Counter

from service.issues.blocks import NUMBERED_RE, Block, display_width, ends_paragraph, norm_key
from service.issues.cover import clean_cover_line, is_cover_line
from service.issues.import_cleanup import is_special, lists, pseudo_headings, rejoin
from service.issues.import_rules import (
    CONTACT_KEY_RE,
    CONTACT_LABEL_RE,
    MASTHEAD_LOOKAHEAD,
    MAX_CONTACT_CONTINUATION_WIDTH,
    MAX_FURNITURE_WIDTH,
    MAX_MASTHEAD_WIDTH,
    MAX_RUNNING_HEAD_LEFTOVER,
    MIN_BROKEN_WIDTH,
    PAGE_NUMBER_RE,
    PSEUDO_HEADING_LEVEL,
    RUNNING_HEAD_REPEATS,
    SENTENCE_PUNCT_RE,
    SEPARATORS,
    TOC_MIN_RUN,
    Toc,
    find_date,
    find_number,
    has_paged_number,
    is_short_line,
    is_toc_keyword,
    section_marker,
    source_line,
    squash_spaces,
    toc_entry,
)
from service.issues.structure import Article, IssueDoc, Section


class _Importer:
    """One import run over a list of blocks; see the module docstring for the steps."""

    def __init__(self, blocks: list[Block]) -> None:
        self.blocks = blocks
        self.removed: list[str] = []
        self.journal = ""
        self.number: str | None = None
        self.date: str | None = None
        self.intro: list[str] = []
        # Lines of the printed cover (periodicity, editor, 内部资料): metadata, not text.
        self.cover: list[str] = []
        self.toc = Toc(set(), set())
        # Short lines counted with digits masked, to spot running heads with page numbers.
        self._repeat_counts = Counter(
            re.sub(r"\d+", "#", norm_key(b.text)) for b in blocks if b.kind == "para"
        )

    # 1. masthead ------------------------------------------------------------------------------

    def _masthead(self) -> int:
        """Read journal, number, date and front matter; return where the content starts."""
        blocks = self.blocks
        i = 0
        # Print furniture may come first (a running head above the masthead). To recognise it
        # we need the journal name already: guess it as the first heading or bar-less line.
        self.journal = next(
            (
                b.text
                for b in blocks[:MASTHEAD_LOOKAHEAD]
                if b.kind in ("heading", "para")
                and not re.search(r"[|｜]", b.text)
                and not (b.kind == "para" and is_cover_line(b.text))
            ),
            "",
        )
        while i < len(blocks) and (
            blocks[i].kind == "hr"
            or (blocks[i].text != self.journal and self._is_running_head(blocks[i]))
            # A cover line printed above the name ("内部资料" in a corner) is not the name.
            or (blocks[i].kind == "para" and is_cover_line(blocks[i].text))
        ):
            if blocks[i].kind == "para" and is_cover_line(blocks[i].text):
                self.cover.append(clean_cover_line(blocks[i].text))
            elif blocks[i].text:
                self.removed.append(blocks[i].text)
            i += 1
        first = blocks[i] if i < len(blocks) else None
        if first is not None and first.kind == "heading" and section_marker(first) is None:
            # A heading directly followed by prose is an article title, not a masthead.
            nxt = next((b for b in blocks[i + 1 :] if b.kind != "hr"), None)
            is_article = (
                nxt is not None
                and nxt.kind == "para"
                and ends_paragraph(nxt.text)
                and display_width(nxt.text) >= 2 * MIN_BROKEN_WIDTH
                and find_number(nxt.text) is None
            )
            if is_article:
                self.journal = ""
            else:
                self.journal = self._take_number_and_date(first.text) or first.text
                i += 1
        elif (
            first is not None
            and first.kind == "para"
            and is_short_line(first.text, MAX_MASTHEAD_WIDTH)
            and not ends_paragraph(first.text)
            and not is_special(first)
            and toc_entry(first) is None
        ):
            # No heading style on the name (a Word file typed in a big font): the first short
            # line of a newsletter is still its name.
            self.journal = self._take_number_and_date(first.text) or first.text
            i += 1
        else:
            self.journal = ""
        while i < len(blocks):
            block = blocks[i]
            if block.kind == "hr":
                i += 1
                continue
            entry = toc_entry(block) if block.kind == "para" else None
            # A bold cover line ("**内部资料**") looks like a TOC group, but a TOC entry
            # with a page number or a "/" never is a cover line.
            cover = (
                block.kind == "para"
                and (entry is None or entry[0] == "group")
                and not is_toc_keyword(block)
                and section_marker(block) is None
                and is_cover_line(block.text)
            )
            if not cover and (
                block.kind != "para"
                or is_toc_keyword(block)
                or section_marker(block) is not None
                or entry is not None
                or source_line(block) is not None
            ):
                break
            if self._is_running_head(block):
                self.removed.append(block.text)
            else:
                # The number and the date first, also out of a cover line ("主办：某某协会
                # 2026 年第 3 期"); what is left of the number's line ("季刊 / 2026 年第 1
                # 期" → "季刊") may be cover text too.
                rest = self._take_number_and_date(block.text)
                if rest and is_cover_line(rest):
                    self.cover.append(clean_cover_line(rest))
                elif rest == block.text:
                    self.intro.append(block.md)
                elif rest:
                    self.intro.append(rest)
            i += 1
        return i

    def _take_number_and_date(self, text: str) -> str:
        """Record the first issue number and date found in text; return what is left of it."""
        rest = text
        if self.number is None and (m := find_number(rest)):
            self.number = squash_spaces(m.group(0))
            rest = rest[: m.start()] + " " + rest[m.end() :]
        if self.date is None and (m := find_date(rest)):
            self.date = squash_spaces(m.group(0))
            rest = rest[: m.start()] + " " + rest[m.end() :]
        if rest == text:
            return text
        return squash_spaces(rest).strip(SEPARATORS)

    # 2. furniture -----------------------------------------------------------------------------

    def _is_running_head(self, block: Block) -> bool:
        """A running head or a page number: short, no sentence, names the journal/issue/page."""
        if block.kind not in ("para", "heading"):
            return False
        text = block.text.strip()
        if not text or display_width(text) > MAX_FURNITURE_WIDTH or SENTENCE_PUNCT_RE.search(text):
            return False
        if block.kind == "para" and PAGE_NUMBER_RE.match(text):
            return True
        key = norm_key(text)
        journal_key = norm_key(self.journal)
        has_journal = len(journal_key) >= 2 and journal_key in key
        number = find_number(text)
        has_number = number is not None or (
            self.number is not None and norm_key(self.number) in key
        )
        # What is left besides journal, number and page: a running head has at most a
        # section name or "Page" there, a line of content has more.
        leftover = key.replace(journal_key, "") if has_journal else key
        for part in (number.group(0) if number else "", self.number or ""):
            leftover = leftover.replace(norm_key(part), "") if part else leftover
        leftover = re.sub(r"\d+", "", leftover)
        if len(leftover) > MAX_RUNNING_HEAD_LEFTOVER:
            return False
        has_bar = "|" in text or "｜" in text
        has_digit = any(ch.isdigit() for ch in text)
        if block.kind == "heading":
            # Headings are content far more often than paragraphs: only the unmistakable kind.
            return has_journal and has_number
        if has_bar and (has_journal or has_number or has_digit):
            return True
        if has_journal and (has_number or re.search(r"\d{1,3}$", text)):
            return True
        return self._repeats(text) >= RUNNING_HEAD_REPEATS and (has_digit or has_bar)

    def _repeats(self, text: str) -> int:
        return self._repeat_counts[re.sub(r"\d+", "#", norm_key(text))]

    def _furniture(self, start: int) -> list[bool]:
        """Mark furniture blocks from start on; parse the printed table of contents."""
        blocks = self.blocks
        furniture = [False] * len(blocks)
        i = start
        while i < len(blocks):
            block = blocks[i]
            if block.kind == "hr" or self._is_running_head(block):
                furniture[i] = True
            elif is_toc_keyword(block) or all(
                j < len(blocks) and has_paged_number(blocks[j]) for j in range(i, i + TOC_MIN_RUN)
            ):
                end = self._read_toc(i + 1 if is_toc_keyword(block) else i)
                for j in range(i, end):
                    furniture[j] = True
                i = end
                continue
            i += 1
        for block, is_furniture in zip(blocks, furniture, strict=True):
            if is_furniture and block.text:
                self.removed.append(block.text)
        return furniture

    def _read_toc(self, start: int) -> int:
        """Parse TOC lines from start; return the index just past the table of contents."""
        entries: list[tuple[str, str]] = []
        i = start
        while i < len(self.blocks):
            block = self.blocks[i]
            if block.kind == "hr" or self._is_running_head(block):
                i += 1
                continue
            if block.kind == "list":
                # A TOC typed as a Markdown list: every item must look like an entry.
                items = [toc_entry(Block("para", line, line)) for line in block.lines]
                if not items or any(item is None for item in items):
                    break
                entries.extend(item for item in items if item is not None)
                i += 1
                continue
            entry = toc_entry(block)
            if entry is None:
                break
            entries.append(entry)
            i += 1
        for n, (kind, title) in enumerate(entries):
            # "(8) 国内资讯" followed by "/title" lines is a group, not an article.
            has_children = n + 1 < len(entries) and entries[n + 1][0] == "child"
            if kind == "group" or (kind == "paged" and has_children):
                self.toc.group_keys.add(norm_key(title))
            else:
                self.toc.title_keys.add(norm_key(title))
        return i

    # 3. contact block -------------------------------------------------------------------------

    def _contact_entries(self, block: Block) -> list[tuple[str, str, str]] | None:
        """("label"|"key"|"cont", key, value) for each line, or None if not a contact block."""
        if block.kind not in ("para", "list"):
            return None
        out: list[tuple[str, str, str]] = []
        for raw in block.lines:
            line = raw.strip().lstrip("-•·*").strip()
            if not line:
                continue
            if CONTACT_LABEL_RE.match(line):
                out.append(("label", "", line))
            elif m := CONTACT_KEY_RE.match(line):
                out.append(("key", m.group(1), m.group(2).strip()))
            elif is_short_line(line, MAX_CONTACT_CONTINUATION_WIDTH):
                out.append(("cont", "", line))
            else:
                return None
        return out or None

    def _contact(self, content: list[Block]) -> tuple[list[Block], list[tuple[str, str]]]:
        """Split the trailing contact block off the content; return (content, contact pairs)."""
        run: list[tuple[Block, list[tuple[str, str, str]]]] = []
        for block in reversed(content):
            entries = self._contact_entries(block)
            if entries is None:
                break
            run.insert(0, (block, entries))
            if entries[0][0] == "label":
                break
        # The run must start with a label or a "key: value" line; leading short lines
        # belong to the last article.
        while run and run[0][1][0][0] == "cont":
            run.pop(0)
        keys = sum(1 for _, entries in run for kind, _, _ in entries if kind == "key")
        if keys < 2:
            return content, []
        pairs: list[tuple[str, str]] = []
        for _, entries in run:
            for kind, key, value in entries:
                if kind == "label":
                    self.removed.append(value)
                elif kind == "key":
                    pairs.append((key, value))
                elif pairs:
                    # A value continued on the next line (a long address).
                    pairs[-1] = (pairs[-1][0], f"{pairs[-1][1]} {value}".strip())
        return content[: len(content) - len(run)], pairs

    # 5. sections and articles -----------------------------------------------------------------

    def _section_level(self, content: list[Block]) -> int | None:
        """A heading level used only for headings that directly precede a deeper heading."""
        headings = [
            (n, b)
            for n, b in enumerate(content)
            if b.kind == "heading" and b.level < PSEUDO_HEADING_LEVEL
        ]
        levels = {b.level for _, b in headings}
        if len(levels) < 2:
            return None
        top = min(levels)
        for n, block in headings:
            if block.level != top:
                continue
            nxt = content[n + 1] if n + 1 < len(content) else None
            if nxt is None or nxt.kind != "heading" or nxt.level <= top:
                return None
        return top

    def _section_title(self, block: Block, section_level: int | None) -> str | None:
        if (marker := section_marker(block)) is not None:
            return marker
        if block.kind != "heading" or block.level >= PSEUDO_HEADING_LEVEL:
            return None
        key = norm_key(block.text)
        if key in self.toc.group_keys and key not in self.toc.title_keys:
            return block.text
        if section_level is not None and block.level == section_level:
            return block.text
        return None

    def _starts_article(self, block: Block, current: _Draft | None) -> bool:
        """Decide whether a heading opens a new article or is a subheading of the current one."""
        if current is None:
            return True
        key = norm_key(block.text)
        if key in self.toc.title_keys:
            return True
        if current.source is not None:
            return True  # the previous article is finished: its source line came last
        if NUMBERED_RE.match(block.text):
            return False
        if len(self.toc.title_keys) >= 2:
            return False  # the printed TOC lists the articles, and this heading is not one
        return block.level <= current.level

    def _assemble(self, content: list[Block]) -> list[Section]:
        has_markers = any(section_marker(b) is not None for b in content)
        has_toc_groups = any(
            b.kind == "heading" and norm_key(b.text) in self.toc.group_keys for b in content
        )
        section_level = None if has_markers or has_toc_groups else self._section_level(content)
        sections: list[Section] = []
        intros: dict[int, list[str]] = {}
        current: _Draft | None = None
        drafts: list[tuple[Section, _Draft]] = []

        def section() -> Section:
            if not sections:
                sections.append(Section("", []))
            return sections[-1]

        for block in content:
            title = self._section_title(block, section_level)
            if title is not None:
                sections.append(Section(title, []))
                current = None
                continue
            if block.kind == "heading":
                if self._starts_article(block, current):
                    current = _Draft(block.text, block.level)
                    drafts.append((section(), current))
                elif current is not None:
                    current.body.append("### " + block.md)
                continue
            source = source_line(block)
            if source is not None and current is not None and current.source is None:
                current.label, current.source, current.url = source
                continue
            if current is not None:
                current.body.append(block.md)
            elif sections:
                intros.setdefault(id(sections[-1]), []).append(block.md)
            else:
                self.intro.append(block.md)

        for n, (sec, draft) in enumerate(drafts, start=1):
            sec.articles.append(draft.article(f"a{n}"))
        for sec in sections:
            sec.intro = "\n\n".join(intros.get(id(sec), []))
        # A section marker with nothing under it (e.g. a stray marker) keeps its intro text,
        # but an entirely empty section is noise.
        return [s for s in sections if s.articles or s.intro]

    # driver -----------------------------------------------------------------------------------

    def run(self) -> IssueDoc:
        """The issue read from the blocks (it may have no articles: the caller says so)."""
        start = self._masthead()
        furniture = self._furniture(start)
        content = [b for n, b in enumerate(self.blocks) if n >= start and not furniture[n]]
        content, contact = self._contact(content)
        content = lists(rejoin(pseudo_headings(content), self.toc.title_keys))
        sections = self._assemble(content)
        return IssueDoc(
            journal=self.journal,
            number=self.number,
            date=self.date,
            intro="\n\n".join(self.intro),
            sections=sections,
            contact=contact,
            removed=self.removed,
            cover_lines=self.cover,
        )


class _Draft:
    """An article being collected."""

    def __init__(self, title: str, level: int) -> None:
        self.title = title
        self.level = level
        self.body: list[str] = []
        self.source: str | None = None
        self.label = ""
        self.url: str | None = None

    def article(self, anchor: str) -> Article:
        return Article(
            title=self.title,
            body="\n\n".join(part for part in self.body if part.strip()),
            source=self.source,
            anchor=anchor,
            source_label=self.label or None,
            source_url=self.url,
        )


def read_structure(blocks: list[Block]) -> IssueDoc:
    """The structured issue read from a document's top-level blocks (see the module's steps).

    It may have no articles at all; :func:`service.issues.importer.import_markdown` refuses
    such a document.
    """
    return _Importer(blocks).run()
