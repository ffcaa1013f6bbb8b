"""The IssueDoc data contract: JSON round trip, iteration and table of contents."""

from __future__ import annotations

import json

from service.issues.structure import Article, IssueDoc, Section


def _doc() -> IssueDoc:
    return IssueDoc(
        journal="大连数字贸易",
        number="2026 年第 1 期 (总第 14 期)",
        date=None,
        intro="季刊",
        sections=[
            Section("专家观点", [Article("标题一", "正文。", "国际商报", "a1")]),
            Section(
                "国内资讯",
                [
                    Article("标题二", "### 小标题\n\n正文。", None, "a2"),
                    Article("标题三", "正文。", "中国新闻网", "a3", source_label="文章来源"),
                ],
            ),
        ],
        contact=[("电话", "0411-84766033")],
    )


def test_to_dict_is_json_safe_and_round_trips() -> None:
    doc = _doc()
    stored = json.loads(json.dumps(doc.to_dict(), ensure_ascii=False))
    assert stored["contact"] == [["电话", "0411-84766033"]]
    assert IssueDoc.from_dict(stored) == doc


def test_from_dict_accepts_rows_written_before_optional_fields_existed() -> None:
    old = {
        "journal": "J",
        "number": None,
        "date": None,
        "intro": "",
        "sections": [
            {
                "title": "",
                "articles": [
                    {"title": "T", "body": "B", "source": None, "anchor": "a1"},
                ],
            }
        ],
        "contact": [],
    }
    doc = IssueDoc.from_dict(old)
    assert doc.removed == []
    assert doc.sections[0].intro == ""
    assert doc.sections[0].articles[0].source_label is None


def test_articles_are_yielded_with_their_section_in_reading_order() -> None:
    pairs = [(s.title, a.anchor) for s, a in _doc().articles()]
    assert pairs == [("专家观点", "a1"), ("国内资讯", "a2"), ("国内资讯", "a3")]


def test_toc_has_section_titles_and_article_anchors() -> None:
    assert _doc().toc() == [
        {"title": "专家观点", "articles": [{"title": "标题一", "anchor": "a1"}]},
        {
            "title": "国内资讯",
            "articles": [
                {"title": "标题二", "anchor": "a2"},
                {"title": "标题三", "anchor": "a3"},
            ],
        },
    ]


def test_title_joins_journal_and_number() -> None:
    assert _doc().title == "大连数字贸易 2026 年第 1 期 (总第 14 期)"
