"""Markdown → a flat list of top-level blocks, plus the small text helpers the importer shares.

The importer works on blocks rather than on lines: markdown-it-py tells us reliably what is a
heading, a paragraph, a rule or a list, and gives each block both its Markdown source (kept
verbatim for the article body, so links, images and emphasis survive) and its plain text (used
for every decision: punctuation, furniture, table-of-contents matching).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token

# Characters after which a paragraph is allowed to end. A paragraph that stops on anything
# else was most likely cut by a page break in the print layout. Closing quotes and brackets
# count because Chinese sentences often end with 。” or ）; colons because labels and list
# introductions ("离岸业务：") end there.
PARAGRAPH_END = "。！？；…」』”’）)】》.!?:：;"

# Where a sentence ends, for sentences(): stronger than PARAGRAPH_END (a closing bracket or a
# colon does not end a sentence).
_SENTENCE_END_RE = re.compile(
    r"(?:[。！？!?；;…]+|(?<!\d)\.(?=\s|$)|\.(?=\s+\D))[”’」』）)\]】》\"']*"
)

# A numbered heading ("一、", "（三）", "3.", "第二章", "①") is a subheading inside an article,
# never an article title of its own (unless the printed table of contents lists it).
NUMBERED_RE = re.compile(
    r"^\s*(?:[一二三四五六七八九十百]+\s*[、.．]"
    r"|[（(]\s*[一二三四五六七八九十百\d]+\s*[)）]"
    r"|\d{1,2}\s*[、.．)](?!\d)"
    r"|第\s*[一二三四五六七八九十百\d]+\s*[章节部篇条]"
    r"|[①-⑳])"
)

_MD = MarkdownIt("commonmark", {"html": True}).enable("table")

# Control characters other than tab/newline: they never belong in an email (Gmail clips a
# message containing some of them) and usually come from cp1252 mojibake.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass
class Block:
    """One top-level block of the document."""

    kind: str  # "heading", "para", "hr", "list", "quote", "code", "html", "table"
    text: str  # plain text, markup removed, soft/hard line breaks joined
    md: str  # Markdown for output; for headings and paragraphs only the inline part
    level: int = 0  # heading level 1-6; 0 for other blocks
    lines: list[str] = field(default_factory=list)  # plain text lines, before joining


def strip_controls(text: str) -> str:
    """Remove C0/C1 control characters except tab and newline."""
    return _CONTROL_RE.sub("", text)


def is_wide(ch: str) -> bool:
    """True for CJK ideographs, kana, hangul, CJK punctuation and full-width forms."""
    if not ch:
        return False
    code = ord(ch)
    return (
        0x2E80 <= code <= 0x9FFF
        or 0xAC00 <= code <= 0xD7AF
        or 0xF900 <= code <= 0xFAFF
        or 0xFE30 <= code <= 0xFE4F
        or 0xFF00 <= code <= 0xFFEF
        or 0x20000 <= code <= 0x3FFFF
    )


def join_text(left: str, right: str) -> str:
    """Join two pieces of one sentence: no space next to CJK, one space between Latin words."""
    left = left.rstrip()
    right = right.lstrip()
    if not left or not right:
        return left + right
    # A word hyphenated at a line end ("infor-" / "mation") rejoins without a space.
    if is_wide(left[-1]) or is_wide(right[0]) or (left[-1] == "-" and left[-2:-1].isalpha()):
        return left + right
    return left + " " + right


def display_width(text: str) -> int:
    """Width in Latin columns: a CJK character counts as two."""
    return sum(2 if is_wide(ch) else 1 for ch in text)


def ends_paragraph(text: str) -> bool:
    """True if the text ends with punctuation that may legitimately end a paragraph."""
    stripped = text.rstrip().rstrip("*_~`")
    return bool(stripped) and stripped[-1] in PARAGRAPH_END


def norm_key(text: str) -> str:
    """Comparison key: NFKC, case-folded, letters and digits only (punctuation and spaces gone).

    Used to match headings with printed table-of-contents entries and, in missing_sentences,
    to compare text across Markdown escaping, rejoined lines and converted punctuation.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if ch.isalnum())


def _join_lines(lines: list[str], hard: list[bool]) -> str:
    """Join the lines of one paragraph (print-layout line breaks are not meaningful).

    A hard break after sentence-final punctuation is kept (an address or a short poem); any
    other break is a layout artefact and is joined, CJK-aware.
    """
    out = lines[0] if lines else ""
    for line, was_hard in zip(lines[1:], hard, strict=False):
        if was_hard and ends_paragraph(out):
            out = out.rstrip() + "\\\n" + line.lstrip()
        else:
            out = join_text(out, line)
    return out


