"""Article Markdown → email-styled HTML and plain text, from one token walk.

The renderer of :mod:`service.issues.render` needs, for every piece of Markdown, an HTML
fragment (inline-styled for email clients, or class-free for the web archive) *and* the
plain-text equivalent, with the same link numbering in both so one tracked-link slot serves
both MIME parts. markdown-it-py's own HTML renderer cannot give us the text part nor the
numbering, so this module walks the token stream itself.

Styles are written inline here rather than left to premailer: the demo issue has hundreds of
paragraphs, and premailer merges styles through cssutils at roughly 0.1 ms per matched
element, which alone would blow the 100 ms render budget.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

from markdown_it import MarkdownIt
from markdown_it.token import Token

from service.issues.image_files import size_in_url

# Excerpt mode: collect leading paragraphs until this many characters are shown...
EXCERPT_TARGET_CHARS = 160
# ...but never show more than this; a longer first paragraph is cut at a sentence end.
EXCERPT_MAX_CHARS = 300
# A sentence end found before this fraction of EXCERPT_MAX_CHARS makes too short a cut;
# below it we cut hard at the limit instead.
EXCERPT_MIN_CUT_FRACTION = 0.4
EXCERPT_ELLIPSIS = "……"
SENTENCE_ENDS = "。！？；!?;"
# Body headings deeper than this are rendered one level smaller (h4 → h5 styles etc.).
BODY_HEADING_LEVEL = 4
TRACKABLE_SCHEMES = ("http://", "https://")
# Links with these schemes stay links but are never tracked.
PLAIN_LINK_SCHEMES = ("mailto:", "tel:", "#")

# Raw HTML is off: article bodies come from documents authored by staff, and raw tags would
# bypass both the email styling and the HTML-escaping guarantees of the template.
_MD = MarkdownIt("commonmark", {"html": False})


@dataclass(frozen=True)
class LinkInfo:
    """A link found in the content; ``position`` is N of the ``link:N`` slot."""

    url: str
    position: int
    anchor_of_article: str | None
    # "content" (in the text of an article or intro) or "read_more" (excerpt mode link).
    kind: str = "content"


@dataclass(frozen=True)
class BodyStyles:
    """Inline CSS per element; empty strings mean "no style attribute" (web archive)."""

    p: str = ""
    h: str = ""
    h_small: str = ""
    ul: str = ""
    ol: str = ""
    li: str = ""
    a: str = ""
    img: str = ""
    # The widest an uploaded image is shown (the email's content width); 0: no width and
    # height attributes (the web archive's stylesheet sizes images).
    img_max_width: int = 0
    blockquote: str = ""
    pre: str = ""
    code: str = ""
    hr: str = ""


@dataclass
class LinkRegistry:
    """Numbers the http(s) links in document order and hands out their href values.

    With tracking on, the href becomes the marker of slot ``link:N`` (filled per recipient
    with the click-redirect URL); with tracking off it is the URL itself.
    """

    tracking: bool
    marker: Callable[[str], str]
    links: list[LinkInfo] = field(default_factory=list)

    def href(self, url: str, anchor: str | None, kind: str = "content") -> str:
        """Register ``url`` (if trackable) and return the value to put in href / text."""
        if not url.lower().startswith(TRACKABLE_SCHEMES):
            return url
        position = len(self.links)
        self.links.append(LinkInfo(url, position, anchor, kind))
        return self.marker(f"link:{position}") if self.tracking else url


@dataclass
class Rendered:
    """One Markdown fragment as HTML and as plain text."""

    html: str
    text: str


def parse(markdown: str) -> list[Token]:
    """Parse CommonMark into markdown-it block tokens."""
    return _MD.parse(markdown)


def _is_wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _softbreak(children: Sequence[Token], i: int) -> str:
    # Browsers render a newline between two CJK characters as a visible space; a soft
    # break inside Chinese prose must vanish, while between Latin words it is a space.
    before = children[i - 1].content[-1:] if i > 0 else ""
    after = children[i + 1].content[:1] if i + 1 < len(children) else ""
    if (before and _is_wide(before)) or (after and _is_wide(after)):
        return ""
    return " "


@dataclass
class _Item:
    """An open list item while walking: its text prefix and collected inline text."""

    prefix: str
    parts: list[str] = field(default_factory=list)
    emitted: bool = False


def _join_text(lines: Sequence[str]) -> str:
    # Paragraphs are separated by a blank line; consecutive list items stay together.
    out: list[tuple[str, bool]] = []
    for line in lines:
        if not line.strip():
            continue
        is_item = line.lstrip("> ").startswith(("• ",)) or _looks_numbered(line)
        if out and not (is_item and out[-1][1]):
            out.append(("", False))
        out.append((line, is_item))
    return "\n".join(line for line, _ in out)


def _looks_numbered(line: str) -> bool:
    head = line.lstrip("> ").split(" ", 1)[0]
    return head.endswith(".") and head[:-1].isdigit()


def _attr(name: str, value: str) -> str:
    return f' {name}="{escape(value)}"' if value else ""


class _Walker:
    """Renders a token list to HTML and text in one pass (so links register once)."""

    def __init__(
        self,
        styles: BodyStyles,
        links: LinkRegistry | None,
        anchor: str | None,
        image_alt: str,
        image_text: str,
    ) -> None:
        self.styles = styles
        self.links = links
        self.anchor = anchor
        self.image_alt = image_alt
        self.image_text = image_text

    # ---- inline -------------------------------------------------------------------------
    def inline(self, children: Sequence[Token]) -> tuple[str, str]:
        html: list[str] = []
        text: list[str] = []
        st = self.styles
        link_stack: list[tuple[str, int]] = []  # (text url, len(text) at link start)
        for i, tok in enumerate(children):
            kind = tok.type
            if kind == "text":
                html.append(escape(tok.content, quote=False))
                text.append(tok.content)
            elif kind == "softbreak":
                sep = _softbreak(children, i)
                html.append(sep)
                text.append(sep)
            elif kind == "hardbreak":
                html.append("<br />")
                text.append("\n")
            elif kind == "code_inline":
                html.append(f"<code{_attr('style', st.code)}>{escape(tok.content)}</code>")
                text.append(tok.content)
            elif kind in ("strong_open", "strong_close", "em_open", "em_close"):
                slash = "/" if kind.endswith("close") else ""
                html.append(f"<{slash}{tok.tag}>")
            elif kind == "link_open":
                url = str(tok.attrs.get("href", ""))
                if self.links is not None:
                    url = self.links.href(url, self.anchor)
                html.append(f'<a href="{escape(url)}"{_attr("style", st.a)}>')
                link_stack.append((url, len(text)))
            elif kind == "link_close":
                url, start = link_stack.pop()
                html.append("</a>")
                label = "".join(text[start:]).strip()
                # "text (url)" so the plain-text reader can still follow the link; autolinks
                # (label == url) and in-page anchors need no repetition.
                if url and label != url and not url.startswith("#"):
                    text.append(f" ({url})")
            elif kind == "image":
                html_part, text_part = self.image(tok)
                html.append(html_part)
                text.append(text_part)
            # html_inline cannot occur (html disabled); anything else is silently skipped.
        return "".join(html), "".join(text)

    def image(self, tok: Token) -> tuple[str, str]:
        alt = "".join(c.content for c in (tok.children or [])).strip() or self.image_alt
        src = str(tok.attrs.get("src", ""))
        text = self.image_text.format(alt=alt)
        if not src.lower().startswith(TRACKABLE_SCHEMES):
            # data:/relative images are blocked or broken in mail clients: keep the alt text.
            return escape(text, quote=False), text
        html = (
            f'<img src="{escape(src)}" alt="{escape(alt)}"{self.image_box(src)}'
            f"{_attr('style', self.styles.img)} />"
        )
        return html, text

    def image_box(self, src: str) -> str:
        """Width and height attributes of an uploaded image, scaled to the content width:
        Outlook takes the attributes, not CSS; ``max-width:100%`` shrinks it on a phone."""
        size = size_in_url(src) if self.styles.img_max_width else None
        if size is None:
            return ""
        width, height = size
        shown = min(width, self.styles.img_max_width)
        return f' width="{shown}" height="{max(round(height * shown / width), 1)}"'

    # ---- blocks -------------------------------------------------------------------------
    def blocks(self, tokens: Sequence[Token]) -> tuple[str, str]:
        html: list[str] = []
        text: list[str] = []  # one entry per text line/paragraph
        st = self.styles
        counters: list[int] = []  # per open list: next number, or -1 for bullets
        items: list[_Item] = []  # open list items (their text is emitted as one line)
        quote_depth = 0
        in_heading = False

        def flush(item: _Item) -> None:
            if not item.emitted:
                text.append(item.prefix + " ".join(p for p in item.parts if p))
                item.emitted = True

        for tok in tokens:
            kind = tok.type
            if kind == "paragraph_open":
                if not tok.hidden:
                    html.append(f"<p{_attr('style', st.p)}>")
            elif kind == "paragraph_close":
                if not tok.hidden:
                    html.append("</p>")
            elif kind == "heading_open":
                tag, style = self._heading(tok)
                html.append(f"<{tag}{_attr('style', style)}>")
                in_heading = True
            elif kind == "heading_close":
                tag, _ = self._heading(tok)
                html.append(f"</{tag}>")
                in_heading = False
            elif kind == "inline":
                h, t = self.inline(tok.children or [])
                html.append(h)
                if items and not items[-1].emitted:
                    items[-1].parts.append(t)
                else:
                    text.append("> " * quote_depth + (f"■ {t}" if in_heading else t))
            elif kind in ("bullet_list_open", "ordered_list_open"):
                if items:
                    flush(items[-1])  # the parent item's line comes before its sub-list
                style = st.ul if kind == "bullet_list_open" else st.ol
                start = int(tok.attrs.get("start", 1)) if kind == "ordered_list_open" else -1
                start_attr = f' start="{start}"' if start not in (-1, 1) else ""
                html.append(f"<{tok.tag}{start_attr}{_attr('style', style)}>")
                counters.append(start)
            elif kind in ("bullet_list_close", "ordered_list_close"):
                html.append(f"</{tok.tag}>")
                counters.pop()
            elif kind == "list_item_open":
                html.append(f"<li{_attr('style', st.li)}>")
                number = counters[-1]
                marker = "•" if number == -1 else f"{number}."
                if number != -1:
                    counters[-1] += 1
                indent = "  " * (len(counters) - 1)
                items.append(_Item(f"{'> ' * quote_depth}{indent}{marker} "))
            elif kind == "list_item_close":
                html.append("</li>")
                flush(items.pop())
            elif kind == "blockquote_open":
                html.append(f"<blockquote{_attr('style', st.blockquote)}>")
                quote_depth += 1
            elif kind == "blockquote_close":
                html.append("</blockquote>")
                quote_depth -= 1
            elif kind in ("code_block", "fence"):
                html.append(f"<pre{_attr('style', st.pre)}>{escape(tok.content)}</pre>")
                text.append(tok.content.rstrip("\n"))
            elif kind == "hr":
                html.append(f"<hr{_attr('style', st.hr)} />")
                text.append("――――――――")
        return "".join(html), _join_text(text)

    def _heading(self, tok: Token) -> tuple[str, str]:
        # Article bodies live under an h3 title, so their headings start at h4 whatever
        # level the author typed.
        level = int(tok.tag[1:])
        if level <= 3:
            return f"h{BODY_HEADING_LEVEL}", self.styles.h
        return f"h{BODY_HEADING_LEVEL + 1}", self.styles.h_small


def render(
    tokens: Sequence[Token],
    styles: BodyStyles,
    *,
    links: LinkRegistry | None = None,
    anchor: str | None = None,
    image_alt: str = "图片",
    image_text: str = "[图片：{alt}]",
) -> Rendered:
    """Render block tokens to HTML (with ``styles`` inline) and plain text.

    ``links`` numbers every http(s) link; pass ``None`` to leave hrefs untouched (web archive).
    ``image_alt`` replaces a missing alt text; ``image_text`` formats images in the text part.
    """
    walker = _Walker(styles, links, anchor, image_alt, image_text)
    html, text = walker.blocks(tokens)
    return Rendered(html, text)


# ---- excerpts ----------------------------------------------------------------------------


def top_level_blocks(tokens: Sequence[Token]) -> list[list[Token]]:
    """Split block tokens into top-level blocks (a paragraph, a whole list, a quote …)."""
    blocks: list[list[Token]] = []
    current: list[Token] = []
    depth = 0
    for tok in tokens:
        current.append(tok)
        depth += tok.nesting
        if depth == 0:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _block_text(block: Sequence[Token]) -> str:
    return "".join(
        child.content
        for tok in block
        if tok.type == "inline"
        for child in (tok.children or [])
        if child.type in ("text", "code_inline")
    )


def _is_prose(block: Sequence[Token]) -> bool:
    # Excerpts are made of prose: skip subheadings, rules, code and image-only paragraphs.
    if block[0].type not in (
        "paragraph_open",
        "bullet_list_open",
        "ordered_list_open",
        "blockquote_open",
    ):
        return False
    return bool(_block_text(block).strip())


def cut_text(text: str, limit: int = EXCERPT_MAX_CHARS) -> str:
    """Cut ``text`` to at most ``limit`` characters, preferably after a sentence end."""
    text = text.strip()
    if len(text) <= limit:
        return text
    head = text[:limit]
    cut = max(head.rfind(ch) for ch in SENTENCE_ENDS)
    if cut + 1 >= int(limit * EXCERPT_MIN_CUT_FRACTION):
        return head[: cut + 1] + EXCERPT_ELLIPSIS
    return head + EXCERPT_ELLIPSIS


def excerpt_tokens(tokens: Sequence[Token]) -> tuple[list[Token], str | None]:
    """Choose the leading prose of an article for excerpt mode.

    Returns ``(tokens, cut_paragraph)``: the whole blocks to render, and an extra plain-text
    paragraph cut at a sentence end when the first paragraph alone is too long (its inline
    formatting and links are dropped; the archive page has them).
    """
    chosen: list[Token] = []
    total = 0
    for block in top_level_blocks(tokens):
        if not _is_prose(block):
            continue
        length = len(_block_text(block))
        if not chosen and length > EXCERPT_MAX_CHARS:
            return [], cut_text(_block_text(block))
        if chosen and total + length > EXCERPT_MAX_CHARS:
            break
        chosen.extend(block)
        total += length
        if total >= EXCERPT_TARGET_CHARS:
            break
    return chosen, None
