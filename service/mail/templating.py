"""The Jinja environment that email templates (MJML and plain text) are rendered with."""

from __future__ import annotations

import functools
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

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
