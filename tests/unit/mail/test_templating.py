"""The hidden preheader that email renderers put first in the body."""

from __future__ import annotations

import pytest

from service.mail.templating import PREHEADER_STYLE, add_preheader

PAGE = '<!doctype html><html><head></head><body style="margin:0;"><div>正文</div></body></html>'


def test_the_preheader_is_the_first_thing_in_the_body() -> None:
    html = add_preheader(PAGE, "本期要目：服务外包")

    assert (
        f'<body style="margin:0;"><div style="{PREHEADER_STYLE}">本期要目：服务外包</div><div>正文'
        in html
    )


def test_the_preheader_is_escaped_as_plain_text() -> None:
    assert '">会刊 &amp; &lt;季刊&gt;</div>' in add_preheader(PAGE, "会刊 & <季刊>")


def test_an_empty_preheader_adds_nothing() -> None:
    assert add_preheader(PAGE, "") == PAGE


def test_html_without_a_body_is_refused() -> None:
    with pytest.raises(ValueError, match="body"):
        add_preheader("<p>fragment</p>", "x")
