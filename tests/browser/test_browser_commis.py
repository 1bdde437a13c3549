"""The Commis pages in real headless Chromium at a phone viewport, against a real ``zerg serve``:
spawn a shell job from the form, watch it run and succeed live, read its log on the job page."""

from __future__ import annotations

import pytest

from tests.browser.test_browser import artifacts_dir, logged_in_page, phone  # noqa: F401  (the Chromium fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def no_sideways_scroll(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_it_spawns_a_shell_job_and_follows_it_live(zerg_server, phone, tmp_path):  # noqa: F811
    zerg_server.wait_worker()
    page = logged_in_page(phone, zerg_server)

    page.get_by_test_id("nav-commis").click()
    page.get_by_test_id("commis").wait_for(timeout=10000)
    page.wait_for_selector('[data-testid="slots"]:has-text("slots in use")', timeout=10000)

    page.get_by_test_id("new-job").click()
    page.get_by_test_id("job-task").fill("echo hello; sleep 3; echo done")
    assert page.get_by_test_id("job-backend").input_value() == "shell"
    page.screenshot(path=str(artifacts_dir(tmp_path) / "commis-new-job-390x844.png"), full_page=True)
    page.get_by_test_id("job-submit").click()

    row = page.get_by_test_id("job-row").first
    row.wait_for(timeout=10000)
    job_id = row.get_attribute("data-job-id")
    this = f'[data-testid="job-row"][data-job-id="{job_id}"]'
    # No reload from here on: the row changes through WebSocket events alone.
    page.evaluate("window.__same_page = true")
    page.wait_for_selector(this + '[data-status="running"]', timeout=20000)
    assert "echo hello" in page.locator(this).inner_text()
    page.screenshot(path=str(artifacts_dir(tmp_path) / "commis-running-390x844.png"), full_page=True)
    page.wait_for_selector(this + '[data-status="succeeded"]', timeout=30000)
    assert page.evaluate("window.__same_page") is True
    assert no_sideways_scroll(page) <= 0, "the Commis page scrolls sideways at 390 px"

    page.locator(this).click()
    page.get_by_test_id("job-page").wait_for(timeout=10000)
    assert page.url == f"{zerg_server.url}/commis/{job_id}"
    page.wait_for_selector(
        '[data-testid="job-page"] [data-testid="job-status"][data-status="succeeded"]', timeout=10000
    )
    log = page.get_by_test_id("job-log")
    page.wait_for_function(
        "(el) => el.textContent.includes('hello') && el.textContent.includes('done')",
        arg=log.element_handle(),
        timeout=10000,
    )
    assert page.get_by_test_id("job-cancel").is_disabled()
    assert page.get_by_test_id("job-retry").is_enabled()
    assert no_sideways_scroll(page) <= 0, "the job page scrolls sideways at 390 px"
    page.screenshot(path=str(artifacts_dir(tmp_path) / "commis-job-390x844.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(artifacts_dir(tmp_path) / "commis-job-dark-390x844.png"), full_page=True)


def test_the_job_page_shows_a_live_log_and_cancels_on_the_second_tap(zerg_server, phone, tmp_path):  # noqa: F811
    zerg_server.wait_worker()
    page = logged_in_page(phone, zerg_server)
    page.goto(zerg_server.url + "/commis")
    page.get_by_test_id("new-job").click()
    page.get_by_test_id("job-task").fill("for i in 1 2 3 4 5 6 7 8 9 10; do echo tick $i; sleep 1; done")
    page.get_by_test_id("job-submit").click()
    row = page.get_by_test_id("job-row").first
    row.wait_for(timeout=10000)
    job_id = row.get_attribute("data-job-id")
    row.click()
    page.get_by_test_id("job-page").wait_for(timeout=10000)
    page.wait_for_selector('[data-testid="job-status"][data-status="running"]', timeout=20000)
    # Lines arrive while the page is open.
    page.wait_for_function(
        "() => document.querySelector('[data-testid=job-log]').textContent.includes('tick 3')", timeout=20000
    )
    cancel = page.get_by_test_id("job-cancel")
    cancel.click()
    assert "again" in cancel.inner_text().lower()
    page.wait_for_timeout(300)
    assert page.locator('[data-testid="job-status"]').get_attribute("data-status") == "running"
    cancel.click()
    page.wait_for_selector('[data-testid="job-status"][data-status="cancelled"]', timeout=20000)
    assert "tick 10" not in page.get_by_test_id("job-log").text_content()
    assert page.url.endswith(f"/commis/{job_id}")
