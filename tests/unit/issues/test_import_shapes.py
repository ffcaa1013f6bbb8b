"""Documents of other shapes than the demo: the rules are general, not tuned to one file."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from service.issues.blocks import parse_blocks
from service.issues.importer import import_docx, import_file, import_markdown, source_markdown
from service.issues.sentences import missing_sentences
from service.issues.structure import IssueDoc

# A .docx paragraph for the make_docx fixture: (style id, [(text, bold, link)]).
Paragraph = tuple[str | None, Sequence[tuple[str, bool, str | None]]]


def _import(path: Path) -> tuple[IssueDoc, str]:
    data = path.read_bytes()
    return import_file(path.name, data), source_markdown(path.name, data)


# --- an English newsletter: ## sections, ### articles, "Source:" lines -----------------------


@pytest.fixture(scope="module")
def harbour(data_dir: Path) -> tuple[IssueDoc, str]:
    return _import(data_dir / "harbour-letter.md")


def test_english_masthead_gives_number_and_date(harbour: tuple[IssueDoc, str]) -> None:
    doc, _ = harbour
    assert doc.journal == "The Harbour Trade Letter"
    assert doc.number == "Issue 7"
    assert doc.date == "12 May 2026"
    assert doc.intro == "Published by the Harbour Trade Council for its members."


def test_heading_level_used_only_before_deeper_headings_marks_sections(
    harbour: tuple[IssueDoc, str],
) -> None:
    doc, _ = harbour
    assert doc.toc() == [
        {
            "title": "Policy",
            "articles": [
                {"title": "New customs rules take effect in June", "anchor": "a1"},
                {"title": "Port fees frozen for another year", "anchor": "a2"},
            ],
        },
        {
            "title": "Markets",
            "articles": [
                {"title": "Container volumes rise 4%", "anchor": "a3"},
            ],
        },
    ]


def test_english_source_lines_are_extracted_with_their_link(harbour: tuple[IssueDoc, str]) -> None:
    doc, _ = harbour
    articles = [a for _, a in doc.articles()]
    assert [a.source for a in articles] == [
        "Harbour Daily",
        "Shipping Weekly",
        "Port Authority Statistics",
    ]
    assert articles[1].source_url == "https://shipping.example.com/fees"
    assert all("Source:" not in a.body for a in articles)


def test_sentence_cut_by_a_page_break_and_a_running_head_is_rejoined_with_a_space(
    harbour: tuple[IssueDoc, str],
) -> None:
    doc, _ = harbour
    body = doc.sections[0].articles[0].body
    assert (
        "The customs office announced on Monday that the simplified declaration procedure "
        "will apply to all members from 1 June. Importers that file electronically will see "
        "their clearance times fall by about a third, the office said."
    ) in body.split("\n\n")
    assert "Page 2" not in body
    assert "The Harbour Trade Letter | Issue 7 | Page 2" in doc.removed


def test_deeper_heading_lists_links_and_bold_stay_in_the_article(
    harbour: tuple[IssueDoc, str],
) -> None:
    doc, _ = harbour
    fees, containers = doc.sections[0].articles[1], doc.sections[1].articles[0]
    assert "**most members**" in fees.body
    assert "[full decision](https://example.org/fees)" in fees.body
    assert "### What drives the growth" in containers.body
    assert "- new direct routes to Southeast Asia;" in containers.body
    assert "— 3 —" not in containers.body and "— 3 —" in doc.removed


def test_english_contact_block_joins_a_continued_address(harbour: tuple[IssueDoc, str]) -> None:
    doc, source = harbour
    assert doc.contact == [
        ("Phone", "+1 555 0100"),
        ("Email", "letters@example.org"),
        ("Address", "1 Quay Street, Harbour City 4021"),
    ]
    assert missing_sentences(source, doc) == []


# --- an issue without sections ---------------------------------------------------------------


def test_issue_without_sections_has_one_untitled_section(data_dir: Path) -> None:
    doc, source = _import(data_dir / "community-brief.md")
    assert doc.journal == "东湖社区简报"
    assert doc.date == "2026 年 3 月 15 日"
    assert doc.number is None
    assert [s.title for s in doc.sections] == [""]
    assert [(a.title, a.source) for _, a in doc.articles()] == [
        ("春季义诊活动顺利举行", "社区办公室"),
        ("志愿者招募", "社区志愿者协会"),
    ]
    volunteers = doc.sections[0].articles[1].body
    assert "### 报名方式" in volunteers and "### 活动安排" in volunteers
    assert missing_sentences(source, doc) == []


# --- encodings -------------------------------------------------------------------------------


def test_gb18030_markdown_is_decoded_and_imported(data_dir: Path) -> None:
    path = data_dir / "gb18030-bulletin.md"
    raw = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the fixture really is GB18030, not UTF-8
    doc, source = _import(path)
    assert doc.journal == "绿色发展通讯"
    assert doc.number == "第 5 期（总第 23 期）"
    # Bold 【…】 paragraphs are section markers; bold numbered paragraphs are subheadings.
    assert [s.title for s in doc.sections] == ["政策解读", "企业风采"]
    article = doc.sections[0].articles[0]
    assert article.title == "新版节能标准明年起实施"
    assert article.source == "新华网"
    assert "### 一、主要变化" in article.body
    assert "要求新建项目同步配套能耗监测系统，实现用能数据实时上传。" in article.body
    assert missing_sentences(source, doc) == []


def test_utf8_with_bom_imports_like_plain_utf8(data_dir: Path) -> None:
    text = (data_dir / "community-brief.md").read_text(encoding="utf-8")
    with_bom = import_file("brief.md", codecs.BOM_UTF8 + text.encode("utf-8"))
    assert with_bom == import_markdown(text)
    assert with_bom.journal == "东湖社区简报"


# --- Word documents with real heading styles -------------------------------------------------


def _p(style: str | None, *runs: str | tuple[str, bool, str | None]) -> Paragraph:
    return style, [r if isinstance(r, tuple) else (r, False, None) for r in runs]


WORD_ISSUE: Sequence[Paragraph] = [
    _p("Title", "数字经济观察"),
    _p(None, "2026 年第 2 期"),
    _p("Heading1", "行业动态"),
    _p("Heading2", "跨境电商出口持续增长"),
    _p(
        None,
        "海关总署数据显示，今年前两个月我国跨境电商出口同比增长 12%，",
        ("中小企业", True, None),
        "贡献了超过六成的增量，成为外贸增长的重要",
    ),
    _p(None, "力量。业内人士认为，海外仓布局的完善是重要原因。"),
    _p("Heading3", "新市场成为亮点"),
    _p(
        None,
        "对中东和拉美的出口增速均超过 20%。详见",
        ("海关统计", False, "https://stats.example.cn/2026"),
        "。",
    ),
    _p(None, "文章来源：经济日报"),
    _p("Heading2", "数据要素市场加快建设"),
    _p(None, "多地数据交易所上线新产品，数据产品交易规模稳步扩大。"),
    _p(None, "来源：新华社"),
    _p("Heading1", "协会通知"),
    _p("Heading2", "关于召开会员大会的通知"),
    _p(None, "协会定于 4 月 18 日召开会员大会，请各会员单位按时参会。"),
    _p(None, "联系方式："),
    _p(None, "电话：0411-12345678"),
    _p(None, "邮箱：office@example.cn"),
]


def test_word_heading_styles_give_masthead_sections_articles_and_subheadings(
    make_docx: Callable[[Sequence[Paragraph]], bytes],
) -> None:
    data = make_docx(WORD_ISSUE)
    doc = import_file("第二期.DOCX", data)
    assert doc.journal == "数字经济观察"
    assert doc.number == "2026 年第 2 期"
    assert doc.toc() == [
        {
            "title": "行业动态",
            "articles": [
                {"title": "跨境电商出口持续增长", "anchor": "a1"},
                {"title": "数据要素市场加快建设", "anchor": "a2"},
            ],
        },
        {"title": "协会通知", "articles": [{"title": "关于召开会员大会的通知", "anchor": "a3"}]},
    ]
    first = doc.sections[0].articles[0]
    assert first.source == "经济日报"
    assert "### 新市场成为亮点" in first.body
    assert "[海关统计](https://stats.example.cn/2026)" in first.body
    # The paragraph that Word split at a page break is one paragraph again, bold kept.
    assert "**中小企业**贡献了超过六成的增量，成为外贸增长的重要力量。" in first.body
    assert doc.contact == [("电话", "0411-12345678"), ("邮箱", "office@example.cn")]
    assert missing_sentences(source_markdown("x.docx", data), doc) == []


def test_import_docx_and_import_file_agree(
    make_docx: Callable[[Sequence[Paragraph]], bytes],
) -> None:
    data = make_docx(WORD_ISSUE)
    assert import_docx(data) == import_file("issue.docx", data)


# --- a printed table of contents decides what is an article ----------------------------------

METRO = """# Metro Notes

