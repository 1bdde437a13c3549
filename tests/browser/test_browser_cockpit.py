"""The cockpit at 360x780 in real headless Chromium against a real ``zerg serve`` (issue 20): log in
by the link the server printed, see a running commis with its live last line and Oikos's question
on the dashboard, reach Forum, Schedules and Settings under "More", make a device token and read the
exact lines to paste on the laptop, test the model (the fake Anthropic server answers), change the
password (another browser is signed out, the old password is then refused). The screenshots of
docs/screenshots/ (dashboard, more, settings) are taken here."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.browser.test_browser import logged_in_page, phone  # noqa: F401  (the Chromium fixture)
from tests.commis_helpers import spawn, wait_status
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.procs import ZergServer, create_token, http_json, run_zerg

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SIZE = {"viewport": {"width": 360, "height": 780}, "device_scale_factor": 1, "is_mobile": True, "has_touch": True}
OLD, NEW = "the first password of the owner", "a second, longer passphrase 2"


@pytest.fixture
def fake_model():
    with FakeAnthropic(api_key="sk-ant-test", default_text="pong") as server:
        yield server


@pytest.fixture
def server(zerg_env, fake_model, tmp_path):
    env = dict(zerg_env, ANTHROPIC_API_KEY="sk-ant-test", ANTHROPIC_BASE_URL=fake_model.url, ZERG_MODEL="claude-fake-1")
    env.pop("OPENAI_BASE_URL", None)
    done = run_zerg(["passwd", "--stdin"], env, input=OLD + "\n")
    assert done.returncode == 0, done.stderr
    server = ZergServer(env, log_dir=tmp_path / "serve-logs")
    try:
        server.start()
        yield server
    finally:
        server.close()


def shot(page, name: str) -> None:
    """A small PNG of what the phone shows (the viewport, at 1x): docs/screenshots/<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size < 100_000, f"{path.name} is {path.stat().st_size} bytes"


