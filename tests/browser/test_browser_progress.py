"""Issue 20, "progress is visible wherever the owner waits": at 360x780 in real Chromium, each list
page whose answer is slow shows the shared spinner ("Loading…", role status) until its data
arrives, and then the page itself (tests hold the page's one API request, then let it go)."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from tests.browser.test_browser import logged_in_page, open_tab, phone  # noqa: F401  (the Chromium fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# (tab, the API path its page waits for, a test id that shows once the answer is in)
PAGES = [
    ("chat", "/api/oikos/threads", "chat"),
    ("commis", "/api/commis/jobs", "commis"),
    ("timeline", "/api/timeline/sessions", "timeline"),
    ("attention", "/api/attention", "attention-empty"),
    ("forum", "/api/forum/boards", "forum"),
    ("schedules", "/api/schedules", "schedules"),
]


@pytest.mark.parametrize(("tab", "path", "shown"), PAGES, ids=[p[0] for p in PAGES])
def test_it_shows_a_spinner_while_a_page_waits_for_its_answer(zerg_server, phone, tab, path, shown):  # noqa: F811
    # the service worker answers from its cache otherwise, past the held request (sw.js)
    context = phone.browser.new_context(
        viewport={"width": 360, "height": 780}, is_mobile=True, has_touch=True, service_workers="block"
    )
    try:
        page = logged_in_page(context, zerg_server)
        held = []

        def answer(url: str) -> bool:
            return urlparse(url).path == path

        def hold(route) -> None:
            held.append(route)  # answered below, once the spinner has been seen

        page.route(answer, hold)

        open_tab(page, tab)
        status = page.get_by_role("status").filter(has_text="Loading…")
        expect(status).to_be_visible(timeout=10000)  # after the 300 ms during which a fast answer shows nothing
        for _ in range(100):  # the route's handler runs when the event loop gets to it
            if held:
                break
            page.wait_for_timeout(100)
        assert held, f"the {tab} page asked nothing of {path}"

        for route in held:
            route.continue_()
        page.unroute(answer)
        expect(page.get_by_test_id(shown).first).to_be_visible(timeout=10000)
        expect(status).to_have_count(0)
    finally:
        context.close()
