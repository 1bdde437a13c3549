"""``/api/schedules``: add, list, detail, edit, enable/disable, run now, remove, preview, failures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from commis import sauron
from commis.models import Job, Schedule
from commis.runner import run_job

pytestmark = pytest.mark.django_db(transaction=True)


def send(client, method, url, body=None):
    return getattr(client, method)(url, body or {}, content_type="application/json")


def test_it_needs_auth(client, db):
    assert client.get("/api/schedules").status_code == 401
    assert client.get("/api/schedules/failures").status_code == 401
    assert send(client, "post", "/api/schedules", {"name": "x", "task": "y", "cron": "@daily"}).status_code == 401
    assert Schedule.objects.count() == 0


def test_it_adds_lists_edits_and_removes(token_client):
    body = {"name": "nightly", "task": "echo hi", "cron": "0 3 * * *", "tz": "Europe/Berlin", "missed": "run_once"}
    made = send(token_client, "post", "/api/schedules", body)
    assert made.status_code == 200, made.content
    s = made.json()
    assert (s["name"], s["cron"], s["tz"], s["missed"], s["enabled"]) == (
        "nightly",
        "0 3 * * *",
        "Europe/Berlin",
        "run_once",
        True,
    )
    assert len(s["next_runs"]) == 5 and s["last_run"] is None and s["last_missed"] is None
    listing = token_client.get("/api/schedules").json()["schedules"]
    assert [x["name"] for x in listing] == ["nightly"]

    edited = send(token_client, "patch", "/api/schedules/nightly", {"interval": "30m", "task": "echo two"}).json()
    assert (edited["cron"], edited["interval"], edited["task"]) == ("", 1800, "echo two")
    off = send(token_client, "post", "/api/schedules/nightly/disable").json()
    assert off["enabled"] is False and off["next_runs"] == []
    on = send(token_client, "post", "/api/schedules/nightly/enable").json()
    assert on["enabled"] is True and on["next_runs"]

    job = send(token_client, "post", "/api/schedules/nightly/run").json()
    assert (job["origin"], job["origin_ref"], job["task"]) == ("schedule", "nightly", "echo two")
    detail = token_client.get("/api/schedules/nightly").json()
    assert [r["trigger"] for r in detail["runs"]] == ["manual"] and detail["runs"][0]["job_id"] == job["id"]

    assert token_client.delete("/api/schedules/nightly").json() == {"removed": "nightly"}
    assert token_client.delete("/api/schedules/nightly").status_code == 404
    assert token_client.get("/api/schedules/nightly").status_code == 404
    assert send(token_client, "post", "/api/schedules/nightly/run").status_code == 404


def test_it_answers_bad_input_with_400_and_the_reason(token_client):
    base = {"name": "b", "task": "echo"}
    for extra, reason in [
        ({"cron": "0 25 * * *"}, "invalid cron expression '0 25 * * *'"),
        ({"cron": "0 3 * * *", "tz": "Europe/Berlni"}, "unknown time zone 'Europe/Berlni'"),
        ({"interval": "5s"}, "too short"),
        ({}, "exactly one"),
    ]:
        response = send(token_client, "post", "/api/schedules", {**base, **extra})
        assert response.status_code == 400 and reason in response.json()["detail"], response.content
    assert Schedule.objects.count() == 0
    send(token_client, "post", "/api/schedules", {**base, "cron": "@daily"})
    dup = send(token_client, "post", "/api/schedules", {**base, "cron": "@daily"})
    assert dup.status_code == 400 and "already exists" in dup.json()["detail"]
    bad_edit = send(token_client, "patch", "/api/schedules/b", {"tz": "Nowhere/Land"})
    assert bad_edit.status_code == 400 and "unknown time zone" in bad_edit.json()["detail"]
    assert Schedule.objects.get(name="b").tz == "UTC"
    assert send(token_client, "patch", "/api/schedules/nope", {"tz": "UTC"}).status_code == 404
    preview = token_client.get("/api/schedules/preview?cron=61+*+*+*+*")
    assert preview.status_code == 400 and "out of range" in preview.json()["detail"]
    good = token_client.get("/api/schedules/preview?cron=0+3+*+*+*&tz=Asia/Tokyo&count=3").json()
    assert len(good["next_runs"]) == 3 and all(t.endswith("18:00:00+00:00") for t in good["next_runs"])


def test_it_reports_failed_scheduled_runs_for_the_dashboard(owner_client):
    send(owner_client, "post", "/api/schedules", {"name": "flaky", "task": "exit 1", "interval": "1h"})
    Schedule.objects.update(next_run_at=timezone.now() - timedelta(seconds=5))
    assert sauron.tick() == 1
    job = Job.objects.get(origin="schedule")
    assert owner_client.get("/api/schedules/failures").json()["count"] == 0  # queued is not failed
    assert run_job(job.id) == Job.FAILED
    report = owner_client.get("/api/schedules/failures").json()
    assert report["count"] == 1
    row = report["runs"][0]
    assert (row["schedule"], row["job_id"], row["status"]) == ("flaky", job.id, "failed")
    last = owner_client.get("/api/schedules").json()["schedules"][0]["last_run"]
    assert last["status"] == "failed"


def test_it_adds_and_edits_schedules_in_the_admin_with_the_same_checks(owner_client):
    form = {
        "name": "adm",
        "cron": "0 3 * * *",
        "tz": "Nowhere/Land",
        "interval": "",
        "task": "echo a",
        "backend": "shell",
        "repo_url": "",
        "timeout": "",
        "missed": "skip",
        "enabled": "on",
        "runs-TOTAL_FORMS": "0",
        "runs-INITIAL_FORMS": "0",
        "misses-TOTAL_FORMS": "0",
        "misses-INITIAL_FORMS": "0",
    }
    bad = owner_client.post("/admin/commis/schedule/add/", form)
    assert bad.status_code == 200 and "unknown time zone" in bad.content.decode()
    assert Schedule.objects.count() == 0
    good = owner_client.post("/admin/commis/schedule/add/", {**form, "tz": "Europe/Berlin"})
    assert good.status_code == 302, good.content.decode()[:2000]
    s = Schedule.objects.get(name="adm")
    assert s.next_run_at > timezone.now()
    changed = owner_client.post(f"/admin/commis/schedule/{s.id}/change/", {**form, "tz": "UTC", "cron": "@hourly"})
    assert changed.status_code == 302
    s.refresh_from_db()
    assert (s.cron, s.tz) == ("@hourly", "UTC") and s.next_run_at.minute == 0