def sideways(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def log_in_with_password(context, url: str, password: str):
    page = context.new_page()
    page.goto(url + "/")
    page.get_by_test_id("login-form").wait_for(timeout=15000)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-form").locator("button[type=submit]").click()
    return page


def test_it_walks_the_cockpit_from_the_printed_link_to_a_new_password(server, fake_model, phone):  # noqa: F811
    server.wait_worker()
    env, token = server.env, create_token(server.env)
    job = spawn(env, "echo building step one; sleep 120")
    wait_status(env, job["id"], ("running",))
    # Oikos asks before cancelling a job: the fake model calls cancel_commis, the turn waits for the owner.
    thread = http_json(server.url + "/api/oikos/threads", "POST", token=token, body={"title": "Release"})[1]
    fake_model.reply_tool_use("cancel_commis", {"job_id": job["id"]})
    status, _ = http_json(
        f"{server.url}/api/oikos/threads/{thread['id']}/messages",
        "POST",
        token=token,
        body={"text": "cancel the build"},
    )
    assert status == 202
    deadline = time.monotonic() + 60
    while not http_json(server.url + "/api/oikos/threads", token=token)[1][0]["interrupt"]:
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.2)

    browser = phone.browser
    context = browser.new_context(**SIZE)
    other = browser.new_context(**SIZE)
    try:
        # 1. The link `zerg serve` printed opens the dashboard: the running job, its last line, the question.
        page = logged_in_page(context, server)
        running = page.locator(f'[data-testid="dash-job"][data-status="running"][href="/commis/{job["id"]}"]')
        running.wait_for(timeout=15000)
        assert f"#{job['id']} echo building step one" in running.inner_text()
        page.wait_for_function(
            "() => document.querySelector('[data-testid=dash-job-line]').textContent.includes('building step one')",
            timeout=15000,
        )
        assert page.get_by_role("heading", name="Running").is_visible()
        question = page.get_by_test_id("dash-attention-item")
        assert "Oikos needs your answer" in question.inner_text()
        assert question.get_attribute("href") == f"/chat/{thread['id']}"
        chat = page.get_by_test_id("dash-threads").get_by_role("link", name="Release")
        assert chat.get_attribute("href") == f"/chat/{thread['id']}" and "needs your answer" in chat.inner_text()
        page.wait_for_selector('[data-testid="worker-alive"][data-alive="true"]', timeout=15000)
        assert page.get_by_test_id("events").count() == 0  # the raw stream lives on /debug/events now
        assert sideways(page) <= 0
        shot(page, "dashboard")

        # 2. Six thumb-sized tabs; Forum, Schedules and Settings one tap away under "More".
        tabs = page.locator("nav a:visible")
        assert tabs.count() == 6
        for box in (tabs.nth(i).bounding_box() for i in range(6)):
            assert box["width"] >= 44 and box["height"] >= 44
        assert not page.get_by_test_id("nav-forum").is_visible()
        page.get_by_role("link", name="More").click()
        page.get_by_role("heading", name="More").wait_for(timeout=10000)
        assert page.get_by_test_id("nav-more").get_attribute("aria-current") == "page"
        shot(page, "more")
        page.get_by_role("link", name="Forum").click()
        page.wait_for_url(server.url + "/forum")
        page.get_by_role("heading", name="Forum").first.wait_for(timeout=10000)
        assert page.get_by_test_id("nav-more").get_attribute("aria-current") == "page"
        page.get_by_test_id("nav-more").click()
        page.get_by_test_id("more-schedules").click()
        page.wait_for_url(server.url + "/schedules")
        page.get_by_role("heading", name="Schedules").first.wait_for(timeout=10000)
        page.get_by_test_id("nav-more").click()
        page.get_by_test_id("more-settings").click()
        page.get_by_role("heading", name="Settings").wait_for(timeout=10000)

        # 3. A device token and the exact lines to paste on the laptop.
        page.get_by_test_id("device-name").fill("laptop")
        page.get_by_role("button", name="Create device token").click()
        lines = page.get_by_test_id("device-command")
        lines.wait_for(timeout=10000)
        command = lines.inner_text().strip()
        assert command.startswith(f"zerg connect {server.url} --token zerg_")
        assert command.endswith(" && zerg ship --install")
        secret = command.split("--token ")[1].split(" ")[0]
        assert http_json(server.url + "/api/commis/jobs", token=secret)[0] == 401  # a device token, not the owner's

        # 4. The model in use, and one tiny real request through it.
        assert "claude-fake-1" in page.get_by_test_id("model").inner_text()
        page.get_by_test_id("model-test").click()
        result = page.get_by_test_id("model-result")
        result.wait_for(timeout=30000)
        assert result.inner_text() == "It answers: “pong”"
        assert fake_model.message_requests[-1].body["max_tokens"] <= 16
        assert sideways(page) <= 0
        page.evaluate("() => scrollTo(0, 0)")
        shot(page, "settings")

        # 5. The password: another browser logged in with the old one is signed out by the change.
        elsewhere = log_in_with_password(other, server.url, OLD)
        elsewhere.get_by_test_id("dashboard").wait_for(timeout=15000)
        page.get_by_test_id("password-current").fill(OLD)
        page.get_by_test_id("password-new").fill(NEW)
        page.get_by_test_id("password-again").fill(NEW)
        assert "signs out every other browser" in page.get_by_test_id("password-form").locator("xpath=..").inner_text()
        page.get_by_role("button", name="Change password").click()
        page.get_by_test_id("password-done").wait_for(timeout=10000)
        elsewhere.reload()
        elsewhere.get_by_test_id("login-form").wait_for(timeout=15000)
        page.reload()
        page.get_by_role("heading", name="Settings").wait_for(timeout=15000)  # this browser stays in

        # ... and the old password is refused at the login page, the new one works.
        fresh = log_in_with_password(browser.new_context(**SIZE), server.url, OLD)
        assert "Wrong password" in fresh.get_by_test_id("login-error").inner_text(timeout=10000)
        fresh.get_by_test_id("login-password").fill(NEW)
        fresh.get_by_test_id("login-form").locator("button[type=submit]").click()
        fresh.get_by_test_id("dashboard").wait_for(timeout=15000)

        # 6. The raw event stream, from Settings: the worker answers a ping.
        page.get_by_test_id("debug-events-link").click()
        page.get_by_test_id("ping-worker").click()
        page.locator('[data-testid="event-row"][data-kind="worker.pong"]').first.wait_for(timeout=15000)
        assert "pong" in page.get_by_test_id("ping-result").inner_text(timeout=15000)
    finally:
        context.close()
        other.close()
