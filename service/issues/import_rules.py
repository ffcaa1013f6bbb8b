"""The tunables, patterns and small classifiers of the importer: what a section marker, a source
line, a table-of-contents entry, an issue number or a date look like in a document that
comes from print layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.issues.blocks import Block, display_width, ends_paragraph, norm_key

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
SEPARATORS = " \t/|｜·•-—–,，、:：;；"


def section_marker(block: Block) -> str | None:
    """The section name if the block is a marker like 【专家观点】."""
    if block.kind not in ("para", "heading"):
        return None
    m = SECTION_MARKER_RE.match(block.text)
    return m.group(1).strip() if m else None


def source_line(block: Block) -> tuple[str, str, str | None] | None:
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


def is_toc_keyword(block: Block) -> bool:
    return block.kind in ("para", "heading") and norm_key(block.text) in TOC_KEYWORDS


def is_bold_only(block: Block) -> bool:
    md = block.md.strip()
    return bool(re.fullmatch(r"\*\*[^*]+\*\*|__[^_]+__", md))


def toc_entry(block: Block) -> tuple[str, str] | None:
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
    if is_bold_only(block) and not ends_paragraph(text) and section_marker(block) is None:
        return "group", text
    return None


def has_paged_number(block: Block) -> bool:
    """A TOC line with an unmistakable page number ("(12) title", "title ..... 12")."""
    entry = toc_entry(block)
    return entry is not None and entry[0] == "paged" and bool(TOC_STRONG_PAGE_RE.search(block.text))


def find_number(text: str) -> re.Match[str] | None:
    for rx in NUMBER_RES:
        if m := rx.search(text):
            return m
    return None


def find_date(text: str) -> re.Match[str] | None:
    for rx in DATE_RES:
        if m := rx.search(text):
            return m
    return None


def is_short_line(text: str, max_width: int) -> bool:
    """A line too short and unpunctuated to be a sentence (a label, an address line)."""
    return display_width(text) <= max_width and not SENTENCE_PUNCT_RE.search(text)


def squash_spaces(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class Toc:
    """What the printed table of contents tells us."""

    title_keys: set[str]
    group_keys: set[str]
