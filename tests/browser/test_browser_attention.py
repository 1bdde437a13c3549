"""The "Needs attention" badge and view, and the Settings notification switches, in headless
Chromium at 360 px against a real ``zerg serve``: a failed commis shows on the badge from any
page, one tap opens the view, "Seen" clears it."""

from __future__ import annotations

import pytest

from tests.browser.test_browser import artifacts_dir, logged_in_page, open_tab, phone  # noqa: F401  (the Chromium fixture)
from tests.commis_helpers import query, spawn, wait_status

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def sideways(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_it_shows_the_badge_and_opens_the_view_in_one_tap(zerg_server, zerg_env, phone, tmp_path):  # noqa: F811
    zerg_server.wait_worker()
    page = logged_in_page(phone, zerg_server)
    page.set_viewport_size({"width": 360, "height": 740})
    shots = artifacts_dir(tmp_path)
    # the open page is counted, in the database, for the workers' "no page open" check
    assert query(zerg_env, "SELECT COUNT(*) FROM zerg_site_ownersocket")[0][0] >= 1
    open_tab(page, "forum")  # any page: the badge is in the nav
    assert page.get_by_test_id("attention-count").count() == 0

    job = spawn(zerg_env, "echo the disk is full >&2; exit 3")
    wait_status(zerg_env, job["id"], ("failed",))
    badge = page.get_by_test_id("attention-count")
    badge.wait_for(timeout=15000)  # live, through the event stream
    assert badge.inner_text() == "1"
    tab = page.get_by_test_id("nav-attention")
    box = tab.bounding_box()
    assert box["width"] >= 44 and box["height"] >= 44
    assert "1 waiting" in tab.inner_text() or "1 waiting" in tab.text_content()

    tab.click()  # one tap
    item = page.get_by_test_id("attention-item")
    item.wait_for(timeout=10000)
    assert f"Commis #{job['id']} failed" in item.inner_text() and "the disk is full" in item.inner_text()
    assert sideways(page) <= 0
    page.screenshot(path=str(shots / "attention-360.png"), full_page=True)
    seen = page.get_by_test_id("attention-seen")
    assert seen.bounding_box()["height"] >= 44
    seen.click()
    page.get_by_test_id("attention-empty").wait_for(timeout=10000)
    page.get_by_test_id("attention-count").wait_for(state="detached", timeout=10000)

    # Settings: the notification switches are stored on the server
    open_tab(page, "settings")
    switch = page.get_by_test_id("push-kind-job_finished")
    switch.wait_for(timeout=10000)
    assert switch.is_checked()
    switch.click()
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=push-kind-job_finished]').disabled"
        " && !document.querySelector('[data-testid=push-kind-job_finished]').checked",
        timeout=10000,
    )
    page.reload()
    page.get_by_test_id("push-kind-job_finished").wait_for(timeout=15000)
    assert not page.get_by_test_id("push-kind-job_finished").is_checked()
    assert page.get_by_test_id("push-kind-job_failed").is_checked()
    assert sideways(page) <= 0
    page.screenshot(path=str(shots / "settings-notifications-360.png"), full_page=True)