def _inline_plain(token: Token) -> list[str]:
    """Plain text lines of an inline token (emphasis, links and escapes resolved)."""
    lines = [""]
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            lines[-1] += child.content
        elif child.type in ("softbreak", "hardbreak"):
            lines.append("")
        elif child.type == "image":
            lines[-1] += "".join(c.content for c in child.children or [])
    return lines


def _inline_md(content: str) -> tuple[list[str], list[bool]]:
    """Split inline Markdown into lines and record which breaks are hard breaks."""
    raw = content.split("\n")
    lines: list[str] = []
    hard: list[bool] = []
    for i, line in enumerate(raw):
        is_last = i == len(raw) - 1
        if not is_last and (line.endswith("  ") or line.endswith("\\")):
            hard.append(True)
            line = line.rstrip(" ").removesuffix("\\")
        elif not is_last:
            hard.append(False)
        lines.append(line.strip())
    return lines, hard


def _plain_of_range(tokens: list[Token]) -> list[str]:
    """Plain text lines of a container block (list, quote, table): one line per inline."""
    lines: list[str] = []
    for tok in tokens:
        if tok.type == "inline":
            lines.extend(line for line in _inline_plain(tok) if line.strip())
        elif tok.type in ("fence", "code_block", "html_block"):
            lines.extend(line for line in tok.content.splitlines() if line.strip())
    return lines


def parse_blocks(text: str) -> list[Block]:
    """Parse Markdown into top-level blocks."""
    src_lines = text.split("\n")
    tokens = _MD.parse(text)
    blocks: list[Block] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type in ("heading_open", "paragraph_open"):
            inline = tokens[i + 1]
            plain_lines = [line.strip() for line in _inline_plain(inline)]
            md_lines, hard = _inline_md(inline.content)
            plain = plain_lines[0] if plain_lines else ""
            for line in plain_lines[1:]:
                plain = join_text(plain, line)
            if tok.type == "heading_open":
                # A (setext) heading may span lines; a heading never keeps a line break.
                heading_md = _join_lines(md_lines, [False] * len(hard)).strip()
                blocks.append(
                    Block("heading", plain.strip(), heading_md, int(tok.tag[1:]), plain_lines)
                )
            else:
                blocks.append(
                    Block("para", plain.strip(), _join_lines(md_lines, hard), 0, plain_lines)
                )
            i += 3
            continue
        if tok.type == "hr":
            blocks.append(Block("hr", "", "---"))
            i += 1
            continue
        if tok.type.endswith("_open"):
            # A container: find its matching close at the same nesting level.
            close = tok.type.replace("_open", "_close")
            j = i + 1
            while j < len(tokens) and (tokens[j].type != close or tokens[j].level != tok.level):
                j += 1
            kind = {
                "bullet_list_open": "list",
                "ordered_list_open": "list",
                "blockquote_open": "quote",
                "table_open": "table",
            }.get(tok.type, "html")
            start, end = tok.map or (0, 0)
            md = "\n".join(src_lines[start:end]).strip("\n")
            lines = _plain_of_range(tokens[i + 1 : j])
            blocks.append(Block(kind, "\n".join(lines), md, 0, lines))
            i = j + 1
            continue
        if tok.type in ("fence", "code_block", "html_block"):
            start, end = tok.map or (0, 0)
            md = "\n".join(src_lines[start:end]).strip("\n")
            kind = "html" if tok.type == "html_block" else "code"
            lines = [line for line in tok.content.splitlines() if line.strip()]
            if kind == "html" and md.lstrip().startswith("<!--"):
                # Comments are editing notes, never content.
                i += 1
                continue
            blocks.append(Block(kind, "\n".join(lines), md, 0, lines))
            i += 1
            continue
        i += 1
    return blocks


def plain_text(markdown: str) -> str:
    """The plain text of a Markdown string, one block per line."""
    return "\n".join(b.text for b in parse_blocks(markdown) if b.text)


def split_sentences(text: str) -> list[str]:
    """Split one block's plain text into sentences (the unterminated tail counts as one)."""
    out: list[str] = []
    pos = 0
    for m in _SENTENCE_END_RE.finditer(text):
        piece = text[pos : m.end()].strip()
        if piece:
            out.append(piece)
        pos = m.end()
    tail = text[pos:].strip()
    if tail:
        out.append(tail)
    return out
