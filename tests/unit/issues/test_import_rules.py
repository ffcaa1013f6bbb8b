"""Single rules of the importer, each on the smallest document that shows it."""

from __future__ import annotations

from service.issues.importer import import_markdown
from service.issues.sentences import missing_sentences


def _bodies(text: str) -> list[str]:
    return [a.body for _, a in import_markdown(text).articles()]


def test_paragraphs_starting_with_a_date_are_not_mistaken_for_a_table_of_contents() -> None:
    text = (
        "# 简报\n\n## 会议召开\n\n"
        "3 月 12 日上午，会议在北京召开，各方代表出席。\n\n"
        "4 月 1 日，第二次会议召开，讨论了有关事项。\n\n"
        "12 家企业参加了活动，反响热烈。\n"
    )
    doc = import_markdown(text)
    assert doc.removed == []
    assert doc.sections[0].articles[0].body.count("\n\n") == 2


def test_long_paragraph_ending_on_a_semicolon_continues_unless_the_next_is_an_item() -> None:
    text = (
        "# 简报\n\n## 标题\n\n"
        "应用场景方面，将建设线上线下融合的场景创新服务平台，打造人工智能场景发布厅；\n\n"
        "鼓励企业打造智能体助手。\n\n"
        "工作要求方面，各单位要高度重视，认真组织，确保各项任务落到实处；\n\n"
        "二是加强宣传引导。\n"
    )
    body = _bodies(text)[0].split("\n\n")
    assert body[0] == (
        "应用场景方面，将建设线上线下融合的场景创新服务平台，打造人工智能场景发布厅；"
        "鼓励企业打造智能体助手。"
    )
    assert body[2] == "二是加强宣传引导。"


def test_latin_word_hyphenated_at_a_page_break_is_rejoined_without_a_space() -> None:
    text = (
        "# Letter\n\n## Title\n\n"
        "The committee published its recommendations together with a detailed infor-\n\n"
        "mation pack for members.\n"
    )
    assert _bodies(text) == [
        "The committee published its recommendations together with a detailed "
        "infor-mation pack for members."
    ]


def test_short_lowercase_continuation_is_joined_even_after_a_short_line() -> None:
    text = "# Letter\n\n## Title\n\nPrices rose\n\nsharply in May.\n"
    assert _bodies(text) == ["Prices rose sharply in May."]


def test_soft_line_breaks_inside_a_chinese_paragraph_join_without_spaces() -> None:
    text = "# 简报\n\n## 标题\n\n第一行文字\n第二行文字。\nEnglish words\ncontinue here.\n"
    assert _bodies(text) == ["第一行文字第二行文字。English words continue here."]


def test_numbered_heading_is_a_subheading_even_at_the_title_level() -> None:
    text = (
        "# 刊名\n\n## 政策措施\n\n导语。\n\n"
        "## 一、总体要求\n\n内容。\n\n# 二、主要任务\n\n内容二。\n"
    )
    doc = import_markdown(text)
    assert [a.title for _, a in doc.articles()] == ["政策措施"]
    assert "### 一、总体要求" in doc.sections[0].articles[0].body
    assert "### 二、主要任务" in doc.sections[0].articles[0].body


def test_heading_after_a_source_line_starts_a_new_article_whatever_its_level() -> None:
    text = "# 刊名\n\n# 第一篇\n\n正文一。\n\n来源：甲报\n\n#### 第二篇\n\n正文二。\n"
    doc = import_markdown(text)
    assert [(a.title, a.source) for _, a in doc.articles()] == [
        ("第一篇", "甲报"),
        ("第二篇", None),
    ]


def test_source_in_brackets_and_english_source_with_a_link() -> None:
    text = (
        "# News\n\n## One\n\nText one.\n\n（来源：人民日报（海外版））\n\n"
        "## Two\n\nText two.\n\nSource: <https://example.org/two>\n"
    )
    one, two = [a for _, a in import_markdown(text).articles()]
    assert (one.source, one.source_label) == ("人民日报（海外版）", "来源")
    assert (two.source, two.source_url) == ("https://example.org/two", "https://example.org/two")


def test_sentence_mentioning_a_source_is_not_a_source_line() -> None:
    text = "# 简报\n\n## 标题\n\n来源：据统计，今年销量增长。后续还将发布数据。\n"
    doc = import_markdown(text)
    article = doc.sections[0].articles[0]
    assert article.source is None
    assert article.body.startswith("来源：据统计")


def test_windows_line_endings_and_control_characters_are_cleaned() -> None:
    text = "# 简报\r\n\r\n## 标题\r\n\r\n正文\x07内容。\r\n"
    doc = import_markdown(text)
    assert doc.sections[0].articles[0].body == "正文内容。"
    assert missing_sentences(text, doc) == []


def test_text_between_a_section_marker_and_its_first_article_is_the_section_intro() -> None:
    text = "# 刊名\n\n【专题】\n\n本期专题关注数字贸易。\n\n## 文章\n\n正文。\n"
    section = import_markdown(text).sections[0]
    assert (section.title, section.intro) == ("专题", "本期专题关注数字贸易。")
    assert [a.title for a in section.articles] == ["文章"]
