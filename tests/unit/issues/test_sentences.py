"""sentences() and missing_sentences(): the proof that an import lost nothing."""

from __future__ import annotations

import dataclasses

from service.issues.importer import import_markdown
from service.issues.sentences import missing_sentences, sentences
from service.issues.structure import IssueDoc

SAMPLE = """# 简报

## 第一篇文章

第一句话。第二句话！第三句？Fourth sentence. Fifth one is 2.5 times longer.

- 列表项一
- 列表项二

来源：某报
"""


def test_sentences_split_after_final_punctuation_and_keep_unterminated_lines() -> None:
    assert sentences(SAMPLE) == [
        "简报",
        "第一篇文章",
        "第一句话。",
        "第二句话！",
        "第三句？",
        "Fourth sentence.",
        "Fifth one is 2.5 times longer.",
        "列表项一",
        "列表项二",
        "来源：某报",
    ]


def test_sentences_read_text_not_markdown_syntax() -> None:
    assert sentences("**加粗**的[链接](https://example.org)文字。") == ["加粗的链接文字。"]


def test_nothing_is_missing_from_a_faithful_import() -> None:
    doc = import_markdown(SAMPLE)
    assert missing_sentences(SAMPLE, doc) == []


def test_a_dropped_sentence_is_reported() -> None:
    doc = import_markdown(SAMPLE)
    section = doc.sections[0]
    article = section.articles[0]
    damaged = dataclasses.replace(
        doc,
        sections=[
            dataclasses.replace(
                section,
                articles=[
                    dataclasses.replace(article, body=article.body.replace("第二句话！", ""))
                ],
            )
        ],
    )
    assert missing_sentences(SAMPLE, damaged) == ["第二句话！"]


def test_a_dropped_title_and_source_are_reported() -> None:
    doc = import_markdown(SAMPLE)
    article = doc.sections[0].articles[0]
    article_without = dataclasses.replace(article, title="", source=None)
    damaged = IssueDoc.from_dict(doc.to_dict())
    damaged.sections[0].articles[0] = article_without
    assert missing_sentences(SAMPLE, damaged) == ["第一篇文章", "来源：某报"]


def test_removed_furniture_does_not_count_as_missing_but_is_listed() -> None:
    text = (
        "# 刊物\n\n目录\n\n(2) 文章一\n\n(5) 文章二\n\n"
        "## 文章一\n\n正文一。\n\n## 文章二\n\n正文二。\n"
    )
    doc = import_markdown(text)
    assert doc.removed == ["目录", "(2) 文章一", "(5) 文章二"]
    assert missing_sentences(text, doc) == []
