"""Commis at 360x780 in real headless Chromium against a real ``zerg serve``: an agent job's page
links to its Timeline session, which opens; on a server without claude/codex and without a model,
"New job" and "Continue on server" offer those backends disabled with the reason and the fix, the
API refuses them, a job that failed at once says why on its page, and a cancelled job reads
"Cancelled" after a reload. Takes docs/screenshots/job.png and new-job.png."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.test_browser import phone  # noqa: F401  (the Chromium fixture)
from tests.commis.test_migrate_continue import CLAUDE_FILE, CLAUDE_SID
from tests.commis_helpers import wait_status
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.ingest_batch import http_ingest
from tests.procs import ZergServer, http_json, run_zerg

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SIZE = {"viewport": {"width": 360, "height": 780}, "device_scale_factor": 1, "is_mobile": True, "has_touch": True}


def shot(page, name: str) -> None:
    """A small PNG of what the phone shows (the viewport, at 1x): docs/screenshots/<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size < 100_000, f"{path.name} is {path.stat().st_size} bytes"


def sideways(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def serve(env: dict, tmp_path: Path):
    server = ZergServer(env, log_dir=tmp_path / "serve-logs")
    server.start()
    return server


def phone_page(phone, server):  # noqa: F811
    page = phone.browser.new_context(**SIZE).new_page()
    page.goto(server.login_link)
    page.get_by_test_id("dashboard").wait_for(timeout=15000)
    return page


def api_token(env: dict) -> str:
    return json.loads(run_zerg(["token", "create", "--json", "--name", "t"], env).stdout)["token"]


@pytest.fixture
def bare_env(zerg_env, tmp_path):
    """A server whose PATH has no claude or codex, and no model configured."""
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {
        k: v
        for k, v in zerg_env.items()
        if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL")
    }
    env["PATH"] = f"{empty}:/usr/bin:/bin"
    return env


def test_it_opens_an_agent_jobs_session_from_the_job_page(zerg_env, phone, tmp_path):  # noqa: F811
    with FakeAnthropic(api_key="sk-ant-test") as model:
        env = dict(zerg_env, ANTHROPIC_API_KEY="sk-ant-test", ANTHROPIC_BASE_URL=model.url, ZERG_MODEL="claude-fake-1")
        env.pop("OPENAI_BASE_URL", None)
        server = serve(env, tmp_path)
        try:
            server.wait_worker()
            token = api_token(env)
            task = 'Count the quokkas.\nTOOL write_file {"path": "quokkas.txt", "content": "42 quokkas\\n"}'
            status, job = http_json(
                f"{server.url}/api/commis/jobs", "POST", token=token, body={"task": task, "backend": "agent"}
            )
            assert status == 200, job
            assert wait_status(env, job["id"], ("succeeded", "failed"), timeout=90)["status"] == "succeeded"

            page = phone_page(phone, server)
            page.goto(f"{server.url}/commis/{job['id']}")
            link = page.get_by_test_id("job-session")
            link.wait_for(timeout=15000)
            assert link.inner_text() == f"commis-{job['id']} in the Timeline"
            href = link.get_attribute("href")
            assert href and href.startswith("/timeline/") and href.split("/")[-1].isdigit()
            assert sideways(page) <= 0
            shot(page, "job")
            link.click()
            page.get_by_test_id("events").wait_for(timeout=15000)
            assert page.url == server.url + href
            events = page.get_by_test_id("events").inner_text()
            assert "Count the quokkas." in events and "quokkas.txt" in events
            assert page.get_by_role("heading", level=1).inner_text().strip() != ""
            status, found = http_json(f"{server.url}/api/timeline/search?q=quokkas", token=token)
            assert status == 200 and {h["session"]["id"] for h in found["hits"]} == {int(href.split("/")[-1])}
        finally:
            server.close()


def test_it_offers_missing_backends_disabled_and_says_why_jobs_failed_or_were_cancelled(
    bare_env,
    phone,  # noqa: F811
    tmp_path,
):
    server = serve(bare_env, tmp_path)
    try:
        server.wait_worker()
        token = api_token(bare_env)
        page = phone_page(phone, server)

        # "New job": claude, codex and agent are listed disabled, each with its reason and fix
        page.goto(server.url + "/commis")
        page.get_by_test_id("new-job").click()
        off = page.get_by_test_id("backends-off")
        off.wait_for(timeout=10000)
        text = off.inner_text()
        assert "claude is not available: claude is not on PATH on the server." in text
        assert "npm install -g @anthropic-ai/claude-code" in text and "npm install -g @openai/codex" in text
        assert "agent is not available: no model is configured on the server." in text
        options = page.get_by_test_id("job-backend").evaluate(
            "(el) => Array.from(el.options).map((o) => [o.value, o.disabled, o.textContent])"
        )
        assert options == [
            ["shell", False, "shell"],
            ["claude", True, "claude (not available)"],
            ["codex", True, "codex (not available)"],
            ["agent", True, "agent (not available)"],
        ]
        page.get_by_test_id("job-task").fill("make test")
        assert sideways(page) <= 0
        shot(page, "new-job")

        # the API says the same with a 400, and makes no job
        status, reply = http_json(
            f"{server.url}/api/commis/jobs", "POST", token=token, body={"task": "fix it", "backend": "claude"}
        )
        assert status == 400 and "claude is not on PATH on the server" in reply["detail"]
        assert http_json(f"{server.url}/api/commis/jobs", token=token)[1]["jobs"] == []

        # a job that fails at once says why at the top of its page
        status, job = http_json(
            f"{server.url}/api/commis/jobs",
            "POST",
            token=token,
            body={"task": "make test", "workdir": str(tmp_path / "no-such-dir")},
        )
        assert status == 200, job
        wait_status(bare_env, job["id"], ("failed",))
        page.goto(f"{server.url}/commis/{job['id']}")
        why = page.get_by_role("alert").filter(has_text="Why it failed")
        why.wait_for(timeout=15000)
        assert "is not a directory on this server" in why.inner_text()

        # a cancelled job reads "Cancelled", after a reload too
        status, job = http_json(
            f"{server.url}/api/commis/jobs", "POST", token=token, body={"task": "echo started; sleep 60"}
        )
        page.goto(f"{server.url}/commis/{job['id']}")
        page.wait_for_selector('[data-testid="job-status"][data-status="running"]', timeout=20000)
        cancel = page.get_by_test_id("job-cancel")
        cancel.click()
        cancel.click()
        page.wait_for_selector('[data-testid="job-status"][data-status="cancelled"]', timeout=20000)
        page.reload()
        page.wait_for_selector('[data-testid="job-status"][data-status="cancelled"]', timeout=15000)
        assert cancel.inner_text() == "Cancelled" and cancel.is_disabled()
        assert "This job was cancelled" in page.get_by_test_id("job-cancelled").inner_text()

        # "Continue on server" of a Claude Code session: disabled, with the reason and the fix
        if CLAUDE_FILE.exists():
            device = json.loads(run_zerg(["token", "create", "--device", "laptop", "--json"], bare_env).stdout)["token"]
            status, reply = http_ingest(
                server.url + "/api/agents/ingest",
                device,
                {
                    "device": "laptop",
                    "files": [
                        {
                            "provider": "claude",
                            "path": f"/home/owner/.claude/projects/-work/{CLAUDE_SID}.jsonl",
                            "offset": 0,
                            "data": CLAUDE_FILE.read_text(encoding="utf-8"),
                        }
                    ],
                },
            )
            assert status == 200, reply
            page.goto(f"{server.url}/timeline/{reply['files'][0]['session_id']}")
            page.get_by_test_id("continue-unavailable").wait_for(timeout=15000)
            assert page.get_by_role("button", name="Continue on server").is_disabled()
            assert "claude is not on PATH on the server" in page.get_by_test_id("continue-unavailable").inner_text()
    finally:
        server.close()
