"""``/api/commis/jobs``: list, detail, spawn, cancel, retry, log (incremental), diff."""

from __future__ import annotations

import pytest

from commis.models import Job
from commis.runner import run_job

pytestmark = pytest.mark.django_db(transaction=True)


def post(client, url, body=None):
    return client.post(url, body or {}, content_type="application/json")


def test_spawn_list_detail(token_client, monkeypatch):
    from pathlib import Path

    # claude must be installed for a claude job to be accepted (test_commis_backends.py: the 400)
    monkeypatch.setenv("ZERG_CLAUDE_BIN", str(Path(__file__).resolve().parents[1] / "fakes" / "bin" / "claude"))
    response = post(token_client, "/api/commis/jobs", {"task": "echo hi", "timeout": 30})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "queued" and body["backend"] == "shell" and body["timeout"] == 30
    other = post(token_client, "/api/commis/jobs", {"task": "echo x", "backend": "claude"}).json()
    listing = token_client.get("/api/commis/jobs").json()
    assert [j["id"] for j in listing["jobs"]] == [other["id"], body["id"]]
    assert listing["slots"]["queued"] == 2
    assert [j["id"] for j in token_client.get("/api/commis/jobs?backend=shell").json()["jobs"]] == [body["id"]]
    assert token_client.get("/api/commis/jobs?status=running").json()["jobs"] == []
    assert token_client.get(f"/api/commis/jobs/{body['id']}").json()["task"] == "echo hi"
    assert token_client.get("/api/commis/jobs/999999").status_code == 404


def test_spawn_validation(token_client):
    assert post(token_client, "/api/commis/jobs", {"task": "x", "backend": "nope"}).status_code == 400
    assert post(token_client, "/api/commis/jobs", {"task": "  "}).status_code == 400
    assert post(token_client, "/api/commis/jobs", {"task": "x", "timeout": 0}).status_code == 400


def test_needs_auth(client, db):
    assert client.get("/api/commis/jobs").status_code == 401
    assert client.post("/api/commis/jobs", {"task": "x"}, content_type="application/json").status_code == 401


def test_owner_session_needs_csrf_and_works(owner_client):
    assert post(owner_client, "/api/commis/jobs", {"task": "echo s"}).status_code == 200


def test_log_offset_diff_cancel_retry(token_client):
    job_id = post(token_client, "/api/commis/jobs", {"task": "echo line1; echo line2"}).json()["id"]
    assert token_client.get(f"/api/commis/jobs/{job_id}/log").content == b""
    assert post(token_client, f"/api/commis/jobs/{job_id}/retry").status_code == 409
    assert run_job(job_id) == Job.SUCCEEDED
    full = token_client.get(f"/api/commis/jobs/{job_id}/log")
    assert full["X-Job-Status"] == "succeeded"
    text = full.content.decode()
    assert "line1\nline2\n" in text
    offset = text.index("line2")
    part = token_client.get(f"/api/commis/jobs/{job_id}/log?offset={offset}")
    assert part.content.decode().startswith("line2\n")
    assert int(part["X-Log-Offset"]) == len(full.content)
    assert token_client.get(f"/api/commis/jobs/{job_id}/diff").content == b""
    retried = post(token_client, f"/api/commis/jobs/{job_id}/retry").json()
    assert retried["status"] == "queued"
    cancelled = post(token_client, f"/api/commis/jobs/{job_id}/cancel").json()
    assert cancelled["status"] == "cancelled"


def test_health_counts_running(client, db):
    job = Job.objects.create(task="x", status=Job.RUNNING)
    assert client.get("/api/health").json()["commis_slots"]["running"] == 1
    job.delete()


def test_admin_pages(owner, client):
    client.force_login(owner)
    job = Job.objects.create(task="echo admin")
    assert client.get("/admin/commis/job/").status_code == 200
    assert client.get(f"/admin/commis/job/{job.id}/change/").status_code == 200
