"""The SPA in real headless Chromium at a phone viewport, against a real ``zerg serve``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.browser_csp import CspWatch

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling Google on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def artifacts_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("ZERG_TEST_ARTIFACTS") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def phone():
    """A phone-sized context of a fresh Chromium; the test fails on any Content-Security-Policy
    violation in it or in any other context of that browser (tests/browser_csp.py)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        csp = CspWatch(browser)
        context = browser.new_context(
            viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True, has_touch=True
        )
        try:
            yield context
            csp.assert_none()
        finally:
            context.close()
            browser.close()


def logged_in_page(context, server):
    """A new page of ``context``, logged in with the server's one-time link, its dashboard live."""
    link = server.login_link
    assert link, server.output()
    page = context.new_page()
    page.goto(link)
    page.get_by_test_id("dashboard").wait_for(timeout=15000)
    page.wait_for_selector('[data-testid="ws-state"]:text-is("live")', timeout=15000)
    return page


def open_tab(page, name: str) -> None:
    """Open a page of the navigation: its tab when the bar shows it, else under "More" (a phone)."""
    tab = page.get_by_test_id("nav-" + name)
    if tab.is_visible():
        tab.click()
    else:
        page.get_by_test_id("nav-more").click()
        page.get_by_test_id("more-" + name).click()


def test_it_logs_in_with_the_link_and_shows_a_live_worker_event(zerg_server, phone, tmp_path):
    zerg_server.wait_worker()
    link = zerg_server.login_link
    assert link, zerg_server.output()
    page = phone.new_page()
    page.goto(link)
    dashboard = page.get_by_test_id("dashboard")
    dashboard.wait_for(timeout=15000)
    assert page.url == zerg_server.url + "/"
    page.wait_for_selector('[data-testid="ws-state"]:text-is("live")', timeout=15000)
    page.wait_for_selector('[data-testid="worker-alive"][data-alive="true"]', timeout=15000)

    # The raw event stream and the ping live on their own page (from Settings), not on the dashboard.
    open_tab(page, "settings")
    page.get_by_test_id("debug-events-link").click()
    page.get_by_test_id("ping-worker").click()
    pong = page.locator('[data-testid="event-row"][data-kind="worker.pong"]').first
    pong.wait_for(timeout=15000)
    assert "pong" in page.get_by_test_id("ping-result").inner_text(timeout=15000).lower()

    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, "the dashboard scrolls sideways at 390 px"
    page.screenshot(path=str(artifacts_dir(tmp_path) / "dashboard-390x844.png"), full_page=True)

    # Deep links are served by the SPA, and navigation works.
    page.goto(zerg_server.url + "/settings")
    page.get_by_test_id("token-form").wait_for(timeout=10000)
    page.get_by_test_id("nav-dashboard").click()
    dashboard.wait_for(timeout=10000)

    # The link worked once; a second browser is refused with an explanation.
    other = phone.browser.new_context().new_page()
    response = other.goto(link)
    assert response.status == 410
    assert "already used" in other.content()


def test_it_shows_the_login_page_and_a_wrong_password_error(zerg_server, phone, tmp_path):
    page = phone.new_page()
    page.goto(zerg_server.url + "/commis")
    page.get_by_test_id("login-form").wait_for(timeout=15000)
    page.get_by_test_id("login-password").fill("not the password")
    page.get_by_test_id("login-form").locator("button[type=submit]").click()
    error = page.get_by_test_id("login-error")
    error.wait_for(timeout=10000)
    assert "zerg passwd" in error.inner_text() or "Wrong password" in error.inner_text()
    page.screenshot(path=str(artifacts_dir(tmp_path) / "login-error-390x844.png"))
