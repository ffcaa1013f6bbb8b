"""Chinese typography: the font stack, and headings that never leave one character alone."""

from __future__ import annotations

from pathlib import Path

from markupsafe import Markup

from service.mail.templating import FONT_STACK, keep_last_together

NOWRAP = '<span style="white-space:nowrap">'


def test_the_last_two_characters_are_kept_together():
    assert keep_last_together("理事会同日召开") == f"理事会同日{NOWRAP}召开</span>"


def test_closing_punctuation_stays_with_the_characters_before_it():
    assert keep_last_together("数字贸易怎么走？") == f"数字贸易怎{NOWRAP}么走？</span>"
    assert keep_last_together("解读「十四五」") == f"解读「十{NOWRAP}四五」</span>"


def test_a_title_ending_in_latin_or_too_short_to_wrap_is_only_escaped():
    assert keep_last_together("展望 2026") == "展望 2026"
    assert keep_last_together("年会") == "年会"
    assert keep_last_together("A & B 召开") == f"A &amp; B {NOWRAP}召开</span>"


def test_html_given_as_markup_is_left_alone():
    html = Markup("<em>召开</em>")
    assert keep_last_together(html) is html


def test_the_font_stack_names_the_cjk_faces_before_any_latin_one():
    faces = [f.strip().strip("'") for f in FONT_STACK.split(",")]
    assert faces.index("Noto Sans CJK SC") < faces.index("-apple-system")


def test_the_admin_and_the_archive_index_use_the_mail_s_font_stack():
    root = Path(__file__).resolve().parents[3]
    stack = FONT_STACK.replace("'", '"')
    for path in ("service/static/app.css", "templates/web/archive/index.html"):
        text = " ".join((root / path).read_text("utf-8").split())
        assert stack in text, path
