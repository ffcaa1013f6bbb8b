"""Email templates: the Jinja environment they are rendered with, and the hidden preheader."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import escape

__all__ = ["PREHEADER_STYLE", "add_preheader", "template_env"]

# The preheader is the preview text Gmail, Outlook and Apple Mail show next to the subject;
# it must never show in the body.  display:none hides it in HTML clients, max-height:0 with
# overflow:hidden in those that drop display:none, mso-hide:all in Word-engine Outlook.
# No 1px font in the background colour, which is what <mj-preview> writes: SpamAssassin
# scores that as hidden spam text (HTML_FONT_LOW_CONTRAST, +0.7).
PREHEADER_STYLE = "display:none;max-height:0;overflow:hidden;mso-hide:all;"

_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)

# Every mail's fonts: Latin first, then the CJK faces of Apple, Windows and Linux readers.
FONT_STACK = (
    "-apple-system, 'Helvetica Neue', Arial, 'PingFang SC', 'Hiragino Sans GB', "
    "'Microsoft YaHei', '微软雅黑', 'Noto Sans CJK SC', 'Source Han Sans SC', sans-serif"
)


@functools.cache
def template_env(directory: Path) -> Environment:
    """One environment per template folder, made once per process.

    HTML/MJML templates are autoescaped; ``*.txt.j2`` (plain-text parts) are not. Strict
    undefined: a misspelt variable fails the render instead of leaving a hole in the mail.
    """
    return Environment(
        loader=FileSystemLoader(directory),
        autoescape=lambda name: name is None or not name.endswith(".txt.j2"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
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
