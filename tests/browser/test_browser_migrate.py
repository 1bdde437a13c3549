""" "Continue on server" in real headless Chromium at a phone viewport: a real Claude Code
session shipped through the ingest API is continued from its Session page, the link leads
to the job (the fake claude CLI resumes the session), and a second start is refused."""

from __future__ import annotations

import json

import pytest

from tests.browser.test_browser import artifacts_dir, logged_in_page, phone  # noqa: F401  (the Chromium fixture)
from tests.commis.test_migrate_continue import CLAUDE_FILE, CLAUDE_SID
from tests.commis_helpers import commis_env, wait_status
from tests.fakes.drive import BIN
from tests.ingest_batch import http_ingest
from tests.procs import ZergServer, http_json, run_zerg

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CLAUDE_FILE.exists(), reason="shared fixtures not present"),
]


@pytest.fixture
def server(tmp_path):
    with commis_env(
        tmp_path / "home", ZERG_CLAUDE_BIN=str(BIN / "claude"), ANTHROPIC_API_KEY="sk-test", FAKE_CLI_SLEEP="8"
    ) as env:
        srv = ZergServer(env, log_dir=tmp_path / "logs")
        try:
            srv.start()
            yield srv
        finally:
            srv.close()


def test_it_continues_a_session_from_its_page_and_links_to_the_job(server, phone, tmp_path):  # noqa: F811
    done = run_zerg(["token", "create", "--device", "laptop", "--json"], server.env)
    token = json.loads(done.stdout)["token"]
    body = {
        "device": "laptop",
        "files": [
            {
                "provider": "claude",
                "path": f"/home/owner/.claude/projects/-work/{CLAUDE_SID}.jsonl",
                "offset": 0,
                "data": CLAUDE_FILE.read_text(encoding="utf-8"),
            }
        ],
    }
    status, reply = http_ingest(server.url + "/api/agents/ingest", token, body)
    assert status == 200, reply
    sid = reply["files"][0]["session_id"]

    api_token = json.loads(run_zerg(["token", "create", "--json", "--name", "t"], server.env).stdout)["token"]
    page = logged_in_page(phone, server)
    page.goto(f"{server.url}/timeline/{sid}")
    page.get_by_test_id("continue-open").click()
    page.get_by_test_id("continue-prompt").fill("Now also disable MD013.")
    page.get_by_test_id("continue-start").click()
    link = page.get_by_test_id("continue-job")
    link.wait_for(timeout=15000)
    job_id = int(link.inner_text().split("#")[1])
    assert link.get_attribute("href") == f"/commis/{job_id}"
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    page.screenshot(path=str(artifacts_dir(tmp_path) / "session-continue-390x844.png"), full_page=True)

    # a second continuation while this one is active: refused by the API with a clear message
    status, reply = http_json(
        f"{server.url}/api/migrate/sessions/{sid}/continue", "POST", token=api_token, body={"prompt": "again"}
    )
    if status != 200:  # (unless the first already finished)
        assert status == 409 and f"job {job_id}" in reply["detail"]

    page.goto(server.url + f"/commis/{job_id}")  # (the link itself goes away once the job ends)
    page.locator('[data-testid="job-status"][data-status="succeeded"]').first.wait_for(timeout=60000)
    assert wait_status(server.env, job_id, ("succeeded",))["status"] == "succeeded"

    # back on the session: it can be continued again, and the finished job is listed
    page.goto(f"{server.url}/timeline/{sid}")
    page.get_by_test_id("continue-open").wait_for(timeout=10000)
    assert page.get_by_test_id("continue").locator(f'a[href="/commis/{job_id}"]').count() == 1
    assert "Now also disable MD013." in page.get_by_test_id("events").inner_text()
