"""Editing an issue (issue 16, item 3) in the store: its title, number and date, its
sections' names and order, moving an article to another section, deleting with an undo
that works once, and images uploaded into an article and shown sized in the email."""

from __future__ import annotations

import struct

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.issues import edits, images, previews, store
from service.issues.image_files import ImageError, image_size, size_in_url
from service.issues.render import render_issue
from service.issues.render_parts import CONTENT_WIDTH_PX, Layout
from service.model import AuditEntry, Issue, IssueImage
from tests.unit.issues.test_logo import jpeg_header, png

BASE = "https://news.example.org"


def _titles(issue: Issue) -> list[str]:
    return [a.title for _, a in store.load_doc(issue).articles()]


def _sections(issue: Issue) -> list[str]:
    return [s.title for s in store.load_doc(issue).sections]


def gif(width: int, height: int) -> bytes:
    """The head of a GIF: signature, then the logical screen size (little-endian)."""
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x80\x00\x00" + bytes(20)


def _webp(chunk: bytes, body: bytes) -> bytes:
    """A WebP file of one chunk: RIFF and its size, WEBP, then the chunk's name, size, body."""
    size = struct.pack("<I", len(body))
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(body)) + b"WEBP" + chunk + size + body


def webp_lossy(width: int, height: int) -> bytes:
    """The head of a lossy WebP: RIFF, the VP8 chunk, the frame tag and start code."""
    vp8 = b"\x00\x00\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height) + bytes(10)
    return _webp(b"VP8 ", vp8)


def webp_lossless(width: int, height: int) -> bytes:
    """The head of a lossless WebP: the VP8L signature, then 14-bit sizes minus one."""
    bits = (width - 1) | ((height - 1) << 14)
    return _webp(b"VP8L", b"\x2f" + struct.pack("<I", bits) + bytes(10))


# ---- title, number, date ------------------------------------------------------------------------


def test_the_title_number_and_date_are_changed_and_the_slug_stays(db: Session, demo: Issue) -> None:
    slug = demo.slug
    edits.update_details(
        db,
        demo,
        title=" 大连  数字贸易 ",
        number="2026年第2期",
        issue_date="2026年6月30日",
        user_id=None,
    )
    doc = store.load_doc(demo)
    assert (demo.title, demo.number, demo.slug) == ("大连 数字贸易", "2026年第2期", slug)
    assert (doc.journal, doc.number, doc.date) == ("大连 数字贸易", "2026年第2期", "2026-06-30")
    assert db.scalars(select(AuditEntry.action)).all()[-1] == "issue.details.edit"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("2026-03-31", "2026-03-31"),
        ("2026/3/5", "2026-03-05"),
        ("２０２６年３月５日", "2026-03-05"),
        ("2026-03", "2026-03"),
        ("2026 年 3 月", "2026-03"),
        ("", None),
    ],
)
def test_a_date_is_understood_in_the_forms_editors_type(typed: str, stored: str | None) -> None:
    assert edits.parse_issue_date(typed) == stored


@pytest.mark.parametrize("typed", ["next Tuesday", "2026-02-30", "2026-13-01", "31.03.2026"])
def test_a_date_that_is_not_one_is_refused(db: Session, demo: Issue, typed: str) -> None:
    with pytest.raises(store.IssueEditError) as caught:
        edits.update_details(db, demo, title="大连数字贸易", number="", issue_date=typed)
    assert caught.value.code in ("issue.bad_date", "issue.no_such_date")


def test_an_empty_title_is_refused_and_nothing_changes(db: Session, demo: Issue) -> None:
    with pytest.raises(store.IssueEditError) as caught:
        edits.update_details(db, demo, title="  ", number="第2期", issue_date="")
    assert caught.value.code == "issue.no_issue_title"
    assert demo.title == "大连数字贸易"


def test_an_imported_date_not_touched_is_kept_as_it_was_written(db: Session, demo: Issue) -> None:
    doc = store.load_doc(demo)
    doc.date = "2026 年春"  # not a date parse_issue_date takes
    store.save_doc(db, demo, doc)
    edits.update_details(db, demo, title="大连数字贸易", number="第2期", issue_date="2026 年春")
    assert store.load_doc(demo).date == "2026 年春"


# ---- sections -----------------------------------------------------------------------------------


def test_a_section_is_renamed_and_an_empty_name_refused(db: Session, demo: Issue) -> None:
    edits.rename_section(db, demo, 1, "  国内 动态 ", expected_title="国内资讯")
    assert _sections(demo)[1] == "国内 动态"
    with pytest.raises(store.IssueEditError) as caught:
        edits.rename_section(db, demo, 1, " ")
    assert caught.value.code == "issue.section_no_title"


def test_a_section_renamed_from_a_stale_page_is_refused(db: Session, demo: Issue) -> None:
    edits.move_section(db, demo, 0, "down")
    with pytest.raises(store.IssueEditError) as caught:
        edits.rename_section(db, demo, 0, "新名字", expected_title="专家观点")
    assert caught.value.code == "issue.section_gone"
    assert "新名字" not in _sections(demo)


def test_sections_move_up_and_down_with_their_articles(db: Session, demo: Issue) -> None:
    first_articles = [a.title for a in store.load_doc(demo).sections[0].articles]
    edits.move_section(db, demo, 0, "down")
    assert _sections(demo)[:2] == ["国内资讯", "专家观点"]
    assert [a.title for a in store.load_doc(demo).sections[1].articles] == first_articles
    edits.move_section(db, demo, 4, "up")
    assert _sections(demo)[3:] == ["协会动态", "政策报告"]
    with pytest.raises(store.IssueEditError) as caught:
        edits.move_section(db, demo, 0, "up")
    assert caught.value.code == "issue.section_already_first"


