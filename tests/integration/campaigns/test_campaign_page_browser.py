"""The campaign page in a real browser: when the polled progress box sees the campaign
move on, the status card and the buttons catch up by themselves (issue 7)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser
from sqlalchemy.orm import Session

from service.campaigns.brake import brake_reason
from service.campaigns.engine import start
from service.campaigns.service import pause
from service.config import Settings
from tests.browser import log_in
from tests.integration.security.helpers import PASSWORD, demo_ids, make_staff

pytestmark = pytest.mark.browser

# The fragment polls every 2 s.
CATCH_UP_MS = 10_000


def test_the_status_card_and_buttons_follow_when_the_error_brake_pauses_the_campaign(
    browser: Browser, live_url: str, session: Session, settings: Settings
) -> None:
    make_staff(session)
    campaign_id = demo_ids(session, settings)["campaign_id"]
    start(session, settings, campaign_id)
    context = browser.new_context(locale="zh-CN")  # a Chinese-speaking staff member
    page = context.new_page()
    try:
        log_in(page, live_url, "admin@example.org", PASSWORD)
        page.goto(f"{live_url}/campaigns/{campaign_id}")
        pause_button = page.locator("form[action$='/pause'] button")
        assert pause_button.count() == 1
        page.evaluate("window.__notReloaded = true")  # a reload would lose this mark
        # The worker's error brake pauses it while the page is open.
        pause(session, campaign_id, brake_reason(5, "421 4.7.0 try again later"))
        session.commit()
        page.locator("form[action$='/resume'] button").wait_for(timeout=CATCH_UP_MS)
        assert pause_button.count() == 0
        assert page.evaluate("window.__notReloaded") is True
        assert page.locator(".meta dd").first.inner_text().startswith("已暂停")
        reason = page.locator("[data-status-reason]").inner_text()
        assert reason == "连续 5 次发送失败，已自动暂停。最后一次错误：421 4.7.0 try again later"
    finally:
        context.close()
