"""The demo issue's email in a real browser (Debian chromium via Playwright): no horizontal
overflow on a phone (375 px) or at the 600 px body width, in every mode. Screenshots go to
tests/artifacts/ (gitignored) so a person can look at them."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from service.issues.importer import import_markdown
from service.issues.layout import DEFAULT_ADDRESS, DEFAULT_EMAIL, DEFAULT_PHONE, DEFAULT_WEBSITE
from service.issues.previews import sample_values
from service.issues.render import render_issue, render_web
from service.issues.render_parts import Layout
from tests.browser import ARTIFACTS

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "demo" / "dldta-2026-q1.md"
WIDTHS = (375, 600)
VIEWPORT_HEIGHT = 900
LAYOUT = Layout(
    journal_name="大连数字贸易",
    org_name="大连市数字贸易协会",
    address=DEFAULT_ADDRESS,
    phone=DEFAULT_PHONE,
    email=DEFAULT_EMAIL,
    website=DEFAULT_WEBSITE,
)


def _demo_html(mode: str) -> str:
    rendered = render_issue(
        import_markdown(DEMO.read_text("utf-8")),
        LAYOUT,
        mode=mode,  # type: ignore[arg-type]
        archive_url="https://news.example.org/archive/dldta-2026-q1",
    )
    html, _text = rendered.compiled.fill(sample_values(rendered))
    return html


def _overflow(browser: Browser, html: str, width: int, shot: Path) -> tuple[int, int, float]:
    """(scrollWidth, innerWidth, right edge of the widest element) of ``html`` at ``width``."""
    page = browser.new_page(viewport={"width": width, "height": VIEWPORT_HEIGHT})
    try:
        # No network: images are data: URIs and links are "#" or never followed.
        page.route("**/*", lambda route: route.abort())
        page.set_content(html, wait_until="load")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=False)
        page.screenshot(path=str(shot.with_name(shot.stem + "-full.png")), full_page=True)
        return (
            page.evaluate("document.documentElement.scrollWidth"),
            page.evaluate("window.innerWidth"),
            page.evaluate(
                """() => Math.max(...[...document.querySelectorAll('body *')]
                       .map(e => e.getBoundingClientRect().right))"""
            ),
        )
    finally:
        page.close()


@pytest.mark.parametrize("mode", ["auto", "full"])
@pytest.mark.parametrize("width", WIDTHS)
def test_the_demo_email_fits_the_width_without_horizontal_scrolling(
    browser: Browser, width: int, mode: str
) -> None:
    shot = ARTIFACTS / f"email-demo-{mode}-{width}px.png"
    scroll_width, inner_width, widest = _overflow(browser, _demo_html(mode), width, shot)
    assert shot.stat().st_size > 0
    assert scroll_width <= inner_width, f"{scroll_width}px of content in a {inner_width}px view"
    assert widest <= inner_width + 0.5


@pytest.mark.parametrize("width", WIDTHS)
def test_the_web_archive_page_fits_the_width_without_horizontal_scrolling(
    browser: Browser, width: int
) -> None:
    html = render_web(import_markdown(DEMO.read_text("utf-8")), LAYOUT)
    shot = ARTIFACTS / f"archive-demo-{width}px.png"
    scroll_width, inner_width, widest = _overflow(browser, html, width, shot)
    assert scroll_width <= inner_width, f"{scroll_width}px of content in a {inner_width}px view"
    assert widest <= inner_width + 0.5


# The characters on the last line of each heading, as Chromium lays it out: one range per
# character, grouped by the top of its box.
LAST_LINE_JS = """() => [...document.querySelectorAll('h1, h2, h3')].map(h => {
  const walker = document.createTreeWalker(h, NodeFilter.SHOW_TEXT);
  const tops = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.data.length; i++) {
      if (!node.data[i].trim()) continue;
      const range = document.createRange();
      range.setStart(node, i); range.setEnd(node, i + 1);
      const box = range.getBoundingClientRect();
      if (box.width > 0) tops.push(Math.round(box.top));
    }
  }
  const last = Math.max(...tops);
  return [h.textContent.trim(), new Set(tops).size, tops.filter(t => t >= last - 2).length];
})"""


def _headings(browser: Browser, html: str, width: int) -> list[tuple[str, int, int]]:
    """(text, lines, characters on the last line) of every heading of ``html`` at ``width``."""
    page = browser.new_page(viewport={"width": width, "height": VIEWPORT_HEIGHT})
    try:
        page.route("**/*", lambda route: route.abort())
        page.set_content(html, wait_until="load")
        return [tuple(h) for h in page.evaluate(LAST_LINE_JS)]  # type: ignore[misc]
    finally:
        page.close()


@pytest.mark.parametrize("kind", ["email", "archive"])
def test_no_heading_leaves_a_single_character_alone_on_its_last_line_on_a_phone(
    browser: Browser, kind: str
) -> None:
    # Issue 16 item 8: 「……发展报」 / 「告」 reads as a broken title.
    doc = import_markdown(DEMO.read_text("utf-8"))
    html = _demo_html("full") if kind == "email" else render_web(doc, LAYOUT)
    headings = _headings(browser, html, 375)
    wrapped = [h for h in headings if h[1] > 1]
    assert wrapped, "no heading wraps at 375 px: the test would prove nothing"
    alone = [text for text, lines, last in wrapped if last < 2]
    assert alone == []