Contents

City council approves the budget ........ 2

New tram line opens to passengers ........ 4

## City council approves the budget

The council approved next year's budget on Tuesday by a wide margin.

## What changes for residents

Bus fares stay the same, while parking fees rise slightly.

Metro Notes 3

## New tram line

## opens to passengers

The new line links the station with the university in twelve minutes.
"""


def test_toc_entries_separate_articles_from_same_level_subheadings() -> None:
    doc = import_markdown(METRO)
    assert [s.title for s in doc.sections] == [""]
    council, tram = doc.sections[0].articles
    assert council.title == "City council approves the budget"
    assert "### What changes for residents" in council.body
    # A title split over two headings is joined because the TOC names it whole.
    assert tram.title == "New tram line opens to passengers"
    assert "Metro Notes 3" in doc.removed
    assert "Metro Notes" not in council.body
    assert "City council approves the budget ........ 2" in doc.removed
    assert missing_sentences(METRO, doc) == []


PICTURE_ISSUE: Sequence[Paragraph] = [
    _p("Title", "图片周刊"),
    _p("Heading1", "展会现场直击"),
    _p(None, ("展会现场人头攒动", False, "image:")),
    _p(None, "本届展会吸引了来自 30 个国家的展商。"),
]


def test_word_images_are_kept_inline_as_data_uris_by_default(
    make_docx: Callable[[Sequence[Paragraph]], bytes],
) -> None:
    doc = import_docx(make_docx(PICTURE_ISSUE))
    body = doc.sections[0].articles[0].body
    assert body.startswith("![展会现场人头攒动](data:image/png;base64,iVBORw0KGgo")


def test_word_images_can_be_stored_by_the_caller(
    make_docx: Callable[[Sequence[Paragraph]], bytes],
) -> None:
    stored: list[tuple[bytes, str]] = []

    def save(data: bytes, content_type: str) -> str:
        stored.append((data, content_type))
        return f"/media/{len(stored)}.png"

    doc = import_file("pictures.docx", make_docx(PICTURE_ISSUE), save_image=save)
    assert [(data[:4], kind) for data, kind in stored] == [(b"\x89PNG", "image/png")]
    assert doc.sections[0].articles[0].body.split("\n\n") == [
        "![展会现场人头攒动](/media/1.png)",
        "本届展会吸引了来自 30 个国家的展商。",
    ]


def test_plain_first_line_is_the_journal_and_a_running_head_above_it_is_dropped() -> None:
    text = (
        "Page 1 | Riverside Bulletin\n\n"
        "Riverside Bulletin\n\n"
        "No. 12, June 2026\n\n"
        "## Library opens on Sundays\n\n"
        "From July the town library will open on Sundays from ten to four.\n"
    )
    doc = import_markdown(text)
    assert (doc.journal, doc.number, doc.date) == ("Riverside Bulletin", "No. 12", "June 2026")
    assert doc.removed == ["Page 1 | Riverside Bulletin"]
    assert [a.title for _, a in doc.articles()] == ["Library opens on Sundays"]
    assert missing_sentences(text, doc) == []


def test_the_demo_issue_saved_as_word_imports_to_the_same_structure(
    make_docx: Callable[[Sequence[Paragraph]], bytes], demo_text: str, demo_doc: IssueDoc
) -> None:
    # What Word would hold: heading styles for '#' levels, one paragraph per block, no rules.
    paragraphs: list[Paragraph] = []
    for block in parse_blocks(demo_text):
        if block.kind == "heading":
            paragraphs.append((f"Heading{block.level}", [(block.text, False, None)]))
        elif block.kind == "para":
            paragraphs.append((None, [(block.text, False, None)]))
    data = make_docx(paragraphs)
    doc = import_file("dldta-2026-q1.docx", data)
    assert doc.toc() == demo_doc.toc()
    assert (doc.journal, doc.number, doc.contact) == (
        demo_doc.journal,
        demo_doc.number,
        demo_doc.contact,
    )
    assert [a.source for _, a in doc.articles()] == [a.source for _, a in demo_doc.articles()]
    assert missing_sentences(source_markdown("x.docx", data), doc) == []
