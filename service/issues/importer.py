"""Import an author's document (Markdown or Word) into a structured issue (:class:`IssueDoc`).

The documents come from print layout, so they are messy in predictable ways: heading levels do
not follow the structure, running heads and a printed table of contents with page numbers are
mixed into the text, and page breaks cut paragraphs in the middle of a sentence or a word.
The pipeline works on top-level blocks (see ``blocks.py``) and uses only general rules:

1. masthead: journal name, issue number, date, the lines of the printed cover (季刊,
   "…秘书处编", 内部资料: issue metadata, see ``cover.py``) and the front matter worth keeping;
2. furniture: rules, running heads, page numbers and the printed table of contents are
   dropped (their text is kept in ``IssueDoc.removed``); the table of contents is parsed first
   because its entries tell us which headings are article titles and which are sections;
3. contact block at the end of the document ("联系方式", "电话: …");
4. rejoin paragraphs and headings cut by page breaks;
5. sections (【…】 markers, headings named like a TOC group, or a heading level used only for
   headings that directly precede another heading) and articles (cues: the previous article
   ended with its source line, the printed TOC lists the heading, heading level relative to
   the article title; numbered headings such as 一、 are subheadings);
6. source lines ("文章来源：国际商报") close an article.

Nothing is silently lost: :func:`missing_sentences` proves that every sentence of the source is
either in the structured issue (cover lines included) or in the list of removed furniture.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import PurePath

from service.containers import ContainerError
from service.errors import DomainError
from service.issues.blocks import (
    NUMBERED_RE,
    Block,
    display_width,
    ends_paragraph,
    join_text,
    norm_key,
    parse_blocks,
    plain_text,
    split_sentences,
    strip_controls,
)
from service.issues.cover import clean_cover_line, is_cover_line
from service.issues.structure import Article, IssueDoc, Section
from service.issues.word_process import convert_in_child
from service.issues.wordfile import ImageSaver, WordConversionError, docx_to_markdown

# --- tunables -------------------------------------------------------------------------------

# A paragraph cut by a page break is at least about one printed line long; shorter lines
# without final punctuation are list items or labels and must not be glued together.
MIN_BROKEN_WIDTH = 40
# Running heads, page numbers and TOC lines are short.
MAX_FURNITURE_WIDTH = 120
# Letters left in a running head once journal name, issue number and digits are removed
# ("目录", "专家观点", "Page"); a line of content leaves more.
MAX_RUNNING_HEAD_LEFTOVER = 16
# A short line repeated this often (digits ignored) is a running head.
RUNNING_HEAD_REPEATS = 3
# This many consecutive "(12) title" / "title ..... 12" lines form a table of contents even
# without a "目录"/"Contents" heading.
TOC_MIN_RUN = 3
# A heading made of a bold paragraph ("**一、背景**") is at most this wide.
MAX_PSEUDO_HEADING_WIDTH = 80
# A heading cut in two by a line break: the second part is at most this wide.
MAX_HEADING_TAIL_WIDTH = 8
# The masthead is among the first few blocks.
MASTHEAD_LOOKAHEAD = 3
# A journal name typed as a plain first paragraph is at most this wide.
MAX_MASTHEAD_WIDTH = 60
# Source lines and contact lines are short.
MAX_SOURCE_WIDTH = 120
MAX_CONTACT_CONTINUATION_WIDTH = 80
# Consecutive short one-line paragraphs without punctuation (at least this many, each at
# most this wide) are a list typed as paragraphs.
MIN_LIST_RUN = 3
MAX_LIST_ITEM_WIDTH = 60
# Pseudo level for bold-paragraph headings: deeper than any real heading.
PSEUDO_HEADING_LEVEL = 7

MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdown", ".mkd", ".txt"}
DOCX_SUFFIXES = {".docx"}

TOC_KEYWORDS = {
    "目录",
    "目次",
    "本期目录",
    "本期要目",
    "本期导读",
    "contents",
    "tableofcontents",
    "inthisissue",
}

SECTION_MARKER_RE = re.compile(r"^\s*[【〖［]\s*([^【】〖〗［］]+?)\s*[】〗］]\s*$")
SOURCE_RE = re.compile(
    r"^(文章来源|稿件来源|信息来源|资料来源|新闻来源|来源|出处|sources?|via)\s*[:：]\s*(\S.*?)[。．.]?$",
    re.IGNORECASE,
)
CONTACT_LABEL_RE = re.compile(
    r"^(联系方式|联系我们|联系信息|联络方式|contact|contact us|contacts|get in touch)\s*[:：]?$",
    re.IGNORECASE,
)
CONTACT_KEY_RE = re.compile(
    r"^(电话|联系电话|手机|传真|e-?mail|邮箱|电子邮箱|电子邮件|地址|通讯地址|通信地址|邮编|邮政编码"
    r"|网址|网站|官网|官方网站|官方微博|微博|微信|微信公众号|公众号|qq|联系人"
    r"|tel|telephone|phone|mobile|fax|address|web|website|homepage|twitter|linkedin|facebook"
    r"|mastodon|wechat|weibo)\s*[:：]\s*(.*)$",
    re.IGNORECASE,
)
PAGE_NUMBER_RE = re.compile(
    r"^(?:[-–—]\s*)?\d{1,3}(?:\s*[-–—])?$|^第\s*\d+\s*页$|^(?:page|p\.)\s*\d+(?:\s*(?:of|/)\s*\d+)?$",
    re.IGNORECASE,
)
TOC_BULLET_RE = re.compile(r"^[●•■◆▪►◼○◇□]\s*(\S.*)$")
TOC_SLASH_RE = re.compile(r"^[/／]\s*(\S.*)$")
# "(8) 国内资讯", "8 国内资讯" — but not "3 月 12 日，…" (a date or a quantity).
TOC_PAGE_FIRST_RE = re.compile(
    r"^[(（]?\s*\d{1,3}\s*[)）]?\s+(?![年月日时点号%％万亿个家名人元岁天])(\S.*)$"
)
TOC_PAGE_LAST_RE = re.compile(r"^(\S.*?)\s*(?:[.…·_]{2,}|\t|\s{2,})\s*\d{1,3}$")
# Unmistakable page references, enough to find a TOC that has no "目录" heading.
TOC_STRONG_PAGE_RE = re.compile(r"^[(（]\s*\d{1,3}\s*[)）]\s*\S|\S\s*[.…·_]{3,}\s*\d{1,3}$")
# Punctuation that ends a clause but rarely a paragraph of prose.
SOFT_END = "；;"
# Items of an enumeration written as paragraphs: "一是…", "首先，", "其次，", "第二，".
ENUMERATION_RE = re.compile(
    r"^\s*(?:[一二三四五六七八九十]+是|首先|其次|再次|最后|此外|第[一二三四五六七八九十\d]+[，,、])"
)
SENTENCE_PUNCT_RE = re.compile(r"[。！？!?]")

NUMBER_RES = [
    re.compile(r"\d{4}\s*年\s*第\s*\d+\s*期(?:\s*[（(]\s*总第\s*\d+\s*期\s*[)）])?"),
    re.compile(r"第\s*\d+\s*期(?:\s*[（(]\s*总第\s*\d+\s*期\s*[)）])?"),
    re.compile(r"总第\s*\d+\s*期"),
    re.compile(
        r"\b(?:vol(?:ume)?\.?\s*\d+\s*[,，·/]?\s*)?(?:no\.|number|issue)\s*#?\s*\d+",
        re.IGNORECASE,
    ),
    re.compile(r"\bvol(?:ume)?\.?\s*\d+", re.IGNORECASE),
]
_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
DATE_RES = [
    re.compile(r"\d{4}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?"),
    re.compile(r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b"),
    re.compile(rf"\b\d{{1,2}}\s+{_MONTHS}\.?,?\s+\d{{4}}\b", re.IGNORECASE),
    re.compile(rf"\b{_MONTHS}\.?\s+\d{{1,2}},?\s+\d{{4}}\b", re.IGNORECASE),
    re.compile(rf"\b{_MONTHS}\.?\s+\d{{4}}\b", re.IGNORECASE),
]
# What is left of a masthead line once the number and the date are taken out.
_SEPARATORS = " \t/|｜·•-—–,，、:：;；"


class DocumentImportError(DomainError, ValueError):
    """The document cannot be imported; the message says why in words an editor understands."""


def _binary_document() -> DocumentImportError:
    return DocumentImportError(
        "document.binary", "This is a binary file, not a Markdown text file."
    )


# --- small classifiers ----------------------------------------------------------------------


def _section_marker(block: Block) -> str | None:
    """The section name if the block is a marker like 【专家观点】."""
    if block.kind not in ("para", "heading"):
        return None
    m = SECTION_MARKER_RE.match(block.text)
    return m.group(1).strip() if m else None


def _source_line(block: Block) -> tuple[str, str, str | None] | None:
    """(label, source, url) if the block is a source line such as "文章来源：国际商报"."""
    if block.kind != "para" or display_width(block.text) > MAX_SOURCE_WIDTH:
        return None
    text = block.text.strip()
    # "（来源：人民日报）" — the whole line in brackets.
    if text[:1] in "（(" and text[-1:] in "）)":
        text = text[1:-1].strip()
    m = SOURCE_RE.match(text)
    if not m or "。" in m.group(2):
        return None
    url = re.search(r"\]\((\S+?)\)|<(https?://[^>\s]+)>", block.md)
    return m.group(1), m.group(2).strip(), (url.group(1) or url.group(2)) if url else None


def _is_toc_keyword(block: Block) -> bool:
    return block.kind in ("para", "heading") and norm_key(block.text) in TOC_KEYWORDS


def _is_bold_only(block: Block) -> bool:
    md = block.md.strip()
    return bool(re.fullmatch(r"\*\*[^*]+\*\*|__[^_]+__", md))


def _toc_entry(block: Block) -> tuple[str, str] | None:
    """Classify one printed-TOC line: ("group"|"child"|"paged", title) or None."""
    if block.kind != "para" or display_width(block.text) > MAX_FURNITURE_WIDTH:
        return None
    text = block.text.strip()
    # A title may end with "？" or "！", but never holds a whole sentence.
    if SENTENCE_PUNCT_RE.search(text[:-1]) or re.search(r"[。；;]", text):
        return None
    if m := TOC_BULLET_RE.match(text):
        return "group", m.group(1).strip()
    if m := TOC_SLASH_RE.match(text):
        return "child", m.group(1).strip()
    if m := TOC_PAGE_FIRST_RE.match(text):
        return "paged", m.group(1).strip()
    if m := TOC_PAGE_LAST_RE.match(text):
        return "paged", m.group(1).strip()
    if _is_bold_only(block) and not ends_paragraph(text) and _section_marker(block) is None:
        return "group", text
    return None


def _has_paged_number(block: Block) -> bool:
    """A TOC line with an unmistakable page number ("(12) title", "title ..... 12")."""
    entry = _toc_entry(block)
    return entry is not None and entry[0] == "paged" and bool(TOC_STRONG_PAGE_RE.search(block.text))


def _find_number(text: str) -> re.Match[str] | None:
    for rx in NUMBER_RES:
        if m := rx.search(text):
            return m
    return None


def _find_date(text: str) -> re.Match[str] | None:
    for rx in DATE_RES:
        if m := rx.search(text):
            return m
    return None


def _is_short_line(text: str, max_width: int) -> bool:
    """A line too short and unpunctuated to be a sentence (a label, an address line)."""
    return display_width(text) <= max_width and not SENTENCE_PUNCT_RE.search(text)


def _squash_spaces(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class _Toc:
    """What the printed table of contents tells us."""

    title_keys: set[str]
    group_keys: set[str]


# --- the pipeline ---------------------------------------------------------------------------


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
        self.toc = _Toc(set(), set())
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
        if first is not None and first.kind == "heading" and _section_marker(first) is None:
            # A heading directly followed by prose is an article title, not a masthead.
            nxt = next((b for b in blocks[i + 1 :] if b.kind != "hr"), None)
            is_article = (
                nxt is not None
                and nxt.kind == "para"
                and ends_paragraph(nxt.text)
                and display_width(nxt.text) >= 2 * MIN_BROKEN_WIDTH
                and _find_number(nxt.text) is None
            )
            if is_article:
                self.journal = ""
            else:
                self.journal = self._take_number_and_date(first.text) or first.text
                i += 1
        elif (
            first is not None
            and first.kind == "para"
            and _is_short_line(first.text, MAX_MASTHEAD_WIDTH)
            and not ends_paragraph(first.text)
            and not self._is_special(first)
            and _toc_entry(first) is None
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
            entry = _toc_entry(block) if block.kind == "para" else None
            # A bold cover line ("**内部资料**") looks like a TOC group, but a TOC entry
            # with a page number or a "/" never is a cover line.
            cover = (
                block.kind == "para"
                and (entry is None or entry[0] == "group")
                and not _is_toc_keyword(block)
                and _section_marker(block) is None
                and is_cover_line(block.text)
            )
            if not cover and (
                block.kind != "para"
                or _is_toc_keyword(block)
                or _section_marker(block) is not None
                or entry is not None
                or _source_line(block) is not None
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
        if self.number is None and (m := _find_number(rest)):
            self.number = _squash_spaces(m.group(0))
            rest = rest[: m.start()] + " " + rest[m.end() :]
        if self.date is None and (m := _find_date(rest)):
            self.date = _squash_spaces(m.group(0))
            rest = rest[: m.start()] + " " + rest[m.end() :]
        if rest == text:
            return text
        return _squash_spaces(rest).strip(_SEPARATORS)

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
        number = _find_number(text)
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
            elif _is_toc_keyword(block) or all(
                j < len(blocks) and _has_paged_number(blocks[j]) for j in range(i, i + TOC_MIN_RUN)
            ):
                end = self._read_toc(i + 1 if _is_toc_keyword(block) else i)
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
                items = [_toc_entry(Block("para", line, line)) for line in block.lines]
                if not items or any(item is None for item in items):
                    break
                entries.extend(item for item in items if item is not None)
                i += 1
                continue
            entry = _toc_entry(block)
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
            elif _is_short_line(line, MAX_CONTACT_CONTINUATION_WIDTH):
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

    # 4. rejoin --------------------------------------------------------------------------------

    def _is_special(self, block: Block) -> bool:
        return (
            _section_marker(block) is not None
            or _source_line(block) is not None
            or _is_toc_keyword(block)
        )

    def _continues(self, prev: Block, nxt: Block) -> bool:
        """True if nxt is the rest of prev, cut off by a page break."""
        if prev.kind != "para" or nxt.kind != "para":
            return False
        if self._is_special(prev) or self._is_special(nxt) or NUMBERED_RE.match(nxt.text):
            return False
        if ends_paragraph(prev.text):
            # A semicolon ends list items ("（一）…；"), but in running prose it only ends a
            # clause: a long paragraph stopping on one, followed by prose that is not the next
            # enumerated item ("二是…"), was cut by a page break.
            return (
                prev.text.rstrip()[-1] in SOFT_END
                and display_width(prev.text) >= MIN_BROKEN_WIDTH
                and not ENUMERATION_RE.match(nxt.text)
            )
        if prev.md.rstrip().endswith(")") and "![" in prev.md or nxt.md.lstrip().startswith("!["):
            return False  # an image paragraph ends with its own markup, not with a sentence
        if display_width(prev.text) >= MIN_BROKEN_WIDTH:
            return True
        # A Latin sentence that goes on in lower case is a continuation whatever its length.
        return nxt.text[:1].islower()

    def _heading_continues(self, prev: Block, nxt: Block) -> bool:
        """True if nxt is the tail of a heading broken over two lines."""
        if prev.kind != "heading" or nxt.kind != "heading" or prev.level != nxt.level:
            return False
        if ends_paragraph(prev.text) or _section_marker(prev) or _section_marker(nxt):
            return False
        if norm_key(prev.text + nxt.text) in self.toc.title_keys:
            return True
        # Without a TOC: only a long heading wraps, and only a few characters spill over.
        return (
            display_width(prev.text) >= MIN_BROKEN_WIDTH
            and display_width(nxt.text) <= MAX_HEADING_TAIL_WIDTH
            and not NUMBERED_RE.match(nxt.text)
            and norm_key(nxt.text) not in self.toc.title_keys
        )

    def _rejoin(self, content: list[Block]) -> list[Block]:
        out: list[Block] = []
        for block in content:
            if out and (self._continues(out[-1], block) or self._heading_continues(out[-1], block)):
                prev = out[-1]
                out[-1] = Block(
                    prev.kind,
                    join_text(prev.text, block.text),
                    join_text(prev.md, block.md),
                    prev.level,
                    prev.lines + block.lines,
                )
            else:
                out.append(block)
        return out

    def _is_list_line(self, block: Block) -> bool:
        return (
            block.kind == "para"
            and len(block.lines) == 1
            and display_width(block.text) <= MAX_LIST_ITEM_WIDTH
            and not ends_paragraph(block.text)
            and not SENTENCE_PUNCT_RE.search(block.text)
            and not NUMBERED_RE.match(block.text)
            and "![" not in block.md
            and not self._is_special(block)
        )

    def _lists(self, content: list[Block]) -> list[Block]:
        """Turn a run of short unpunctuated one-line paragraphs into a bullet list.

        Word users type lists (names of member companies, say) as one paragraph per item;
        as separate paragraphs they render with paragraph spacing and read like broken text.
        """
        out: list[Block] = []
        run: list[Block] = []

        def flush() -> None:
            if len(run) >= MIN_LIST_RUN:
                md = "\n".join("- " + b.md for b in run)
                out.append(
                    Block("list", "\n".join(b.text for b in run), md, 0, [b.text for b in run])
                )
            else:
                out.extend(run)
            run.clear()

        for block in content:
            if self._is_list_line(block):
                run.append(block)
            else:
                flush()
                out.append(block)
        flush()
        return out

    def _pseudo_headings(self, content: list[Block]) -> list[Block]:
        """A short paragraph that is entirely bold and has no final punctuation is a heading."""
        out: list[Block] = []
        for block in content:
            if (
                block.kind == "para"
                and _is_bold_only(block)
                and not ends_paragraph(block.text)
                and display_width(block.text) <= MAX_PSEUDO_HEADING_WIDTH
                and not self._is_special(block)
            ):
                out.append(
                    Block(
                        "heading",
                        block.text,
                        block.md.strip()[2:-2].strip(),
                        PSEUDO_HEADING_LEVEL,
                        block.lines,
                    )
                )
            else:
                out.append(block)
        return out

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
        if (marker := _section_marker(block)) is not None:
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
        has_markers = any(_section_marker(b) is not None for b in content)
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
            source = _source_line(block)
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
        start = self._masthead()
        furniture = self._furniture(start)
        content = [b for n, b in enumerate(self.blocks) if n >= start and not furniture[n]]
        content, contact = self._contact(content)
        content = self._lists(self._rejoin(self._pseudo_headings(content)))
        sections = self._assemble(content)
        if not any(s.articles for s in sections):
            raise DocumentImportError(
                "document.no_headings",
                "No articles were found. Give each article title its own heading "
                "(Markdown '#' or a Word heading style) and import again.",
            )
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


# --- public API -----------------------------------------------------------------------------


def import_markdown(text: str) -> IssueDoc:
    """Import a Markdown document (already decoded) into a structured issue."""
    text = strip_controls(text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n"))
    if not text.strip():
        raise DocumentImportError("document.empty", "The document is empty.")
    blocks = [b for b in parse_blocks(text) if b.kind == "hr" or b.text.strip()]
    if not any(b.text for b in blocks):
        raise DocumentImportError("document.no_text", "The document contains no text.")
    return _Importer(blocks).run()


def docx_markdown(
    data: bytes, save_image: ImageSaver | None = None, *, isolated: bool = False
) -> str:
    """The Markdown that a .docx file is imported from (what missing_sentences checks).

    ``isolated`` converts in a child process with a time and memory limit (an upload
    being imported; without ``save_image``, which the child cannot call back).
    """
    if not data:
        raise DocumentImportError("document.empty", "The document is empty.")
    try:
        if isolated and save_image is None:
            return convert_in_child(data)
        return docx_to_markdown(data, save_image)
    except (WordConversionError, ContainerError) as exc:
        raise DocumentImportError(
            "document.bad_docx", "Cannot read the Word document: %(error)s.", error=exc.detail
        ) from exc


def import_docx(
    data: bytes, save_image: ImageSaver | None = None, *, isolated: bool = False
) -> IssueDoc:
    """Import a Word .docx document (heading styles mark sections, titles and subheadings).

    ``save_image(data, content_type) -> url`` stores embedded images; without it they are
    kept inline as ``data:`` URIs. ``isolated``: see :func:`docx_markdown`.
    """
    return import_markdown(docx_markdown(data, save_image, isolated=isolated))


def decode_text(data: bytes) -> str:
    """Decode a text document: UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030."""
    if not data.strip():
        raise DocumentImportError("document.empty", "The document is empty.")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DocumentImportError(
                "document.bad_utf16", "The text file is damaged (invalid UTF-16)."
            ) from exc
    if b"\x00" in data:
        raise _binary_document()
    # UTF-8 first: it is strict enough that a GB18030 file essentially never decodes as UTF-8,
    # while GB18030 accepts most byte sequences and therefore has to come last.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
        if controls > max(2, len(text) // 100):
            raise _binary_document()
        return text
    raise DocumentImportError(
        "document.unknown_encoding",
        "The text file could not be decoded; save it as UTF-8 (or GB18030) and import again.",
    )


def import_file(
    path_or_name: str,
    data: bytes,
    save_image: ImageSaver | None = None,
    *,
    isolated: bool = False,
) -> IssueDoc:
    """Import an uploaded file, choosing the format from its name (.md/.markdown/.txt, .docx).

    ``save_image`` and ``isolated`` are passed to :func:`import_docx` for Word files.
    """
    suffix = PurePath(path_or_name).suffix.lower()
    if suffix in DOCX_SUFFIXES:
        return import_docx(data, save_image, isolated=isolated)
    if suffix in MARKDOWN_SUFFIXES:
        return import_markdown(decode_text(data))
    if suffix == ".doc":
        raise DocumentImportError(
            "document.old_doc",
            "Old Word .doc files are not supported; save the document as .docx and import again.",
        )
    raise DocumentImportError(
        "document.bad_type",
        "Unsupported file type %(suffix)r: import a Markdown (.md) or Word (.docx) file.",
        suffix=suffix or "(none)",
    )


def source_markdown(path_or_name: str, data: bytes) -> str:
    """The Markdown text an uploaded file is imported from (for missing_sentences)."""
    if PurePath(path_or_name).suffix.lower() in DOCX_SUFFIXES:
        return docx_markdown(data)
    return decode_text(data)


# --- completeness check ---------------------------------------------------------------------


def sentences(text: str) -> list[str]:
    """Every sentence of a Markdown text, headings and short lines included, in order.

    Each block is split after sentence-final punctuation; an unterminated remainder (a title,
    a list item, half a sentence before a page break) counts as a sentence of its own.
    """
    out: list[str] = []
    for block in parse_blocks(strip_controls(text.lstrip("\ufeff"))):
        for line in block.lines if block.kind not in ("para", "heading") else [block.text]:
            out.extend(s for s in split_sentences(line) if norm_key(s))
    return out


def _doc_text_keys(doc: IssueDoc) -> str:
    parts: list[str] = [doc.journal, doc.number or "", doc.date or "", plain_text(doc.intro)]
    for section in doc.sections:
        parts += [section.title, plain_text(section.intro)]
        for article in section.articles:
            parts += [
                article.title,
                plain_text(article.body),
                (article.source_label or "") + (article.source or ""),
            ]
    parts += [label + value for label, value in doc.contact]
    # Cover lines are kept, as metadata: their sentences are accounted for.
    parts += doc.cover_lines
    # "\x00" separates parts so a match can never span two of them.
    return "\x00".join(norm_key(p) for p in parts)


def missing_sentences(source_markdown: str, doc: IssueDoc) -> list[str]:
    """Sentences of the source that are neither in the issue nor in ``doc.removed``.

    Comparison ignores spacing, punctuation and Markdown, so rejoined paragraphs and cleaned
    labels still match; an empty list proves that the import lost nothing.
    """
    present = _doc_text_keys(doc)
    removed = "\x00".join(norm_key(r) for r in doc.removed)
    masthead = [norm_key(x) for x in (doc.number or "", doc.date or "", doc.journal) if x]
    missing: list[str] = []
    for sentence in sentences(source_markdown):
        key = norm_key(sentence)
        if key in present or key in removed:
            continue
        # A masthead line ("季刊 / 2026 年第 1 期") is split into number, date and intro.
        for part in masthead:
            key = key.replace(part, "")
        if key and key not in present:
            missing.append(sentence)
    return missing
