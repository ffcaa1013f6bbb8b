"""The printed cover (季刊, "…秘书处编", 内部资料) is issue metadata, never article text."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest

from service.issues.cover import is_cover_line
from service.issues.importer import import_file, import_markdown, source_markdown
from service.issues.previews import sample_values
from service.issues.render import render_issue, render_web
from service.issues.render_parts import Layout
from service.issues.sentences import missing_sentences
from service.issues.structure import IssueDoc

# A .docx paragraph for the make_docx fixture: (style id, [(text, bold, link)]).
Paragraph = tuple[str | None, Sequence[tuple[str, bool, str | None]]]

ARCHIVE = "https://news.example.org/archive/q1"
DEMO_COVER = ["季刊", "大连市数字贸易协会秘书处编", "内部资料"]

MONTHLY = """# 港城商会通讯

月刊

港城商会 主办

**内部资料 免费交流**

准印证号：辽 B 字第 0123 号

2026 年第 3 期

## 【会员动态】

# 商会举办春季会员交流会

3 月 20 日，港城商会在会展中心举办春季会员交流会，百余家会员企业参加。

与会企业围绕跨境电商、数字营销等话题交流了经验。

文章来源：港城日报
"""
MONTHLY_COVER = ["月刊", "港城商会 主办", "内部资料 免费交流", "准印证号：辽 B 字第 0123 号"]

NO_COVER = """# 东湖社区简报

2026 年 4 月 1 日

本期简报介绍社区春季的几项主要活动，欢迎居民踊跃参与。

## 社区图书角开放

社区图书角于本周起每天开放，居民可凭门禁卡借阅图书。
"""


def _texts(doc: IssueDoc) -> Iterator[str]:
    """Every piece of the issue that is read as text (mailed and shown in the archive)."""
    yield doc.intro
    for section in doc.sections:
        yield section.title
        yield section.intro
        for article in section.articles:
            yield article.title
            yield article.body
            yield article.source or ""


def _rendered(doc: IssueDoc) -> list[str]:
    """The email's HTML and text part for both content modes, and the archive page."""
    layout = Layout(org_name="港城商会")
    out = [render_web(doc, layout)]
    for mode in ("full", "excerpt"):
        rendered = render_issue(doc, layout, mode=mode, archive_url=ARCHIVE)
        out.extend(rendered.compiled.fill(sample_values(rendered)))
    return out


def _assert_cover_is_metadata_only(doc: IssueDoc, cover: list[str]) -> None:
    assert doc.cover_lines == cover
    for line in cover:
        assert all(line not in text for text in _texts(doc)), line
        assert all(line not in page for page in _rendered(doc)), line


def test_the_demo_issue_keeps_its_cover_lines_as_metadata_not_as_text(
    demo_doc: IssueDoc, demo_text: str
) -> None:
    _assert_cover_is_metadata_only(demo_doc, DEMO_COVER)
    assert demo_doc.intro == ""
    # Moved, not lost: the completeness check counts them as kept.
    assert missing_sentences(demo_text, demo_doc) == []


def test_a_different_cover_is_recognised_by_the_same_rules() -> None:
    doc = import_markdown(MONTHLY)
    assert (doc.journal, doc.number) == ("港城商会通讯", "2026 年第 3 期")
    _assert_cover_is_metadata_only(doc, MONTHLY_COVER)
    assert [a.title for _, a in doc.articles()] == ["商会举办春季会员交流会"]
    assert missing_sentences(MONTHLY, doc) == []


def test_a_cover_line_printed_above_the_name_does_not_become_the_name() -> None:
    text = "内部资料\n\n" + MONTHLY
    doc = import_markdown(text)
    assert doc.journal == "港城商会通讯"
    assert doc.cover_lines == ["内部资料", *MONTHLY_COVER]
    assert missing_sentences(text, doc) == []


