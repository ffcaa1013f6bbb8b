"""Issue store functions on a real (in-memory SQLite) schema: import, slugs, edits, completeness.

The same functions over the shared test database (SQLite file or PostgreSQL) are exercised by
tests/integration/issues/.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.config import load_settings
from service.issues import edits, previews, publishing, store
from service.issues.importer import DocumentImportError
from service.issues.layout import LayoutError, default_layout, get_layout, save_layout
from service.model import AuditEntry, Issue
from tests.documents import DEMO_PATH, HARBOUR_PATH

DEMO, HARBOUR = DEMO_PATH, HARBOUR_PATH


def _titles(issue: Issue) -> list[str]:
    return [a.title for _, a in store.load_doc(issue).articles()]


def test_importing_the_demo_stores_its_structure_title_number_and_original(
    db: Session, demo: Issue
) -> None:
    doc = store.load_doc(demo)
    assert [s.title for s in doc.sections] == [
        "专家观点",
        "国内资讯",
        "国际资讯",
        "政策报告",
        "协会动态",
    ]
    assert len(_titles(demo)) == 12
    assert demo.title == "大连数字贸易"
    assert demo.number == "2026 年第 1 期 (总第 14 期)"
    assert demo.source_data == DEMO.read_bytes()
    assert demo.source_filename == "dldta-2026-q1.md"
    assert demo.published_at is None
    assert db.scalar(select(AuditEntry.action)) == "issue.import"


def test_a_chinese_journal_takes_its_slug_from_the_file_name(demo: Issue) -> None:
    assert demo.slug == "dldta-2026-q1"


def test_a_latin_journal_takes_its_slug_from_journal_and_number(db: Session) -> None:
    issue = store.create_issue_from_document(db, "letter.md", HARBOUR.read_bytes())
    assert issue.slug == "the-harbour-trade-letter-7"


def test_a_cjk_file_name_falls_back_to_the_issue_number(db: Session) -> None:
    issue = store.create_issue_from_document(db, "会刊.md", DEMO.read_bytes())
    assert issue.slug == "2026-1"  # "2026 年第 1 期 (总第 14 期)": year and number


def test_importing_the_same_document_twice_gives_distinct_slugs(db: Session, demo: Issue) -> None:
    data = DEMO.read_bytes()
    second = store.create_issue_from_document(db, DEMO.name, data, allow_duplicate=True)
    third = store.create_issue_from_document(db, DEMO.name, data, allow_duplicate=True)
    assert [demo.slug, second.slug, third.slug] == [
        "dldta-2026-q1",
        "dldta-2026-q1-2",
        "dldta-2026-q1-3",
    ]


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("empty.md", b"", "empty"),
        ("blob.md", b"\x00\x01\x02\x03binary", "binary"),
        ("issue.pdf", b"%PDF-1.7", ".pdf"),
        ("broken.docx", b"PK not a zip", "Word"),
    ],
)
def test_a_bad_document_is_refused_with_a_reason_and_nothing_stored(
    db: Session, name: str, data: bytes, words: str
) -> None:
    with pytest.raises(DocumentImportError, match=words):
        store.create_issue_from_document(db, name, data)
    assert db.scalar(select(Issue.id)) is None


def test_the_demo_import_loses_no_sentence(demo: Issue) -> None:
    assert store.completeness(demo) == []
    assert store.load_doc(demo).removed  # the running heads were dropped on purpose


def test_an_edit_that_drops_text_shows_up_as_missing(db: Session, demo: Issue) -> None:
    article = store.load_doc(demo).sections[1].articles[0]
    first_paragraph = article.body.split("\n\n")[0]
    edits.update_article(
        db,
        demo,
        article.anchor,
        title=article.title,
        body=article.body.replace(first_paragraph, ""),
        source=article.source,
    )
    missing = store.completeness(demo)
    assert missing and all(s.strip() in first_paragraph for s in missing)


def test_a_deleted_article_is_listed_as_removed_not_as_lost(db: Session, demo: Issue) -> None:
    gone, _undo = edits.delete_article(db, demo, "a3")
    assert gone.title not in _titles(demo)
    assert len(_titles(demo)) == 11
    assert gone.title in store.load_doc(demo).removed
    assert store.completeness(demo) == []


def test_moving_an_article_reorders_it_within_its_section(db: Session, demo: Issue) -> None:
    before = _titles(demo)
    edits.move_article(db, demo, "a3", "up")
    after = _titles(demo)
    assert after[1:3] == [before[2], before[1]]
    assert [a.anchor for a in store.load_doc(demo).sections[1].articles][:2] == ["a3", "a2"]


def test_moving_past_a_section_edge_crosses_into_the_next_section(db: Session, demo: Issue) -> None:
    edits.move_article(db, demo, "a1", "down")  # the only article of 专家观点
    doc = store.load_doc(demo)
    assert doc.sections[0].articles == []
    assert doc.sections[1].articles[0].anchor == "a1"
    edits.move_article(db, demo, "a1", "up")
    assert store.load_doc(demo).sections[0].articles[0].anchor == "a1"


def test_the_first_article_cannot_move_up(db: Session, demo: Issue) -> None:
    with pytest.raises(store.IssueEditError):
        edits.move_article(db, demo, "a1", "up")
    with pytest.raises(store.IssueEditError):
        edits.move_article(db, demo, "a12", "down")


def test_an_edit_changes_title_body_and_source(db: Session, demo: Issue) -> None:
    edits.update_article(
        db, demo, "a2", title=" 新标题 ", body="第一段。\r\n\r\n第二段。", source="新华社"
    )
    article = store.load_doc(demo).sections[1].articles[0]
    assert (article.title, article.body, article.source) == (
        "新标题",
        "第一段。\n\n第二段。",
        "新华社",
    )


def test_an_edit_without_a_title_is_refused(db: Session, demo: Issue) -> None:
    with pytest.raises(store.IssueEditError, match="title"):
        edits.update_article(db, demo, "a2", title="  ", body="x", source=None)
    assert _titles(demo)[1] == "中国光谷加速发展人工智能产业 发布十大重点任务"


def test_an_unknown_anchor_is_reported(db: Session, demo: Issue) -> None:
    with pytest.raises(store.ArticleNotFound):
        edits.delete_article(db, demo, "a99")


def test_an_added_article_gets_a_fresh_anchor_at_the_end_of_its_section(
    db: Session, demo: Issue
) -> None:
    edits.move_article(db, demo, "a12", "up")  # anchors stay with their articles
    added = edits.add_article(db, demo, 4, title="协会通知", body="下周开会。", source=None)
    assert added.anchor == "a13"
    assert store.load_doc(demo).sections[4].articles[-1].title == "协会通知"


def test_publish_and_unpublish_switch_the_archive_state(db: Session, demo: Issue) -> None:
    publishing.publish(db, demo)
    first = demo.published_at
    assert first is not None
    publishing.publish(db, demo)
    assert demo.published_at == first  # publishing again keeps the first date
    publishing.unpublish(db, demo)
    assert demo.published_at is None


def test_an_issue_without_articles_cannot_be_published(db: Session) -> None:
    empty = Issue(slug="empty", title="Empty", structure={})
    db.add(empty)
    db.flush()
    with pytest.raises(store.IssueEditError):
        publishing.publish(db, empty)


def test_the_summary_has_the_cli_json_shape(demo: Issue) -> None:
    summary = store.issue_summary(demo)
    assert set(summary) == {"id", "slug", "title", "number", "sections"}
    assert summary["sections"][0] == {
        "title": "专家观点",
        "articles": [{"title": "中国服务外包：构筑新优势 激发新动能", "source": "国际商报"}],
    }


def test_the_layout_defaults_to_the_demo_association_and_can_be_saved(db: Session) -> None:
    settings = load_settings(
        {"TIDINGS_SECRET_KEY": "k" * 32, "TIDINGS_FROM": "大连市数字贸易协会 <news@example.org>"}
    )
    layout = get_layout(db, settings)
    assert layout == default_layout(settings)
    assert (layout.org_name, layout.phone) == ("大连市数字贸易协会", "0411-84766033")
    values = {**layout.__dict__, "primary_color": "#003366", "logo_url": ""}
    save_layout(db, values)
    assert get_layout(db, settings).primary_color == "#003366"


def test_a_bad_layout_is_refused_field_by_field(db: Session) -> None:
    settings = load_settings({"TIDINGS_SECRET_KEY": "k" * 32})
    values = {
        **get_layout(db, settings).__dict__,
        "primary_color": "red;}</style>",
        "logo_url": "javascript:alert(1)",
        "email": "not-an-address",
    }
    with pytest.raises(LayoutError) as caught:
        save_layout(db, values)
    assert set(caught.value.errors) == {"primary_color", "logo_url", "email"}
    assert get_layout(db, settings) == default_layout(settings)


def test_the_preview_reports_sizes_and_what_auto_picks(demo: Issue) -> None:
    settings = load_settings({"TIDINGS_SECRET_KEY": "k" * 32})
    result = previews.preview(demo, default_layout(settings), settings, "auto")
    assert result.sizes["excerpt"] < result.limit
    assert result.mode_used == result.auto_picks
    assert result.html_bytes <= result.limit  # the demo stays under the limit in auto mode
    assert "尊敬的会员" in result.text and "会员" in result.html
    assert dict(result.headers)["To"] == "会员 <member@example.org>"
    full = previews.preview(demo, default_layout(settings), settings, "full")
    assert full.mode_used == "full" and "阅读全文" not in full.html


def test_an_article_added_after_a_deletion_never_takes_the_deleted_ones_anchor(
    db: Session, demo: Issue
) -> None:
    _gone, key = edits.delete_article(db, demo, "a12")
    added = edits.add_article(db, demo, 4, title="协会通知", body="下周开会。", source=None)
    assert added.anchor == "a13"
    assert edits.undo_delete(db, demo, key).anchor == "a12"
