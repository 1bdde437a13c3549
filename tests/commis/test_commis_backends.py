"""Backends that cannot run are not offered as if they could: ``GET /api/commis/backends`` says which
can run and, for the others, why and the fix; spawning one (a job, or "Continue on server") is a
400 that says the same, and nothing is stored. A cancelled job reaches ``cancelled`` even when its
worker hands it back before the cancel was handled."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from commis import jobs
from commis.models import Job

BIN = Path(__file__).resolve().parents[1] / "fakes" / "bin"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bare_path(monkeypatch, tmp_path, settings):
    """A server PATH with git and a shell but no claude or codex, and no model configured."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", f"{empty}:/usr/bin:/bin")
    for name in ("ZERG_CLAUDE_BIN", "ZERG_CODEX_BIN"):
        monkeypatch.delenv(name, raising=False)
    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="", openai_api_key="", openai_base_url="")
    import shutil

    assert shutil.which("claude") is None and shutil.which("codex") is None


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_it_lists_what_cannot_run_with_the_reason_and_the_fix(bare_path, owner_client, client):
    assert client.get("/api/commis/backends").status_code == 401  # the owner's only
    found = {b["name"]: b for b in owner_client.get("/api/commis/backends").json()["backends"]}
    assert list(found) == ["shell", "claude", "codex", "agent"]
    assert found["shell"] == {"name": "shell", "available": True, "reason": "", "fix": ""}
    assert found["claude"]["available"] is False
    assert found["claude"]["reason"] == "claude is not on PATH on the server"
    assert "npm install -g @anthropic-ai/claude-code" in found["claude"]["fix"]
    assert found["codex"]["reason"] == "codex is not on PATH on the server"
    assert "npm install -g @openai/codex" in found["codex"]["fix"]
    assert found["agent"]["available"] is False and found["agent"]["reason"] == "no model is configured on the server"
    assert "ANTHROPIC_API_KEY" in found["agent"]["fix"]


def test_it_refuses_to_spawn_a_backend_that_cannot_run_and_stores_nothing(bare_path, owner_client):
    for backend, words in (("claude", "claude is not on PATH on the server"), ("agent", "no model is configured")):
        response = post(owner_client, "/api/commis/jobs", {"task": "fix the bug", "backend": backend})
        assert response.status_code == 400, response.content
        assert words in response.json()["detail"] and "Fix" not in response.json()["detail"]
    assert (
        "npm install -g @anthropic-ai/claude-code"
        in post(owner_client, "/api/commis/jobs", {"task": "x", "backend": "claude"}).json()["detail"]
    )
    assert not Job.objects.exists()
    assert post(owner_client, "/api/commis/jobs", {"task": "echo ok", "backend": "shell"}).status_code == 200


def test_it_offers_a_cli_backend_once_its_binary_is_named(bare_path, owner_client, monkeypatch):
    monkeypatch.setenv("ZERG_CLAUDE_BIN", str(BIN / "claude"))
    found = {b["name"]: b for b in owner_client.get("/api/commis/backends").json()["backends"]}
    assert found["claude"]["available"] is True
    monkeypatch.setenv("ZERG_CODEX_BIN", str(BIN / "nowhere"))
    found = {b["name"]: b for b in owner_client.get("/api/commis/backends").json()["backends"]}
    assert found["codex"]["available"] is False and "ZERG_CODEX_BIN" in found["codex"]["reason"]


def test_it_refuses_to_continue_a_session_whose_cli_is_missing(bare_path, owner_client):
    from agents_ingest.ingest import FileChunk, ingest_files
    from timeline.models import Session

    line = {
        "type": "user",
        "sessionId": "s-missing-cli",
        "cwd": "/w",
        "timestamp": "2026-05-01T10:00:00Z",
        "message": {"role": "user", "content": "go on"},
    }
    ingest_files("laptop", [FileChunk("claude", "/p/s-missing-cli.jsonl", (json.dumps(line) + "\n").encode())])
    session = Session.objects.get(provider_session_id="s-missing-cli")
    response = post(owner_client, f"/api/migrate/sessions/{session.id}/continue", {"workspace": "scratch"})
    assert response.status_code == 400
    assert "claude is not on PATH on the server" in response.json()["detail"]
    assert not Job.objects.exists()


def test_it_ends_a_cancelled_job_cancelled_when_its_worker_hands_it_back():
    job = jobs.spawn("sleep 100", "shell", enqueue_task=False)
    running = jobs.claim(job.id, worker="w1")
    other = jobs.spawn("sleep 100", "shell", enqueue_task=False)
    jobs.claim(other.id, worker="w1")
    jobs.cancel(running.id)  # asked while running; the worker stops before its runner saw it
    assert jobs.release_worker("w1") == [other.id]
    running.refresh_from_db()
    assert running.status == Job.CANCELLED and running.finished_at is not None
    assert Job.objects.get(id=other.id).status == Job.QUEUED


def test_it_ends_a_queued_job_whose_cancel_was_never_handled():
    """A row left queued with cancel_requested (released by an older server) no claim ever takes:
    the next requeue ends it cancelled instead of leaving it "Cancelling…" for good."""
    job = jobs.spawn("sleep 100", "shell", enqueue_task=False)
    Job.objects.filter(id=job.id).update(cancel_requested=True)
    keep = jobs.spawn("echo next", "shell", enqueue_task=False)
    assert jobs.requeue_waiting() == 1
    job.refresh_from_db()
    assert job.status == Job.CANCELLED
    assert Job.objects.get(id=keep.id).status == Job.QUEUED
