"""Editing an issue in a real browser (Debian chromium via Playwright), without any
script of ours: the editor changes the issue's title, uploads an image into an article,
deletes an article through the confirm page and undoes it. The edit controls are
screenshot at desktop width in Chinese and in English (tests/artifacts/edit-*.png)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session

from tests.browser import log_in, screenshot
from tests.integration.security.helpers import PASSWORD, make_staff
from tests.unit.issues.test_logo import png

pytestmark = pytest.mark.browser

DEMO = Path(__file__).resolve().parents[3] / "demo" / "dldta-2026-q1.md"
DESKTOP = {"width": 1280, "height": 900}


def _import_demo(page: Page, base: str) -> str:
    page.goto(f"{base}/issues/upload")
    page.set_input_files('input[name="document"]', str(DEMO))
    page.click('main form button[type="submit"]')
    page.wait_for_url(re.compile(r"/issues/\d+$"))
    return page.url


def _shoot_the_controls(page: Page, review: str, lang: str) -> None:
    """The details card, a section's controls and an opened article, in one language."""
    page.goto(review)
    page.locator("[data-section='1'] details.rename summary").click()
    page.locator("[data-article='a2'] details summary").first.click()
    page.evaluate("document.querySelector('[data-details]').scrollIntoView()")
    screenshot(page, f"edit-{lang}-details", full_page=False)
    page.evaluate("document.querySelector(\"[data-section='1']\").scrollIntoView()")
    screenshot(page, f"edit-{lang}-section", full_page=False)
    page.locator("[data-article='a2'] [data-image-upload]").scroll_into_view_if_needed()
    screenshot(page, f"edit-{lang}-article", full_page=False)


def test_an_editor_retitles_the_issue_adds_an_image_and_undoes_a_deletion(
    browser: Browser, live_url: str, session: Session, tmp_path: Path
) -> None:
    make_staff(session)
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        log_in(page, live_url, "editor@example.org", PASSWORD)
        review = _import_demo(page, live_url)

        page.fill("[data-issue-title]", "大连数字贸易通讯")
        page.fill("[data-issue-number]", "2026年第2期")
        page.fill("[data-issue-date]", "2026-06-30")
        page.click("[data-details] button[type=submit]")
        expect(page.locator("h1")).to_contain_text("大连数字贸易通讯")
        expect(page.locator(".flash-info")).to_contain_text("已保存")

        image = tmp_path / "harbour.png"
        image.write_bytes(png(800, 400))
        article = page.locator("[data-article='a2']")
        article.locator("details summary").first.click()
        article.locator("input[name=image]").set_input_files(str(image))
        article.locator("input[name=alt]").fill("大连港")
        article.locator("[data-insert-image]").click()
        expect(page.locator(".flash-info")).to_contain_text("图片已添加")
        body = page.locator("[data-article='a2'] textarea[name=body]")
        expect(body).to_have_value(re.compile(r"!\[大连港\]\(http://[^)]+/800x400/harbour\.png\)"))

        page.locator("[data-article='a5'] details summary").first.click()
        page.locator("[data-article='a5'] [data-delete-article]").click()
        expect(page.locator("h1")).to_have_text("删除这篇文章？")
        page.click("[data-confirm-delete]")
        expect(page.locator("[data-article='a5']")).to_have_count(0)
        screenshot(page, "edit-zh-undo", full_page=False)
        page.click("[data-undo-button]")
        expect(page.locator("[data-article='a5']")).to_have_count(1)
        expect(page.locator(".flash-info")).to_contain_text("已恢复")

        _shoot_the_controls(page, review, "zh")
        page.goto(f"{live_url}/lang/en")
        _shoot_the_controls(page, review, "en")
        expect(page.locator("[data-details] h2")).to_have_text("Title, number and date")
    finally:
        context.close()
    assert errors == []
