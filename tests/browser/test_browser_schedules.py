"""The Schedules page and the Dashboard's failed-schedules block in headless Chromium at phone size,
against a real ``zerg serve``: clear errors in the form, add, run now (a failing job), see the
failure on the Dashboard, disable/enable, edit, delete."""

from __future__ import annotations

import pytest

from tests.browser.test_browser import artifacts_dir, logged_in_page, open_tab, phone  # noqa: F401  (the Chromium fixture)
from tests.commis.test_schedules_clusters import execute
from tests.commis_helpers import query

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def sideways(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_it_adds_runs_edits_and_removes_a_schedule_and_shows_failures(zerg_server, phone, tmp_path):  # noqa: F811
    zerg_server.wait_worker()
    page = logged_in_page(phone, zerg_server)
    page.set_viewport_size({"width": 360, "height": 740})
    shots = artifacts_dir(tmp_path)

    open_tab(page, "schedules")
    page.get_by_test_id("schedules").wait_for(timeout=10000)
    page.get_by_test_id("new-schedule").click()
    page.get_by_test_id("schedule-name").fill("nightly")
    page.get_by_test_id("schedule-cron").fill("0 3 * * *")
    page.get_by_test_id("schedule-tz").fill("Mars/Base")
    error = page.get_by_test_id("timing-error")
    error.wait_for(timeout=10000)
    assert "unknown time zone 'Mars/Base'" in error.inner_text()
    page.get_by_test_id("schedule-tz").fill("Europe/Berlin")
    page.wait_for_selector('[data-testid="preview"]:has-text("Next:")', timeout=10000)

    page.get_by_test_id("schedule-cron").fill("61 * * * *")
    page.get_by_test_id("timing-error").wait_for(timeout=10000)
    page.get_by_test_id("schedule-task").fill("echo scheduled; exit 3")
    page.get_by_test_id("schedule-submit").click()
    saved = page.get_by_test_id("schedule-error")
    saved.wait_for(timeout=10000)
    assert "invalid cron expression '61 * * * *'" in saved.inner_text()
    page.screenshot(path=str(shots / "schedules-error-360.png"), full_page=True)

    page.get_by_test_id("schedule-cron").fill("0 3 * * *")
    page.wait_for_selector('[data-testid="preview"]:has-text("Next:")', timeout=10000)
    page.get_by_test_id("schedule-submit").click()
    row = page.locator('[data-testid="schedule-row"][data-name="nightly"]')
    row.wait_for(timeout=10000)
    assert "0 3 * * * · Europe/Berlin" in row.inner_text()
    assert row.get_by_test_id("next-run").inner_text() != "none (disabled)"
    row.get_by_test_id("more-runs").click()
    assert row.get_by_test_id("next-runs").locator("li").count() == 5

    row.get_by_test_id("run-now").click()
    assert "Started job #" in row.get_by_test_id("schedule-msg").inner_text(timeout=10000)
    # The failing job's end arrives over the WebSocket; the row shows it without a reload.
    row.locator('[data-testid="last-run"] [data-status="failed"]').wait_for(timeout=60000)
    # Two records Sauron could write at one tick: each line says which due times and why.
    schedule_id = query(zerg_server.env, "SELECT id FROM commis_schedule WHERE name = 'nightly'")[0][0]
    for count, first, reason in (
        (3, "2026-01-05 12:00:00", "folded: late while every worker was busy"),
        (1, "2026-01-05 12:03:00", "skipped: no worker was running (--missed skip)"),
    ):
        execute(
            zerg_server.env,
            "INSERT INTO commis_schedulemiss (schedule_id, count, first_at, last_at, policy,"
            " reason, noticed_at) VALUES (?, ?, ?, ?, 'skip', ?, ?)",
            (schedule_id, count, first, first, reason, "2026-01-05 12:05:00"),
        )
    page.reload()
    row.wait_for(timeout=10000)
    assert "skipped: no worker was running" in row.get_by_test_id("missed").inner_text()
    row.get_by_test_id("history").click()
    run = row.get_by_test_id("history-run")
    run.wait_for(timeout=10000)
    assert run.count() == 1 and "run now" in run.inner_text()
    assert run.locator('[data-status="failed"]').count() == 1
    lines = row.get_by_test_id("schedule-history").get_by_test_id("missed")
    assert lines.count() == 2 and "3 due times not run on their own" in lines.nth(1).inner_text()
    assert "folded: late while every worker was busy" in lines.nth(1).inner_text()
    assert sideways(page) <= 0, "the Schedules page scrolls sideways at 360 px"
    page.screenshot(path=str(shots / "schedules-360.png"), full_page=True)

    page.get_by_test_id("nav-dashboard").click()
    block = page.locator('[data-testid="failed-schedules"][data-count="1"]')
    block.wait_for(timeout=15000)
    assert "nightly" in block.get_by_test_id("failed-schedule").inner_text()
    page.screenshot(path=str(shots / "dashboard-failed-schedules-360.png"), full_page=True)

    open_tab(page, "schedules")
    row.wait_for(timeout=10000)
    row.get_by_test_id("toggle").click()
    page.locator('[data-testid="schedule-row"][data-name="nightly"][data-enabled="false"]').wait_for(timeout=10000)
    assert row.get_by_test_id("next-run").inner_text() == "none (disabled)"
    row.get_by_test_id("toggle").click()
    page.locator('[data-testid="schedule-row"][data-name="nightly"][data-enabled="true"]').wait_for(timeout=10000)

    row.get_by_test_id("edit").click()
    form = page.get_by_test_id("schedule-form")
    form.get_by_test_id("schedule-mode").select_option("interval")
    form.get_by_test_id("schedule-interval").fill("2h")
    form.get_by_test_id("schedule-submit").click()
    page.wait_for_selector('[data-testid="schedule-row"][data-name="nightly"]:has-text("every 2h")', timeout=10000)

    row.get_by_test_id("delete").click()
    assert "Really" in row.get_by_test_id("delete").inner_text()
    row.get_by_test_id("delete").click()
    row.wait_for(state="detached", timeout=10000)
