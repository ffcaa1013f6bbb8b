"""Word (.docx) → Markdown, so a Word issue goes through exactly the same pipeline as Markdown.

mammoth turns the .docx into clean semantic HTML and, unlike a plain-text extraction, keeps the
real paragraph styles (Heading 1…6, Title) as <h1>…<h6>. We then write that HTML out as
CommonMark with a small converter: mammoth's own Markdown writer is deprecated and escapes
too eagerly for Chinese text.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

import mammoth
import mammoth.images

from service.containers import DOCX_LIMITS, check_zip
from service.errors import DomainError
from service.issues.blocks import join_text

# Stores one embedded image (bytes, content type) and returns the URL to use in the Markdown.
ImageSaver = Callable[[bytes, str], str]

# Extra style mappings on top of mammoth's defaults: the document title becomes the masthead
# heading, and WPS / Chinese Word templates name their heading styles "标题 1" etc.
STYLE_MAP = "\n".join(
    [
        "p[style-name='Title'] => h1:fresh",
        "p[style-name='标题'] => h1:fresh",
        "p[style-name='Subtitle'] => p:fresh",
        "p[style-name='副标题'] => p:fresh",
    ]
    + [f"p[style-name='标题 {n}'] => h{n}:fresh" for n in range(1, 7)]
    + [f"p[style-name='标题{n}'] => h{n}:fresh" for n in range(1, 7)]
)

_BLOCK_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "td", "th"}
_VOID_TAGS = {"br", "img", "hr"}

# Characters that would otherwise start Markdown syntax inside text.
_ESCAPE_RE = re.compile(r"([\\`*_\[\]<>])")
_LINE_START_RE = re.compile(r"^(\s*)(\d+)?([#>+\-=.)])(?=\s|$)")


class WordConversionError(DomainError, ValueError):
    """The bytes are not a readable .docx file."""


class _SaverFailed(Exception):
    """Carries an error of ``save_image`` through mammoth (not a damaged document)."""


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[_Node | str] = field(default_factory=list)


class _TreeBuilder(HTMLParser):
    """Builds a tiny DOM from mammoth's (well-formed, simple) HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("root")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Open an element (void elements such as <br> and <img> never get children)."""
        node = _Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID_TAGS:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        """Close the nearest open element with this tag (and anything left open inside it)."""
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        """Keep text as it is; whitespace is normalised when the Markdown is written."""
        self.stack[-1].children.append(data)


def _escape(text: str) -> str:
    return _ESCAPE_RE.sub(r"\\\1", text)


def _wrap(marker: str, inner: str) -> str:
    """Wrap emphasis, moving edge spaces outside (CommonMark ignores '** x **')."""
    core = inner.strip()
    if not core:
        return inner
    lead = inner[: len(inner) - len(inner.lstrip())]
    trail = inner[len(inner.rstrip()) :]
    return f"{lead}{marker}{core}{marker}{trail}"


def _inline(node: _Node) -> str:
    out: list[str] = []
    for child in node.children:
        if isinstance(child, str):
            out.append(_escape(child.replace("\n", " ")))
            continue
        tag = child.tag
        if tag in ("strong", "b"):
            out.append(_wrap("**", _inline(child)))
        elif tag in ("em", "i"):
            out.append(_wrap("*", _inline(child)))
        elif tag == "a":
            text = _inline(child)
            href = child.attrs.get("href", "")
            # Bookmark targets (<a id="…"></a>) and internal links carry no content worth a link.
            out.append(f"[{text}]({href})" if href and not href.startswith("#") and text else text)
        elif tag == "img":
            alt = _escape(child.attrs.get("alt", ""))
            out.append(f"![{alt}]({child.attrs.get('src', '')})")
        elif tag == "br":
            out.append("\\\n")
        else:
            out.append(_inline(child))
    return "".join(out)


def _protect_line_start(text: str) -> str:
    """Escape a paragraph that would otherwise read as a heading, list or quote."""
    # Only ASCII punctuation can be backslash-escaped: "1\\. text", "\\# text".
    return _LINE_START_RE.sub(
        lambda m: m.group(1) + (m.group(2) or "") + "\\" + m.group(3), text, count=1
    )


