"""The SPA as an installable app, in real headless Chromium against a real ``zerg serve``: the
manifest and icons, the service worker at /sw.js (scope /), and the network cut in the browser after
a first visit -- the shell, the last-seen dashboard, commis list and chat threads still show, with an
offline banner, and an action taken offline is refused with a message (nothing reaches the server).

One server per module (seeded with a job, a session, a chat thread, a schedule); tests/
test_browser_a11y.py reuses these fixtures."""

from __future__ import annotations

import gzip
import json
import os
import re
import struct
import urllib.request

import pytest

from tests.browser.test_browser import CHROMIUM, CHROMIUM_ARGS, artifacts_dir
from tests.browser.test_browser_timeline import ship_fixture
from tests.browser_csp import CspWatch
from tests.commis_helpers import spawn
from tests.procs import ZergServer, base_env, create_token, database_env, http_json

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


class Site:
    """A running server, an API token, the ids of the seeded objects and a logged-in browser state."""

    def __init__(self, server: ZergServer, token: str):
        self.server, self.token, self.url = server, token, server.url
        self.ids: dict[str, int] = {}
        self.state: dict | None = None  # Playwright storage_state of a logged-in browser

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        status, reply = http_json(self.url + "/api" + path, method, token=self.token, body=body, timeout=30)
        assert status == 200, (path, status, reply)
        return reply


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pwa")
    with database_env() as overrides:
        server = ZergServer(base_env(tmp / "zerg-home", **overrides), log_dir=tmp / "serve-logs")
        try:
            server.start()
            server.wait_worker()
            s = Site(server, create_token(server.env))
            job = spawn(server.env, "echo hello from a commis; printf 'line %s\\n' 1 2 3", "--wait")
            s.ids["job"] = job["id"]
            s.ids["thread"] = s.api("POST", "/oikos/threads", {"title": "Release checklist"})["id"]
            ship_fixture(server)
            sessions = s.api("GET", "/timeline/sessions")
            s.ids["session"] = (sessions["sessions"] if isinstance(sessions, dict) else sessions)[0]["id"]
            s.api("POST", "/schedules", {"name": "nightly", "task": "echo nightly", "cron": "0 3 * * *"})
            s.ids["forum_thread"] = s.api("GET", f"/forum/jobs/{job['id']}/thread")["thread"]
            yield s
        finally:
            server.close()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        chromium.csp = CspWatch(chromium)  # every context of it, see no_csp_violations
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(autouse=True)
def no_csp_violations(browser):
    """Each test fails on a Content-Security-Policy violation in any of its pages (tests/browser_csp.py)."""
    browser.csp.take()
    yield
    browser.csp.assert_none()


def logged_in_context(browser, site: Site, **options):
    """A new phone context logged in as the owner (the one-time link is used once per module)."""
    if site.state is None:
        context = browser.new_context(**PHONE)
        page = context.new_page()
        page.goto(site.server.login_link)
        page.get_by_test_id("dashboard").wait_for(timeout=15000)
        site.state = context.storage_state()
        context.close()
    return browser.new_context(**{**PHONE, **options, "storage_state": site.state})


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_it_serves_an_installable_manifest_icons_and_the_service_worker(site, browser):
    with urllib.request.urlopen(site.url + "/manifest.webmanifest") as r:
        manifest = json.loads(r.read())
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/" and manifest["scope"] == "/"
    sizes = {}
    for icon in manifest["icons"]:
        with urllib.request.urlopen(site.url + icon["src"]) as r:
            body = r.read()
        if icon["type"] == "image/png":
            w, h = png_size(body)
            assert f"{w}x{h}" == icon["sizes"], icon
            sizes.setdefault(icon["purpose"], set()).add(w)
    assert {192, 512} <= sizes["any"] and 512 in sizes["maskable"]

    with urllib.request.urlopen(site.url + "/sw.js") as r:
        assert "javascript" in r.headers["Content-Type"]
        assert "immutable" not in (r.headers.get("Cache-Control") or "")  # a new version must be picked up
        assert b"addEventListener('push'" in r.read()

    # The build's .gz files are what a phone downloads (a third of the bytes).
    with urllib.request.urlopen(site.url + "/") as r:
        index = r.read().decode()
    script = re.search(r'src="(/assets/[^"]+\.js)"', index).group(1)
    request = urllib.request.Request(site.url + script, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request) as r:
        assert r.headers["Content-Encoding"] == "gzip" and "immutable" in r.headers["Cache-Control"]
        assert b"serviceWorker" in gzip.decompress(r.read())  # the app, registering /sw.js

    context = logged_in_context(browser, site)
    try:
        page = context.new_page()
        page.goto(site.url + "/")
        page.get_by_test_id("dashboard").wait_for(timeout=15000)
        scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
        assert scope == site.url + "/"
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=15000)
        assert page.locator('link[rel="manifest"]').get_attribute("href") == "/manifest.webmanifest"
    finally:
        context.close()


