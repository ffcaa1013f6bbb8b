"""Headless Chromium (Debian's package) for the tests that look at pages as a person would.

The ``browser`` and ``live_url`` fixtures (tests/conftest.py) start it and serve the app;
the helpers here are what those tests do with a page.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach Google's hosts,
# which this machine's closed network refuses (see the env notes).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE_WIDTH = 375


def require_chromium() -> None:
    """Skip, with the reason and the fix, on a machine without Debian's chromium."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium: apt-get install chromium")


def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium with our flags (Playwright never downloads a browser here)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def log_in(page: Page, base_url: str, email: str, password: str) -> None:
    """Log in through the login form, as a person would, and land on the dashboard."""
    page.goto(f"{base_url}/login")
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', password)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{base_url}/")


def id_in_url(page: Page, pattern: str) -> int:
    """The number ``pattern``'s group catches in the page's address (a new row's id)."""
    match = re.search(pattern, page.url)
    assert match, f"{page.url} does not match {pattern}"
    return int(match.group(1))


def screenshot(page: Page, name: str, *, full_page: bool = True, folder: Path = ARTIFACTS) -> Path:
    """Save what the page shows to FOLDER/NAME.png (by default tests/artifacts, which is
    gitignored) for a person to look at."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