def _list(node: _Node, depth: int) -> list[str]:
    lines: list[str] = []
    ordered = node.tag == "ol"
    number = 0
    for child in node.children:
        if not isinstance(child, _Node) or child.tag != "li":
            continue
        number += 1
        marker = f"{number}." if ordered else "-"
        indent = "   " * depth if ordered else "  " * depth
        text_parts = _Node(
            "li",
            children=[
                c for c in child.children if not (isinstance(c, _Node) and c.tag in ("ul", "ol"))
            ],
        )
        lines.append(f"{indent}{marker} {_inline(text_parts).strip()}")
        for sub in child.children:
            if isinstance(sub, _Node) and sub.tag in ("ul", "ol"):
                lines.extend(_list(sub, depth + 1))
    return lines


def _table(node: _Node) -> str:
    rows: list[list[str]] = []

    def walk(n: _Node) -> None:
        for c in n.children:
            if isinstance(c, _Node):
                if c.tag == "tr":
                    rows.append(
                        [
                            _inline(cell).strip().replace("|", "\\|")
                            for cell in c.children
                            if isinstance(cell, _Node) and cell.tag in ("td", "th")
                        ]
                    )
                else:
                    walk(c)

    walk(node)
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * width]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def html_to_markdown(html: str) -> str:
    """Convert mammoth's HTML to CommonMark, one block per paragraph, heading or list."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    out: list[str] = []
    for node in builder.root.children:
        if isinstance(node, str):
            if node.strip():
                out.append(_protect_line_start(_escape(node.strip())))
            continue
        tag = node.tag
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            # A manual line break in a heading is layout only: join it (CJK without a space).
            parts = _inline(node).split("\\\n")
            text = parts[0]
            for part in parts[1:]:
                text = join_text(text, part)
            text = text.strip()
            if text:
                out.append("#" * int(tag[1]) + " " + text)
        elif tag in ("ul", "ol"):
            out.append("\n".join(_list(node, 0)))
        elif tag == "table":
            out.append(_table(node))
        elif tag == "hr":
            out.append("---")
        else:
            text = _inline(node).strip()
            if text.replace("\\\n", "").strip():
                out.append(_protect_line_start(text))
    return "\n\n".join(block for block in out if block) + "\n"


def docx_to_markdown(data: bytes, save_image: ImageSaver | None = None) -> str:
    """Convert the bytes of a .docx file to Markdown (raises WordConversionError).

    Embedded images become ``data:`` URIs unless ``save_image`` stores them somewhere and
    returns a URL: data URIs make a large message that Gmail clips and many clients block.
    A file that unpacks to more than ``DOCX_LIMITS`` raises ``ContainerError`` before
    mammoth reads it: the size of its XML is what bounds the time mammoth takes.
    """
    try:
        is_zip = zipfile.is_zipfile(io.BytesIO(data))
    except zipfile.BadZipFile:  # an end record claiming several disks (tests/fuzz)
        is_zip = False
    if not is_zip:
        raise WordConversionError(
            "word.not_docx", "the file is not a .docx (Word 2007 or later) document"
        )
    check_zip(data, DOCX_LIMITS)
    options: dict[str, object] = {"style_map": STYLE_MAP}
    if save_image is not None:
        saver = save_image

        def convert(image: mammoth.documents.Image) -> dict[str, str]:
            with image.open() as stream:
                data = stream.read()
            try:
                return {"src": saver(data, image.content_type or "")}
            except Exception as exc:  # our storage failing is no damage of the file
                raise _SaverFailed from exc

        options["convert_image"] = mammoth.images.img_element(convert)
    try:
        result = mammoth.convert_to_html(io.BytesIO(data), **options)
    except _SaverFailed as failed:
        raise failed.__cause__ from None  # type: ignore[misc]
    except Exception as exc:
        # mammoth lets zipfile, zlib and expat raise what they raise for a damaged file:
        # KeyError (no word/document.xml: some other zip), BadZipFile, zlib.error,
        # ExpatError, NotImplementedError (a compression method zipfile lacks),
        # RuntimeError (an encrypted member), ... (tests/fuzz found each of these).
        raise WordConversionError(
            "word.unreadable", "the .docx file could not be read (%(error)s)", error=str(exc)
        ) from exc
    return html_to_markdown(result.value)
