"""mammoth's HTML is written out as CommonMark that parses back to the same structure."""

from __future__ import annotations

from service.issues.wordfile import html_to_markdown


def test_headings_paragraphs_and_inline_markup_become_markdown() -> None:
    html = (
        "<h1>刊名</h1><h2>标题<br />续行</h2>"
        "<p>正文<strong>加粗 </strong>和<em>斜体</em>，"
        '<a href="https://example.org">链接</a><a id="_Toc1"></a>。</p>'
    )
    assert html_to_markdown(html) == (
        "# 刊名\n\n## 标题续行\n\n正文**加粗** 和*斜体*，[链接](https://example.org)。\n"
    )


def test_text_that_looks_like_markdown_syntax_is_escaped() -> None:
    html = "<p>1. 不是列表</p><p># 不是标题</p><p>a*b*c [x]</p>"
    assert html_to_markdown(html) == "1\\. 不是列表\n\n\\# 不是标题\n\na\\*b\\*c \\[x\\]\n"


def test_nested_lists_and_tables_are_kept() -> None:
    html = (
        "<ul><li>一<ul><li>一点一</li></ul></li><li>二</li></ul>"
        "<ol><li>first</li><li>second</li></ol>"
        "<table><tr><td>指标</td><td>数值</td></tr><tr><td>出口</td><td>8|9</td></tr></table>"
    )
    assert html_to_markdown(html) == (
        "- 一\n  - 一点一\n- 二\n\n1. first\n2. second\n\n"
        "| 指标 | 数值 |\n| --- | --- |\n| 出口 | 8\\|9 |\n"
    )


def test_empty_paragraphs_are_dropped_and_manual_breaks_kept_in_paragraphs() -> None:
    html = "<p></p><p>电话：1<br />传真：2</p><p> </p>"
    assert html_to_markdown(html) == "电话：1\\\n传真：2\n"
