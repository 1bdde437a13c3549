"""The Forum in real headless Chromium at a phone viewport, against a real ``zerg serve``: a
commis job's thread that shows the job's end as it happens, the owner's reply from the phone, and
the follow-up commis it starts (same workspace) appearing and running to the end."""

from __future__ import annotations

import pytest

from tests.browser.test_browser import artifacts_dir, logged_in_page, open_tab, phone  # noqa: F401  (the Chromium fixture)
from tests.commis_helpers import spawn, wait_status, workspace_of

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def no_sideways_scroll(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_it_replies_to_a_commis_thread_and_the_followup_appears(zerg_server, phone, tmp_path):  # noqa: F811
    zerg_server.wait_worker()
    # the job waits for a file the test makes once the thread is open: its end arrives live
    job = spawn(
        zerg_server.env,
        "echo first-run > notes.txt; while [ ! -f go ]; do sleep 0.2; done; echo '<script>alert(1)</script> **done**'",
    )
    wait_status(zerg_server.env, job["id"], ["running"])
    page = logged_in_page(phone, zerg_server)
    page.on("dialog", lambda d: pytest.fail(f"a dialog opened: {d.message}"))

    open_tab(page, "forum")
    page.locator('[data-testid="board-row"][data-board="commis"]').click()
    page.get_by_test_id("forum-board").wait_for(timeout=10000)
    page.locator(f'[data-testid="thread-row"][data-job="{job["id"]}"]').click()
    page.get_by_test_id("forum-thread").wait_for(timeout=10000)
    posts = page.get_by_test_id("post")
    posts.filter(has_text="Started").first.wait_for(timeout=15000)
    assert posts.filter(has_text="succeeded").count() == 0
    page.evaluate("window.__same_page = true")
    (workspace_of(zerg_server.env, job["id"]) / "go").touch()
    finished = posts.filter(has_text="succeeded").first
    finished.wait_for(timeout=30000)  # a new post, pushed over the WebSocket
    assert finished.locator("blockquote strong").inner_text() == "done"  # the summary's Markdown, rendered
    assert "<script>" in finished.inner_text() and finished.locator("script").count() == 0
    assert no_sideways_scroll(page) <= 0, "the thread scrolls sideways at 390 px"
    page.screenshot(path=str(artifacts_dir(tmp_path) / "forum-commis-thread-390x844.png"), full_page=True)

    page.get_by_test_id("reply-text").fill("cat notes.txt; echo follow-up-ran")
    page.get_by_test_id("reply-submit").click()
    link = page.get_by_test_id("followup-link")
    link.wait_for(timeout=15000)
    follow_id = int(link.get_attribute("data-job-id"))
    assert follow_id > job["id"]
    # the thread says so too (a live post, no reload)
    page.wait_for_selector(f'[data-testid="post"][data-author="system"] a[href="/commis/{follow_id}"]', timeout=15000)
    assert page.evaluate("window.__same_page") is True
    page.screenshot(path=str(artifacts_dir(tmp_path) / "forum-followup-390x844.png"), full_page=True)

    link.click()
    page.get_by_test_id("job-page").wait_for(timeout=10000)
    assert page.url == f"{zerg_server.url}/commis/{follow_id}"
    page.wait_for_selector('[data-testid="job-status"][data-status="succeeded"]', timeout=60000)
    page.wait_for_function(
        "() => { const t = document.querySelector('[data-testid=job-log]').textContent;"
        " return t.includes('first-run') && t.includes('follow-up-ran'); }",
        timeout=15000,
    )  # it ran in the first job's workspace

    # the follow-up has its own thread, which links back
    page.goto(zerg_server.url + "/forum/commis")
    page.locator(f'[data-testid="thread-row"][data-job="{follow_id}"]').click()
    page.wait_for_selector(f'[data-testid="post"] a[href="/commis/{job["id"]}"]', timeout=15000)
    assert no_sideways_scroll(page) <= 0

    # the boards, with nothing left unread in the threads opened, and search over the posts
    open_tab(page, "forum")
    page.locator('[data-testid="board-row"][data-board="commis"]').wait_for(timeout=10000)
    page.get_by_test_id("forum-q").fill("follow-up-ran")
    page.get_by_test_id("forum-q").press("Enter")
    hit = page.get_by_test_id("forum-hit").first
    hit.wait_for(timeout=10000)
    assert "follow-up-ran" in hit.inner_text()
    assert no_sideways_scroll(page) <= 0, "the Forum page scrolls sideways at 390 px"
    page.screenshot(path=str(artifacts_dir(tmp_path) / "forum-boards-search-390x844.png"), full_page=True)
