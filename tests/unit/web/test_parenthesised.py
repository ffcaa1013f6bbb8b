"""Brackets in the reader's language around a translated phrase (issue 16, item 8)."""

from __future__ import annotations

from flask import Flask
from flask_babel import force_locale

from service.web.labels import parenthesised


def test_chinese_gets_full_width_brackets_and_english_ascii_ones(app: Flask) -> None:
    with app.test_request_context():
        with force_locale("zh"):
            assert parenthesised("可选") == "（可选）"
        with force_locale("en"):
            assert parenthesised("optional") == "(optional)"


def test_the_phrase_is_escaped_once(app: Flask) -> None:
    with app.test_request_context(), force_locale("zh"):
        assert parenthesised("<b>") == "（&lt;b&gt;）"
        assert parenthesised(parenthesised("内")) == "（（内））"
