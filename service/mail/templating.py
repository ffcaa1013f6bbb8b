"""Email templates: the Jinja environment they are rendered with, and the hidden preheader."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

__all__ = ["PREHEADER_STYLE", "add_preheader", "template_env"]

# The preheader is the preview text Gmail, Outlook and Apple Mail show next to the subject;
# it must never show in the body.  display:none hides it in HTML clients, max-height:0 with
# overflow:hidden in those that drop display:none, mso-hide:all in Word-engine Outlook.
# No 1px font in the background colour, which is what <mj-preview> writes: SpamAssassin
# scores that as hidden spam text (HTML_FONT_LOW_CONTRAST, +0.7).
PREHEADER_STYLE = "display:none;max-height:0;overflow:hidden;mso-hide:all;"

_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)

# Every mail's fonts: the CJK faces of Apple, Windows and Linux readers first, then Latin.
# STANDARDS §6.4 puts Latin first (a CJK face's Latin letters are plainer), but then the
# Latin face also draws the quotes, and “” — full-width in Chinese text — come out as
# narrow Latin quotes squeezed against the characters (issue 16, item 8); the journal is
# Chinese with some Latin, so its punctuation wins. The admin (service/static/app.css)
# and the archive index (templates/web/archive/index.html) use the same stack.
FONT_STACK = (
    "'PingFang SC', 'Hiragino Sans GB', 'Microsoft YaHei', '微软雅黑', 'Noto Sans CJK SC', "
    "'Source Han Sans SC', -apple-system, 'Helvetica Neue', Arial, sans-serif"
)


@functools.cache
def template_env(directory: Path) -> Environment:
    """One environment per template folder, made once per process.

    HTML/MJML templates are autoescaped; ``*.txt.j2`` (plain-text parts) are not. Strict
    undefined: a misspelt variable fails the render instead of leaving a hole in the mail.
    """
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=lambda name: name is None or not name.endswith(".txt.j2"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["keep_last_together"] = keep_last_together
    return env


# Punctuation that closes a Chinese phrase: it stays on the line of the character before it.
_CLOSING = "”’」』）》〉】〕。，、；：！？…—"
_IDEOGRAPH = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# How many characters of a heading's end never wrap apart.
_KEPT_TOGETHER = 2


def keep_last_together(text: object) -> Markup:
    """``text`` (a heading) escaped, with its last two Chinese characters, and any closing
    punctuation after them, in a span that does not wrap: on a phone a long title then
    never leaves one character alone on its last line (「……发展报」 /「告」). Chinese
    breaks between any two characters, so without the span the browser may; a title that
    ends in Latin letters or digits needs nothing (a word does not break)."""
    if isinstance(text, Markup):
        return text  # already HTML: slicing it could cut an entity in two
    plain = str(text)
    end = len(plain)
    while end > 0 and plain[end - 1] in _CLOSING:
        end -= 1
    start = end - _KEPT_TOGETHER
    if start < 1 or not all(_IDEOGRAPH.match(c) for c in plain[start:end]):
        return escape(plain)
    return Markup('{}<span style="white-space:nowrap">{}</span>').format(
        plain[:start], plain[start:]
    )


def add_preheader(html: str, text: str) -> str:
    """Return `html` with `text` as its hidden preheader, the first thing in ``<body>``.

    Clients take the preview from the start of the body, so it goes before everything
    else; `text` is plain text (escaped here) and should be short and truthful, with no
    filler characters (STANDARDS §6.5).  An empty `text` adds nothing.
    """
    if not text:
        return html
    body = _BODY_OPEN.search(html)
    if body is None:
        raise ValueError("no <body> in the rendered HTML")
    div = f'<div style="{PREHEADER_STYLE}">{escape(text)}</div>'
    return html[: body.end()] + div + html[body.end() :]
