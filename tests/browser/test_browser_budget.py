"""Budgets in real headless Chromium at 360x780 against a real ``zerg serve``: a Claude Code session
shipped today (about $0.60 at list price); the owner sets a daily budget of $0.50 in Settings (a
bad amount first: the error shows and nothing is saved), and then sees it everywhere: the daily
budget line on the Spend page's chart, today's and this week's spend against it on the dashboard.
Screenshots: docs/screenshots/settings-budget.png, spend-budget.png, dashboard-spend.png."""

from __future__ import annotations

import pytest

from tests.browser.test_browser import open_tab, phone  # noqa: F401  (the Chromium fixture)
from tests.browser.test_browser_cockpit import SIZE, shot
from tests.browser.test_browser_spend import ship
from tests.procs import create_token, http_json

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_it_sets_a_daily_budget_in_settings_and_draws_it_on_spend_and_the_dashboard(zerg_server, phone):  # noqa: F811
    sessions = ship(zerg_server)
    today = next(s for s in sessions if s["model"].startswith("claude-sonnet"))["cost_usd"]
    assert today > 0.5
    context = phone.browser.new_context(**SIZE)
    page = context.new_page()
    page.goto(zerg_server.login_link)
    page.get_by_test_id("nav-more").wait_for(timeout=30000)
    open_tab(page, "settings")

    page.get_by_role("heading", name="Budgets").wait_for(timeout=10000)
    daily = page.get_by_label("Daily budget (USD)")
    daily.wait_for()
    assert daily.input_value() == "" and "From the config." in page.get_by_test_id("budget-status").inner_text()
    daily.fill("-3")
    page.get_by_role("button", name="Save budgets").click()
    alert = page.get_by_role("alert")
    alert.wait_for(timeout=10000)
    assert "daily_usd must be an amount above 0" in alert.inner_text()
    token = create_token(zerg_server.env)
    status, stored = http_json(zerg_server.url + "/api/budget", token=token)
    assert status == 200 and stored["source"] == "config" and stored["daily"]["budget_usd"] is None  # nothing saved

    daily.fill("0.50")
    page.get_by_role("button", name="Save budgets").click()
    page.get_by_test_id("budget-saved").wait_for(timeout=10000)
    status_text = page.get_by_test_id("budget-status").inner_text()
    assert f"today's spend ${today:.2f} is over its daily budget $0.50" in status_text and "Set here." in status_text
    assert page.get_by_role("button", name="Use the config").is_visible()
    page.get_by_test_id("budget-form").scroll_into_view_if_needed()
    shot(page, "settings-budget")
    status, stored = http_json(zerg_server.url + "/api/budget", token=token)
    assert stored["source"] == "settings" and stored["daily"]["budget_usd"] == 0.5 and stored["over"] is True

    open_tab(page, "spend")
    line = page.get_by_test_id("spend-budget-line")
    line.wait_for(timeout=10000)
    assert line.locator("text").text_content() == "daily budget $0.50"
    assert page.get_by_test_id("spend-budget").inner_text() == f"Today ${today:.2f} of the daily budget $0.50 (over)"
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    shot(page, "spend-budget")

    open_tab(page, "dashboard")
    card = page.get_by_test_id("dash-spend")
    card.wait_for(timeout=10000)
    text = card.inner_text()
    assert f"Today ${today:.2f} of $0.50, this week $" in text
    assert "Over budget: today's spend" in text and "Schedules wait; spawns ask first." in text
    assert card.get_attribute("href") == "/spend"
    card.scroll_into_view_if_needed()
    shot(page, "dashboard-spend")
    context.close()