def test_the_number_and_date_are_taken_out_of_a_cover_line_first() -> None:
    text = MONTHLY.replace("港城商会 主办", "主办：港城商会 2026 年第 3 期").replace(
        "2026 年第 3 期\n\n## ", "2026 年 3 月 出版\n\n## "
    )
    doc = import_markdown(text)
    assert (doc.number, doc.date) == ("2026 年第 3 期", "2026 年 3 月")
    assert doc.cover_lines == [
        "月刊",
        "主办：港城商会",
        "内部资料 免费交流",
        "准印证号：辽 B 字第 0123 号",
        "出版",
    ]
    assert doc.intro == ""
    assert missing_sentences(text, doc) == []


def test_a_document_without_a_cover_keeps_its_first_paragraph_as_text() -> None:
    doc = import_markdown(NO_COVER)
    assert doc.cover_lines == []
    assert doc.intro == "本期简报介绍社区春季的几项主要活动，欢迎居民踊跃参与。"
    html = render_web(doc, Layout())
    assert "本期简报介绍社区春季的几项主要活动" in html


def test_a_sentence_that_mentions_internal_material_stays_text() -> None:
    text = NO_COVER.replace(
        "本期简报介绍社区春季的几项主要活动，欢迎居民踊跃参与。",
        "本刊为内部资料，仅供社区居民阅读。",
    )
    doc = import_markdown(text)
    assert doc.cover_lines == []
    assert doc.intro == "本刊为内部资料，仅供社区居民阅读。"


def test_a_word_document_with_a_cover_takes_the_same_path(
    make_docx: Callable[[Sequence[Paragraph]], bytes],
) -> None:
    def p(style: str | None, text: str, bold: bool = False) -> Paragraph:
        return style, [(text, bold, None)]

    data = make_docx(
        [
            p("Title", "港城商会通讯"),
            p(None, "月刊"),
            p(None, "港城商会 主办"),
            p(None, "内部资料 免费交流", bold=True),
            p(None, "2026 年第 3 期"),
            p("Heading1", "【会员动态】"),
            p("Heading2", "商会举办春季会员交流会"),
            p(None, "3 月 20 日，港城商会在会展中心举办春季会员交流会，百余家会员企业参加。"),
            p(None, "文章来源：港城日报"),
        ]
    )
    doc = import_file("港城商会通讯.docx", data)
    _assert_cover_is_metadata_only(doc, ["月刊", "港城商会 主办", "内部资料 免费交流"])
    assert missing_sentences(source_markdown("x.docx", data), doc) == []


def test_an_issue_stored_before_cover_lines_existed_has_its_cover_moved_out_of_the_intro(
    demo_doc: IssueDoc,
) -> None:
    old = demo_doc.to_dict()
    del old["cover_lines"]
    old["intro"] = "季刊\n\n大连市数字贸易协会秘书处编\n\n内部资料\n\n本期导语：数字贸易加快发展。"
    doc = IssueDoc.from_dict(old)
    assert doc.cover_lines == DEMO_COVER
    assert doc.intro == "本期导语：数字贸易加快发展。"
    # A stored issue with the field keeps exactly what it has, even an empty list.
    assert IssueDoc.from_dict({**old, "cover_lines": []}).intro == old["intro"]


@pytest.mark.parametrize(
    "line",
    [
        "季刊",
        "（双月刊）",
        "Quarterly",
        "大连市数字贸易协会秘书处编",
        "主办：大连市数字贸易协会",
        "Published by the Riverside Trade Council",
        "内部资料",
        "**内部资料 免费交流**",
        "准印证号：辽 B 字第 0123 号",
        "ISSN 1234-5678",
    ],
)
def test_cover_lines_are_recognised(line: str) -> None:
    assert is_cover_line(line)


@pytest.mark.parametrize(
    "line",
    [
        "本刊为内部资料，仅供会员阅读。",
        "内部资料管理办法",
        "Published by the Harbour Trade Council for its members.",
        "中国服务外包：构筑新优势 激发新动能",
        "大连市数字贸易协会第三届第五次理事会与协会 2026 年年会同日召开",
        "",
    ],
)
def test_text_that_only_mentions_cover_words_is_not_a_cover_line(line: str) -> None:
    assert not is_cover_line(line)
