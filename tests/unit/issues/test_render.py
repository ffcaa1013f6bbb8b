"""Tests of the newsletter renderer: one render per campaign, cheap per-recipient filling."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import html5lib
import pytest
from markdown_it import MarkdownIt

from service.issues import render_email, render_parts
from service.issues.render import (
    FONT_STACK,
    CompiledEmail,
    MissingSlotError,
    Mode,
    RenderedIssue,
    render_issue,
    render_web,
)
from service.issues.render_parts import Layout
from service.issues.structure import Article, IssueDoc, Section
from service.mail.templating import PREHEADER_STYLE

DEMO = Path(__file__).resolve().parents[3] / "demo" / "dldta-2026-q1.md"
ARCHIVE = "https://news.example.org/archive/2026-q1"
UNSUB = "https://news.example.org/u/Q1xq9TzG3l0bX2aV8r7pLw"
PREFS = "https://news.example.org/preferences/Q1xq9TzG3l0bX2aV8r7pLw"
PIXEL = "https://news.example.org/o/Zk3"

# Label → URL of every http(s) link in SAMPLE_BODY_1/2, in document order.
CONTENT_LINKS = [
    ("商务部数据", "https://www.mofcom.gov.cn/data?y=2025&m=11"),
    ("https://example.com/report", "https://example.com/report"),
    ("英文原文", "http://example.org/en/article"),
]
SAMPLE_BODY_1 = """\
商务部发布的[商务部数据](https://www.mofcom.gov.cn/data?y=2025&m=11)显示，2025 年 1—11 月，
中国企业承接离岸服务外包执行额 8935.4 亿元，同比增长 0.6%。

### 结构优化

**数字化**水平持续提升，详见 <https://example.com/report>。联系 [编辑部](mailto:ed@example.org)。

- 美国
- 中国香港
- 欧盟

![](https://img.example.org/chart.png)

“这体现出我国服务外包多元市场布局取得成效。”宋思源说。\x92
"""
SAMPLE_BODY_2 = """\
Trade policy shapes export patterns; see the [英文原文](http://example.org/en/article).

![贸易数据图](https://img.example.org/trade.png)

第二段：全球出口格局深刻调整，区域合作不断深化。
"""


@pytest.fixture(scope="module")
def layout() -> Layout:
    return Layout(
        journal_name="大连数字贸易",
        org_name="大连市数字贸易协会",
        address="大连市沙河口区数码广场 5 号",
        phone="0411-84766033",
        email="service@dldta.org.cn",
        website="http://www.dldta.cn",
    )


@pytest.fixture(scope="module")
def sample_doc() -> IssueDoc:
    return IssueDoc(
        journal="大连数字贸易",
        number="2026 年第 1 期 (总第 14 期)",
        date="2026-03-31",
        intro="季刊\n\n大连市数字贸易协会秘书处编",
        sections=[
            Section(
                "专家观点", [Article("中国服务外包：构筑新优势", SAMPLE_BODY_1, "国际商报", "a1")]
            ),
            Section(
                "国际资讯",
                [
                    Article("贸易政策深刻影响全球出口格局", SAMPLE_BODY_2, "经济日报", "a2"),
                    Article("协会动态 <速递> & 简讯", "理事会在大连召开。", None, "a3"),
                ],
            ),
        ],
        contact=[("电话", "0411-84766033"), ("传真", "0411-84766619")],
    )


@pytest.fixture(scope="module")
def demo_doc() -> IssueDoc:
    importer = pytest.importorskip("service.issues.importer")
    doc: IssueDoc = importer.import_markdown(DEMO.read_text(encoding="utf-8"))
    return doc


@pytest.fixture(scope="module")
def tracked(sample_doc: IssueDoc, layout: Layout) -> RenderedIssue:
    return render_issue(sample_doc, layout, mode="full", archive_url=ARCHIVE)


@pytest.fixture(scope="module")
def untracked(sample_doc: IssueDoc, layout: Layout) -> RenderedIssue:
    return render_issue(sample_doc, layout, mode="full", tracking=False, archive_url=ARCHIVE)


@pytest.fixture(scope="module")
def demo_auto(demo_doc: IssueDoc, layout: Layout) -> RenderedIssue:
    return render_issue(demo_doc, layout, archive_url=ARCHIVE)


@pytest.fixture(scope="module")
def demo_full(demo_doc: IssueDoc, layout: Layout) -> RenderedIssue:
    return render_issue(demo_doc, layout, mode="full", archive_url=ARCHIVE)


# ---- helpers -----------------------------------------------------------------------------


def slot_values(compiled: CompiledEmail, **overrides: str) -> dict[str, str]:
    values = {
        "name": "张三",
        "unsubscribe_url": UNSUB,
        "preferences_url": PREFS,
        "open_pixel_url": PIXEL,
    }
    for slot in compiled.link_slots:
        values[slot] = f"https://news.example.org/c/{slot.split(':')[1]}?r=7&s=ab"
    values.update(overrides)
    return values


def fill(rendered: RenderedIssue, **overrides: str) -> tuple[str, str]:
    return rendered.compiled.fill(slot_values(rendered.compiled, **overrides))


def parse(html: str) -> ElementTree.Element:
    root: ElementTree.Element = html5lib.parse(html, namespaceHTMLElements=False)
    return root


def html5_errors(html: str) -> list[Any]:
    parser = html5lib.HTMLParser(strict=False)
    parser.parse(html)
    return list(parser.errors)


def anchors(html: str) -> list[tuple[str, str]]:
    return [(a.get("href", ""), "".join(a.itertext())) for a in parse(html).iter("a")]


def normalised(text: str) -> str:
    # CJK prose has no meaningful whitespace; compare without any.
    return re.sub(r"\s+", "", text)


def visible_text(html: str) -> str:
    body = parse(html).find("body")
    assert body is not None
    return normalised("".join(body.itertext()))


def paragraph_texts(markdown: str) -> list[str]:
    """The text of every inline run (paragraph, heading, list item) of a Markdown body."""
    texts = []
    for tok in MarkdownIt("commonmark").parse(markdown):
        if tok.type == "inline":
            run = "".join(
                c.content for c in tok.children or [] if c.type in ("text", "code_inline")
            )
            if normalised(run):
                texts.append(normalised(run))
    return texts


def strip_controls(text: str) -> str:
    return render_parts.clean_text(text)


# ---- HTML validity and email-client safety -------------------------------------------------


@pytest.mark.parametrize("mode", ["full", "excerpt"])
@pytest.mark.parametrize("tracking", [True, False])
def test_rendered_email_has_zero_html5_parse_errors(
    sample_doc: IssueDoc, layout: Layout, mode: Mode, tracking: bool
) -> None:
    rendered = render_issue(sample_doc, layout, mode=mode, tracking=tracking, archive_url=ARCHIVE)
    html, _ = fill(rendered, name='<script>alert("x")</script>')
    assert html5_errors(html) == []
    html5lib.HTMLParser(strict=True).parse(html)  # raises on the first parse error


def test_demo_issue_renders_with_zero_html5_parse_errors_in_both_modes(
    demo_auto: RenderedIssue, demo_full: RenderedIssue
) -> None:
    for rendered in (demo_auto, demo_full):
        html, _ = fill(rendered)
        assert html5_errors(html) == []


def test_mso_blocks_and_media_rules_survive_premailer(
    sample_doc: IssueDoc, layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real = render_email.mjml.mjml2html

    def spy(source: str, **kwargs: Any) -> str:
        out: str = real(source, **kwargs)
        seen.append(out)
        return out

    monkeypatch.setattr(render_email.mjml, "mjml2html", spy)
    rendered = render_issue(sample_doc, layout, mode="full", archive_url=ARCHIVE)
    html, _ = fill(rendered)
    (before,) = seen
    mso_blocks = re.findall(r"<!--\[if [^\]]*\]>.*?<!\[endif\]-->", before, re.S)
    assert len(mso_blocks) > 10
    for block in mso_blocks:
        assert block in html
    media_rules = re.findall(r"@media[^{]*\{", before)
    assert media_rules and sorted(re.findall(r"@media[^{]*\{", html)) == sorted(media_rules)
    assert "@media (prefers-color-scheme: dark)" in html
    assert "<!--[if mso]><style" in html and "'Microsoft YaHei'" in html
    assert "data-premailer" not in html


def test_premailer_inlines_the_template_sheet_but_not_mjml_resets(tracked: RenderedIssue) -> None:
    html, _ = fill(tracked)
    toc_links = [a for a in parse(html).iter("a") if a.get("href", "").startswith("#")]
    assert toc_links and all("text-decoration:none" in a.get("style", "") for a in toc_links)
    # MJML's "table, td { border-collapse … }" reset must stay a head rule only.
    cells = list(parse(html).iter("td"))
    assert cells and not any("mso-table-lspace" in td.get("style", "") for td in cells)


def test_html_is_zh_cn_600px_with_the_cjk_font_stack_and_dark_mode(tracked: RenderedIssue) -> None:
    html, _ = fill(tracked)
    root = parse(html)
    assert root.get("lang") == "zh-CN"
    assert FONT_STACK in html
    # CJK faces first: a Latin face would draw the full-width “” narrow (issue 16, item 8).
    assert FONT_STACK.index("PingFang SC") < FONT_STACK.index("Arial")
    assert "max-width:600px" in html
    metas = {m.get("name"): m.get("content") for m in root.iter("meta")}
    assert metas["color-scheme"] == "light dark"
    assert metas["supported-color-schemes"] == "light dark"
    assert "line-height:1.7" in html and "font-size:16px" in html
    assert "justify" not in html


def test_preheader_is_a_short_hidden_preview_of_the_contents(tracked: RenderedIssue) -> None:
    html, _ = fill(tracked)
    body = parse(html).find("body")
    assert body is not None
    first = body[0]
    assert first.get("style") == PREHEADER_STYLE  # display:none ... mso-hide:all
    preview = "".join(first.itertext())
    assert preview.startswith("本期要目：中国服务外包") and len(preview) <= 60
    assert preview == tracked.preheader


def test_the_preheader_is_hidden_without_text_coloured_like_the_background(
    tracked: RenderedIssue,
) -> None:
    # <mj-preview> hid it in a 1px font the colour of the background, which SpamAssassin
    # scores as hidden spam text (HTML_FONT_LOW_CONTRAST).
    html, _ = fill(tracked)
    body = parse(html).find("body")
    assert body is not None
    style = body[0].get("style", "")
    assert "mso-hide:all" in style and "max-height:0" in style
    assert "color" not in style and "font-size" not in style and "opacity" not in style


def test_a_given_preheader_is_used_as_the_preview(sample_doc: IssueDoc, layout: Layout) -> None:
    rendered = render_issue(sample_doc, layout, archive_url=ARCHIVE, preheader="本期聚焦服务外包")
    html, _ = fill(rendered)
    assert ">本期聚焦服务外包</div>" in html
    assert rendered.preheader == "本期聚焦服务外包"


def test_soft_line_breaks_in_chinese_prose_add_no_space(tracked: RenderedIssue) -> None:
    html, text = fill(tracked)
    assert "1—11 月，中国企业承接" in html and "1—11 月，中国企业承接" in text
    assert "• 美国\n• 中国香港\n• 欧盟" in text


def test_every_image_has_alt_text_with_a_chinese_default(tracked: RenderedIssue) -> None:
    html, _ = fill(tracked)
    images = list(parse(html).iter("img"))
    content = [img for img in images if img.get("src") != PIXEL]
    assert {img.get("alt") for img in content} == {"文章配图", "贸易数据图"}
    assert any("default alt" in w for w in tracked.warnings)


def test_control_characters_are_stripped_from_html_and_text(tracked: RenderedIssue) -> None:
    html, text = fill(tracked)
    for part in (html, text):
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", part)
    assert any("control character" in w for w in tracked.warnings)


# ---- links and tracking ----------------------------------------------------------------------


def test_every_content_link_is_collected_in_order_with_its_article(tracked: RenderedIssue) -> None:
    assert [(link.url, link.position) for link in tracked.links] == [
        (url, i) for i, (_, url) in enumerate(CONTENT_LINKS)
    ]
    assert [link.anchor_of_article for link in tracked.links] == ["a1", "a1", "a2"]
    assert all(link.kind == "content" for link in tracked.links)


def test_tracked_links_fill_with_redirect_urls_that_map_to_the_stored_urls(
    tracked: RenderedIssue,
) -> None:
    html, _ = fill(tracked)
    labels = dict(CONTENT_LINKS)
    redirects = [(href, label) for href, label in anchors(html) if "/c/" in href]
    assert len(redirects) == len(CONTENT_LINKS)
    for href, label in redirects:
        position = int(href.split("/c/")[1].split("?")[0])
        assert tracked.links[position].url == labels[label]
    hrefs = {href for href, _ in anchors(html)}
    for _, url in CONTENT_LINKS:
        assert url not in hrefs  # no untracked copy of a tracked link
    # Non-http links are kept as they are and not counted.
    assert ("mailto:ed@example.org", "编辑部") in anchors(html)


def test_link_urls_are_html_escaped_in_the_filled_html(tracked: RenderedIssue) -> None:
    html, _ = fill(tracked)
    assert 'href="https://news.example.org/c/0?r=7&amp;s=ab"' in html


def test_unsubscribe_and_preferences_links_are_never_tracked(tracked: RenderedIssue) -> None:
    html, text = fill(tracked)
    assert (UNSUB, "退订") in anchors(html)
    assert (PREFS, "偏好设置") in anchors(html)
    stored = {link.url for link in tracked.links}
    assert UNSUB not in stored and PREFS not in stored
    assert not any("/c/" in href for href, label in anchors(html) if label in ("退订", "偏好设置"))
    assert f"退订：{UNSUB}" in text and f"偏好设置：{PREFS}" in text


def test_tracking_puts_a_1x1_pixel_with_empty_alt_at_the_end_of_the_body(
    tracked: RenderedIssue,
) -> None:
    assert "open_pixel_url" in tracked.compiled.slot_names
    html, _ = fill(tracked)
    body = parse(html).find("body")
    assert body is not None
    last = list(body.iter())[-1]
    assert last.tag == "img" and last.get("src") == PIXEL
    assert (last.get("alt"), last.get("width"), last.get("height")) == ("", "1", "1")
    assert "display:none" not in last.get("style", "")


def test_tracking_off_gives_plain_links_and_no_pixel(untracked: RenderedIssue) -> None:
    slots = untracked.compiled.slot_names
    assert "open_pixel_url" not in slots
    assert not any(slot.startswith("link:") for slot in slots)
    html, text = untracked.compiled.fill(
        {"name": "李四", "unsubscribe_url": UNSUB, "preferences_url": PREFS}
    )
    hrefs = [href for href, _ in anchors(html)]
    for _, url in CONTENT_LINKS:
        assert url in hrefs
    assert PIXEL not in html and 'width="1"' not in html
    # The links are still reported (for the campaign's link table), just not slotted.
    assert [link.url for link in untracked.links] == [url for _, url in CONTENT_LINKS]


# ---- plain text ------------------------------------------------------------------------------


def test_text_part_has_masthead_toc_titles_sources_links_and_footer(
    untracked: RenderedIssue, sample_doc: IssueDoc
) -> None:
    _, text = untracked.compiled.fill(
        {"name": "李四", "unsubscribe_url": UNSUB, "preferences_url": PREFS}
    )
    assert text.startswith("大连数字贸易\n2026 年第 1 期 (总第 14 期) · 2026-03-31\n")
    assert f"在浏览器中查看：{ARCHIVE}" in text
    for number, (_, article) in enumerate(sample_doc.articles(), start=1):
        assert f"{number}. {article.title}" in text
        assert text.count(article.title) == 2  # in the table of contents and as a heading
    for label, url in CONTENT_LINKS:
        assert url in text
        if label != url:
            assert f"{label} ({url})" in text
    assert "文章来源：国际商报" in text and "文章来源：经济日报" in text
    assert "[图片：贸易数据图]" in text
    assert (
        "大连市数字贸易协会" in text and "0411-84766033" in text and "传真：0411-84766619" in text
    )
    assert f"退订：{UNSUB}" in text and f"偏好设置：{PREFS}" in text
    assert "<" not in text.replace("<速递>", "")  # a real text, not HTML


def test_text_part_carries_the_tracked_urls_when_tracking_is_on(tracked: RenderedIssue) -> None:
    _, text = fill(tracked)
    for link in tracked.links:
        assert f"https://news.example.org/c/{link.position}?r=7&s=ab" in text


def test_text_part_contains_every_demo_article_title(
    demo_auto: RenderedIssue, demo_doc: IssueDoc
) -> None:
    _, text = fill(demo_auto)
    for _, article in demo_doc.articles():
        assert article.title in text


# ---- full and excerpt modes -----------------------------------------------------------------


def test_full_mode_html_contains_every_article_text_in_full(
    tracked: RenderedIssue, sample_doc: IssueDoc
) -> None:
    visible = visible_text(fill(tracked)[0])
    for _, article in sample_doc.articles():
        assert normalised(article.title) in visible
        for run in paragraph_texts(strip_controls(article.body)):
            assert run in visible


def test_full_mode_demo_html_contains_every_article_text_in_full(
    demo_full: RenderedIssue, demo_doc: IssueDoc
) -> None:
    visible = visible_text(fill(demo_full)[0])
    for _, article in demo_doc.articles():
        for run in paragraph_texts(strip_controls(article.body)):
            assert run in visible, run[:40]
        if article.source:
            assert normalised(f"文章来源：{article.source}") in visible


def test_excerpt_mode_gives_each_article_a_read_more_link_to_its_archive_anchor(
    demo_doc: IssueDoc, layout: Layout
) -> None:
    rendered = render_issue(demo_doc, layout, mode="excerpt", archive_url=ARCHIVE)
    html, _ = fill(rendered)
    read_more = {
        link.anchor_of_article: link for link in rendered.links if link.kind == "read_more"
    }
    articles = [article for _, article in demo_doc.articles()]
    assert set(read_more) == {article.anchor for article in articles}
    links = anchors(html)
    for article in articles:
        link = read_more[article.anchor]
        assert link.url == f"{ARCHIVE}#{article.anchor}"
        href = f"https://news.example.org/c/{link.position}?r=7&s=ab"
        assert (href, "阅读全文 ›") in links
    # In-message table of contents still points at every article.
    assert {h[1:] for h, _ in links if h.startswith("#")} >= {a.anchor for a in articles}


def test_excerpt_mode_without_tracking_links_straight_to_the_archive(
    demo_doc: IssueDoc, layout: Layout
) -> None:
    rendered = render_issue(demo_doc, layout, mode="excerpt", tracking=False, archive_url=ARCHIVE)
    html, text = rendered.compiled.fill(
        {"name": "", "unsubscribe_url": UNSUB, "preferences_url": PREFS}
    )
    for _, article in demo_doc.articles():
        assert (f"{ARCHIVE}#{article.anchor}", "阅读全文 ›") in anchors(html)
        assert f"阅读全文：{ARCHIVE}#{article.anchor}" in text


def test_excerpt_shows_the_opening_of_each_article_but_not_all_of_it(
    demo_doc: IssueDoc, layout: Layout
) -> None:
    rendered = render_issue(demo_doc, layout, mode="excerpt", tracking=False, archive_url=ARCHIVE)
    visible = visible_text(
        rendered.compiled.fill({"name": "", "unsubscribe_url": UNSUB, "preferences_url": PREFS})[0]
    )
    for _, article in demo_doc.articles():
        runs = paragraph_texts(article.body)
        opening = next(r for r in runs if len(r) > 20)
        assert opening[:20] in visible
        assert runs[-1] not in visible or len(runs) == 1


def test_demo_issue_fits_under_95_kb_encoded_in_auto_mode(demo_auto: RenderedIssue) -> None:
    assert demo_auto.html_size_encoded < 95_000
    assert demo_auto.mode_used in ("full", "excerpt")
    # The estimate uses worst-case slot lengths, so a real message is never bigger.
    html, _ = fill(demo_auto, name="欧阳" * 40)
    wire = base64.encodebytes(html.encode("utf-8"))
    assert len(wire) <= demo_auto.html_size_encoded


def test_auto_mode_keeps_full_articles_when_they_fit(
    tracked: RenderedIssue, sample_doc: IssueDoc, layout: Layout
) -> None:
    rendered = render_issue(sample_doc, layout, archive_url=ARCHIVE)
    assert rendered.mode_used == "full"
    assert list(rendered.sizes) == ["full"]


def test_full_mode_over_the_limit_is_reported_as_a_warning(
    sample_doc: IssueDoc, layout: Layout
) -> None:
    rendered = render_issue(
        sample_doc, layout, mode="full", archive_url=ARCHIVE, max_html_bytes=1_000
    )
    assert rendered.mode_used == "full"
    assert rendered.html_size_encoded > 1_000
    assert any("clip" in w for w in rendered.warnings)


# ---- per-recipient filling ------------------------------------------------------------------


def test_name_is_html_escaped_in_html_and_verbatim_in_text(tracked: RenderedIssue) -> None:
    html, text = fill(tracked, name='<script>alert("x")</script>')
    assert "<script>" not in html
    assert "尊敬的&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;，您好！" in html
    assert '尊敬的<script>alert("x")</script>，您好！' in text


def test_an_empty_name_falls_back_to_a_neutral_greeting(tracked: RenderedIssue) -> None:
    html, text = fill(tracked, name="")
    assert "尊敬的会员，您好！" in html and "尊敬的会员，您好！" in text


def test_control_characters_and_line_breaks_are_dropped_from_names(
    tracked: RenderedIssue,
) -> None:
    html, text = fill(tracked, name="张\x92三\r\n")
    assert "尊敬的张三，您好！" in html and "尊敬的张三，您好！" in text


def test_fill_is_pure_so_recipients_never_leak_into_each_other(tracked: RenderedIssue) -> None:
    first = fill(tracked, name="王五", unsubscribe_url="https://n.example.org/u/AAA")
    second = fill(tracked, name="赵六", unsubscribe_url="https://n.example.org/u/BBB")
    again = fill(tracked, name="王五", unsubscribe_url="https://n.example.org/u/AAA")
    assert first == again
    for part in second:
        assert "王五" not in part and "/u/AAA" not in part
    assert "赵六" in second[0] and "/u/BBB" in second[1]


def test_fill_without_a_required_slot_raises_missing_slot_error(tracked: RenderedIssue) -> None:
    values = slot_values(tracked.compiled)
    del values["unsubscribe_url"]
    with pytest.raises(MissingSlotError, match="unsubscribe_url"):
        tracked.compiled.fill(values)


def test_fill_runs_no_mjml_premailer_or_jinja(
    tracked: RenderedIssue, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("per-recipient fill must not render")

    monkeypatch.setattr(render_email.mjml, "mjml2html", boom)
    monkeypatch.setattr(render_email.Premailer, "transform", boom)
    monkeypatch.setattr(render_parts.Environment, "get_template", boom)
    html, text = fill(tracked)
    assert "张三" in html and "张三" in text


def test_compiled_email_round_trips_through_json(tracked: RenderedIssue) -> None:
    data = json.loads(json.dumps(tracked.compiled.to_dict(), ensure_ascii=False))
    restored = CompiledEmail.from_dict(data)
    assert restored == tracked.compiled
    assert restored.fill(slot_values(restored)) == fill(tracked)


def test_compiled_email_from_another_format_version_is_refused(tracked: RenderedIssue) -> None:
    data = tracked.compiled.to_dict() | {"version": 999}
    with pytest.raises(ValueError, match="version"):
        CompiledEmail.from_dict(data)


# ---- layout and language -------------------------------------------------------------------


def test_english_layout_uses_english_fixed_strings(sample_doc: IssueDoc) -> None:
    layout = Layout(journal_name="Dalian Digital Trade", org_name="DDTA", language="en")
    rendered = render_issue(sample_doc, layout, archive_url=ARCHIVE)
    html, text = fill(rendered, name="")
    for word in ("Contents", "Unsubscribe", "Preferences", "View in browser", "Dear member,"):
        assert word in html and word in text
    assert 'lang="en"' in html
    excerpt = render_issue(sample_doc, layout, mode="excerpt", archive_url=ARCHIVE)
    assert "Read more" in fill(excerpt)[0]


def test_layout_rejects_colours_that_are_not_hex(layout: Layout) -> None:
    with pytest.raises(ValueError, match="colour"):
        Layout(primary_color="red;}body{display:none")
    with pytest.raises(ValueError, match="language"):
        Layout(language="fr")


def test_footer_shows_the_association_contacts_and_the_issue_contacts_once(
    tracked: RenderedIssue,
) -> None:
    html, _ = fill(tracked)
    visible = visible_text(html)
    assert visible.count("0411-84766033") == 1  # in Layout and in doc.contact: shown once
    assert normalised("传真：0411-84766619") in visible
    assert ("mailto:service@dldta.org.cn", "service@dldta.org.cn") in anchors(html)
    assert ("http://www.dldta.cn", "http://www.dldta.cn") in anchors(html)
    assert (ARCHIVE, "在浏览器中查看") in anchors(html)


def test_rejects_an_archive_url_that_is_not_http(sample_doc: IssueDoc, layout: Layout) -> None:
    with pytest.raises(ValueError, match="archive_url"):
        render_issue(sample_doc, layout, archive_url="javascript:alert(1)")


# ---- web archive page ----------------------------------------------------------------------


def test_web_page_has_every_article_anchor_and_full_text(
    demo_doc: IssueDoc, layout: Layout
) -> None:
    page = render_web(demo_doc, layout)
    assert html5_errors(page) == []
    root = parse(page)
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    visible = visible_text(page)
    for _, article in demo_doc.articles():
        assert article.anchor in ids
        assert (f"#{article.anchor}", article.title) in anchors(page)
        for run in paragraph_texts(strip_controls(article.body)):
            assert run in visible
    assert "退订" not in page  # public page: no personal links


@pytest.mark.parametrize("which", ["tracked", "untracked", "demo_full"])
def test_fill_wire_is_fill_as_canonical_utf8_octets(
    which: str, request: pytest.FixtureRequest
) -> None:
    from service.mail.message_bodies import canonical_text

    rendered: RenderedIssue = request.getfixturevalue(which)
    values = slot_values(rendered.compiled, name="李四 & <Co>")
    html, text = rendered.compiled.fill(values)
    assert rendered.compiled.fill_wire(values) == (
        canonical_text(html.encode("utf-8")),
        canonical_text(text.encode("utf-8")),
    )