def test_it_shows_the_last_seen_pages_offline_and_refuses_actions(site, browser, tmp_path):
    shots = artifacts_dir(tmp_path)
    context = logged_in_context(browser, site)
    try:
        page = context.new_page()
        page.goto(site.url + "/")
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=15000)
        # The visit the cache remembers: the dashboard, the commis list, the chat threads and one thread.
        page.reload()
        page.get_by_test_id("dashboard").wait_for(timeout=15000)
        page.wait_for_selector('[data-testid="worker-alive"]', timeout=15000)
        page.get_by_test_id("nav-commis").click()
        page.get_by_test_id("job-row").first.wait_for(timeout=15000)
        page.get_by_test_id("nav-chat").click()
        page.get_by_test_id("thread-row").first.wait_for(timeout=15000)
        page.get_by_test_id("thread-row").first.click()
        page.get_by_test_id("chat-thread").wait_for(timeout=15000)
        page.wait_for_load_state("networkidle")
        assert page.get_by_test_id("offline-banner").count() == 0

        context.set_offline(True)
        page.reload()  # the shell itself comes from the service worker now
        page.get_by_test_id("chat-thread").wait_for(timeout=15000)
        banner = page.get_by_test_id("offline-banner")
        banner.wait_for(timeout=10000)
        assert "offline" in banner.inner_text().lower()
        page.screenshot(path=str(shots / "offline-chat-thread-360x740.png"), full_page=True)

        # An action offline: refused with a message, the text kept for later, nothing sent.
        page.get_by_test_id("composer-input").fill("sent while offline")
        page.get_by_test_id("composer-send").click()
        error = page.get_by_test_id("composer-error")
        error.wait_for(timeout=10000)
        assert "offline" in error.inner_text().lower() and "not sent" in error.inner_text().lower()
        assert page.get_by_test_id("composer-input").input_value() == "sent while offline"

        page.goto(site.url + "/")
        page.get_by_test_id("dashboard").wait_for(timeout=15000)
        banner.wait_for(timeout=10000)
        page.get_by_test_id("nav-commis").click()
        row = page.locator('[data-testid="job-row"]').first
        row.wait_for(timeout=10000)
        assert "hello from a commis" in page.get_by_test_id("jobs").inner_text()
        page.screenshot(path=str(shots / "offline-commis-360x740.png"), full_page=True)
        page.get_by_test_id("nav-chat").click()
        assert "Release checklist" in page.get_by_test_id("thread-row").first.inner_text(timeout=10000)
        assert banner.is_visible()

        context.set_offline(False)
        page.evaluate("window.dispatchEvent(new Event('online'))")
        page.reload()
        page.get_by_test_id("thread-row").first.wait_for(timeout=15000)
        page.wait_for_load_state("networkidle")
        assert page.get_by_test_id("offline-banner").count() == 0
    finally:
        context.close()
    detail = site.api("GET", f"/oikos/threads/{site.ids['thread']}")
    assert not any("sent while offline" in m["text"] for m in detail["messages"])