def test_an_article_moves_to_the_end_of_another_section(db: Session, demo: Issue) -> None:
    edits.move_article_to_section(db, demo, "a1", 4)
    doc = store.load_doc(demo)
    assert doc.sections[4].articles[-1].anchor == "a1"
    assert all(a.anchor != "a1" for a in doc.sections[0].articles)
    with pytest.raises(store.IssueEditError):
        edits.move_article_to_section(db, demo, "a2", 9)


# ---- delete and undo ----------------------------------------------------------------------------


def test_a_deleted_article_comes_back_in_its_place_once(db: Session, demo: Issue) -> None:
    before = _titles(demo)
    removed_before = list(store.load_doc(demo).removed)
    gone, key = edits.delete_article(db, demo, "a3")
    assert gone.title not in _titles(demo)
    assert edits.deleted_article(demo, key) == gone
    back = edits.undo_delete(db, demo, key)
    assert back.anchor == "a3"
    assert _titles(demo) == before
    assert store.load_doc(demo).removed == removed_before  # no longer "removed on purpose"
    assert store.completeness(demo) == []
    with pytest.raises(store.IssueEditError) as again:
        edits.undo_delete(db, demo, key)
    assert again.value.code == "issue.undo_gone"
    assert _titles(demo) == before


def test_only_the_last_deletions_can_be_undone(db: Session, demo: Issue) -> None:
    keys = [edits.delete_article(db, demo, f"a{n}")[1] for n in range(1, 8)]
    assert edits.deleted_article(demo, keys[0]) is None
    assert edits.deleted_article(demo, keys[-1]) is not None
    assert len(store.load_doc(demo).deleted) == edits.KEEP_DELETED


# ---- images -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png(800, 600), ("image/png", 800, 600)),
        (jpeg_header(1200, 900), ("image/jpeg", 1200, 900)),
        (gif(320, 200), ("image/gif", 320, 200)),
        (webp_lossy(1000, 500), ("image/webp", 1000, 500)),
        (webp_lossless(640, 480), ("image/webp", 640, 480)),
    ],
)
def test_every_accepted_type_says_its_size_in_its_header(
    data: bytes, expected: tuple[str, int, int]
) -> None:
    assert image_size(data) == expected


def test_an_uploaded_image_is_stored_and_written_into_the_article(db: Session, demo: Issue) -> None:
    image = images.add_image(db, demo, "港口 Harbour View.PNG", png(1088, 600), "大连港 [夜景]")
    images.insert_into_article(db, demo, "a2", image, BASE)
    assert db.scalar(select(IssueImage.mime)) == "image/png"
    url = images.image_url(BASE, image)
    assert url == f"{BASE}/images/{image.token}/1088x600/harbour-view.png"
    assert size_in_url(url) == (1088, 600)
    doc = store.load_doc(demo)
    si, ai = store.find_article(doc, "a2")
    body = doc.sections[si].articles[ai].body
    assert body.endswith(f"\n\n![大连港 \\[夜景\\]]({url})")
    assert images.find_image(db, image.token) is image
    assert images.find_image(db, "../../etc") is None


@pytest.mark.parametrize(
    ("data", "alt", "code"),
    [
        (png(10, 10), "  ", "image.no_alt"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "图", "image.not_an_image"),
        (b"%PDF-1.7 renamed to .png", "图", "image.not_an_image"),
        (png(10, 10) + bytes(images.MAX_IMAGE_BYTES), "图", "image.too_large"),
        (gif(0, 10), "图", "image.bad_dimensions"),
    ],
)
def test_an_upload_that_is_not_a_usable_image_is_refused(
    db: Session, demo: Issue, data: bytes, alt: str, code: str
) -> None:
    with pytest.raises(ImageError) as caught:
        images.add_image(db, demo, "x.png", data, alt)
    assert caught.value.code == code
    assert db.scalar(select(IssueImage.id)) is None


def test_the_email_shows_an_uploaded_image_scaled_to_its_content_width_with_its_alt(
    db: Session, demo: Issue
) -> None:
    wide = images.add_image(db, demo, "wide.png", png(1088, 600), "港口全景")
    small = images.add_image(db, demo, "small.gif", gif(200, 100), "协会标志")
    for image in (wide, small):
        images.insert_into_article(db, demo, "a2", image, BASE)
    rendered = render_issue(store.load_doc(demo), Layout(), mode="full", archive_url=None)
    html, text = rendered.compiled.fill(previews.sample_values(rendered))
    assert CONTENT_WIDTH_PX == 544
    wide_tag = html[html.index(f'src="{images.image_url(BASE, wide)}"') :].split(">", 1)[0]
    assert 'alt="港口全景"' in wide_tag
    assert 'width="544" height="300"' in wide_tag  # 1088 × 600 halved
    assert "max-width:100%" in wide_tag and "height:auto" in wide_tag
    small_tag = html[html.index(f'src="{images.image_url(BASE, small)}"') :].split(">", 1)[0]
    assert 'width="200" height="100"' in small_tag  # never blown up
    assert "[图片：港口全景]" in text and "[图片：协会标志]" in text
