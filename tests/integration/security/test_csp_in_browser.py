"""The Content-Security-Policy in a real browser: the dashboard, the reports (with their
charts), a campaign page and the issue preview load without a single CSP violation, the
charts draw and the preview iframes show the issue. Screenshots go to tests/artifacts/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy.orm import Session

from service.config import Settings
from service.model import Campaign, CampaignStatus, Delivery, DeliveryStatus, EventHour, utcnow
from tests.browser import log_in, screenshot
from tests.integration.security.helpers import PASSWORD, demo_ids, make_staff

pytestmark = pytest.mark.browser

# Recorded before any page script runs (init scripts are not subject to the page's CSP).
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  var where = (e.blockedURI || 'inline') + ' ' + (e.sourceFile || '');
  window.__csp.push(e.violatedDirective + ' ' + where);
});
"""


def _sent_campaign(session: Session, settings: Settings) -> dict[str, int]:
    """The demo data plus a sent campaign with opens, so the report charts have data."""
    ids = demo_ids(session, settings)
    campaign = session.get(Campaign, ids["campaign_id"])
    assert campaign is not None
    started = utcnow() - timedelta(hours=3)
    campaign.status, campaign.started_at, campaign.materialized_at = (
        CampaignStatus.FINISHED,
        started,
        started,
    )
    session.add(
        Delivery(
            campaign_id=campaign.id,
            email="reader@example.org",
            status=DeliveryStatus.SENT,
            sent_at=started,
        )
    )
    hour = int(started.timestamp()) // 3600
    session.add_all(
        [
            EventHour(campaign_id=campaign.id, hour=hour, type="open", machine=False, count=4),
            EventHour(campaign_id=campaign.id, hour=hour + 1, type="click", machine=False, count=2),
        ]
    )
    session.commit()
    return ids


def _visit(page: Page, url: str, shot: str) -> list[str]:
    page.goto(url, wait_until="networkidle")
    screenshot(page, f"security-csp-{shot}")
    return list(page.evaluate("window.__csp"))


def test_admin_pages_load_in_chromium_without_a_csp_violation(
    browser: Browser, live_url: str, session: Session, settings: Settings
) -> None:
    make_staff(session)
    ids = _sent_campaign(session, settings)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    try:
        log_in(page, live_url, "admin@example.org", PASSWORD)
        violations = {
            "dashboard": _visit(page, f"{live_url}/", "dashboard"),
            "reports": _visit(page, f"{live_url}/reports", "reports"),
        }
        assert page.evaluate("Chart.getChart('rates-chart') !== undefined")
        violations["report"] = _visit(page, f"{live_url}/reports/{ids['campaign_id']}", "report")
        assert page.evaluate("Chart.getChart('series-chart') !== undefined")
        violations["campaign"] = _visit(
            page, f"{live_url}/campaigns/{ids['campaign_id']}", "campaign"
        )
        violations["preview"] = _visit(
            page, f"{live_url}/issues/{ids['issue_id']}/preview", "preview"
        )
        frames = [f for f in page.frames if "/preview.html" in f.url]
        assert frames and all(len(f.content()) > 1000 for f in frames)
        page.goto(f"{live_url}/lang/zh")  # the staff's own language, for the screenshots
        for path, shot in (("/users", "users"), ("/account/tokens", "tokens"), ("/audit", "audit")):
            violations[shot] = _visit(page, f"{live_url}{path}", shot)
    finally:
        context.close()
    assert {name: v for name, v in violations.items() if v} == {}
    assert [m for m in console if "Content Security Policy" in m] == []


def test_a_data_confirm_form_asks_before_it_submits(
    browser: Browser, live_url: str, session: Session, settings: Settings
) -> None:
    make_staff(session)
    ids = demo_ids(session, settings)
    context = browser.new_context()
    page = context.new_page()
    asked: list[str] = []

    def dismiss(dialog: object) -> None:
        asked.append(dialog.message)  # type: ignore[attr-defined]
        dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", dismiss)
    try:
        log_in(page, live_url, "admin@example.org", PASSWORD)
        page.goto(f"{live_url}/campaigns/{ids['campaign_id']}")
        page.click("form[data-confirm] button[type=submit]")
        page.wait_for_timeout(300)
        assert asked and page.url.endswith(f"/campaigns/{ids['campaign_id']}")
    finally:
        context.close()
    campaign = session.get(Campaign, ids["campaign_id"])
    session.refresh(campaign)
    assert campaign is not None and campaign.status == CampaignStatus.DRAFT  # not cancelled
