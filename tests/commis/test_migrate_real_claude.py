"""The real Claude Code CLI resumes a session restored from the Timeline (a real session file
from the fixtures), against the fake Anthropic server; its new turns join the same
Timeline session. Skipped when the CLI is not installed."""

from __future__ import annotations

import dataclasses
import json

import pytest
from django.test import Client

from tests.commis.test_backend_claude import real_claude_cli
from tests.commis.test_migrate_continue import CLAUDE_FILE, CLAUDE_SID, ship_claude

pytestmark = pytest.mark.skipif(not CLAUDE_FILE.exists(), reason="shared fixtures not present")


@pytest.fixture
def device(db):
    from zerg_site.auth.tokens import create_token
    from zerg_site.models import ApiToken

    _, secret = create_token("laptop", kind=ApiToken.DEVICE)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.mark.django_db(transaction=True)
def test_it_resumes_a_restored_session_with_the_real_cli(device, token_client, tmp_path, monkeypatch, settings):
    from commis.models import Job
    from commis.runner import run_job
    from tests.fakes.fake_anthropic import FakeAnthropic
    from timeline.models import Session

    cli = real_claude_cli()
    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="test")
    sid = ship_claude(device)
    before = Session.objects.get(id=sid).event_count
    with FakeAnthropic(api_key="test") as fake:
        monkeypatch.setenv("ZERG_CLAUDE_BIN", str(cli))
        monkeypatch.setenv("HOME", str(tmp_path / "home"))  # never the developer's own ~/.claude
        for var, value in {
            "ANTHROPIC_BASE_URL": fake.url,
            "CLAUDE_CODE_MAX_RETRIES": "0",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        }.items():
            monkeypatch.setenv(var, value)
        for var in (
            "CLAUDE_CONFIG_DIR",
            "ANTHROPIC_AUTH_TOKEN",
            "CLAUDE_CODE_OAUTH_TOKEN",
            "HTTPS_PROXY",
            "HTTP_PROXY",
            "https_proxy",
            "http_proxy",
        ):
            monkeypatch.delenv(var, raising=False)
        r = token_client.post(
            f"/api/migrate/sessions/{sid}/continue",
            json.dumps({"prompt": "Now also disable MD013.", "workspace": "scratch"}),
            content_type="application/json",
        )
        assert r.status_code == 200, r.content
        job_id = r.json()["job"]["id"]
        status = run_job(job_id)
        job = Job.objects.get(id=job_id)
        assert status == Job.SUCCEEDED, job.summary
        assert job.session_id == CLAUDE_SID  # resumed, not a new session
        assert job.summary == "Done: the fake model has finished the task."
        # the model saw the earlier conversation from the restored file, then the new prompt
        sent = json.dumps(fake.message_requests[-1].body["messages"])
        assert "mysterious build errors" in sent and "Now also disable MD013." in sent
    session = Session.objects.get(id=sid)
    assert Session.objects.filter(provider="claude", provider_session_id=CLAUDE_SID).count() == 1
    assert session.event_count > before
    assert session.events.filter(text__contains="Now also disable MD013.").exists()
