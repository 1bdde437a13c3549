"""The "Needs attention" API with real jobs, interrupts and schedule runs: what shows, the
count for the badge, marking items seen, bad input and auth."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from commis import jobs
from commis.models import Job, Schedule, ScheduleRun
from commis.runner import run_job
from oikos.models import Thread, Turn
from zerg_site.heartbeat import Heartbeat
from zerg_site.push.models import SeenItem

pytestmark = pytest.mark.django_db(transaction=True)


def post(client, url, body):
    return client.post(url, json.dumps(body) if not isinstance(body, str) else body, content_type="application/json")


def ran(task: str, **kw) -> Job:
    job = jobs.spawn(task, "shell", enqueue_task=False, **kw)
    run_job(job.id)
    job.refresh_from_db()
    return job


def keys(client) -> list[str]:
    body = client.get("/api/attention").json()
    assert body["count"] == len(body["items"])
    return [item["key"] for item in body["items"]]


def test_it_lists_what_waits_on_the_owner(owner_client):
    assert owner_client.get("/api/attention").json() == {"count": 0, "items": []}
    ok = ran("echo fine")
    failed = ran("echo it broke >&2; exit 1")
    scheduled = ran("exit 4", origin="schedule", origin_ref="nightly")
    assert ok.status == Job.SUCCEEDED and failed.status == scheduled.status == Job.FAILED
    thread = Thread.objects.create(title="t")
    turn = Turn.objects.create(thread=thread, status=Turn.WAITING, interrupt={"question": "Spawn 3 commis?"})
    Turn.objects.create(thread=thread, status=Turn.DONE)
    schedule = Schedule.objects.create(name="weekly", task="x", interval=60)
    run = ScheduleRun.objects.create(schedule=schedule, error="unknown backend 'nope'")
    ScheduleRun.objects.create(schedule=schedule, job=ok, due_at=ok.created_at)
    body = owner_client.get("/api/attention").json()
    assert body["count"] == 4
    items = {item["key"]: item for item in body["items"]}
    assert list(items) == [f"turn:{turn.id}", f"job:{scheduled.id}", f"job:{failed.id}", f"schedule-run:{run.id}"]
    assert items[f"turn:{turn.id}"] | {"at": None} == {
        "key": f"turn:{turn.id}",
        "kind": "interrupt",
        "title": "Oikos needs your answer",
        "detail": "Spawn 3 commis?",
        "url": f"/chat/{thread.id}",
        "at": None,
        "dismissable": False,
    }
    assert items[f"job:{failed.id}"]["kind"] == "job_failed" and "it broke" in items[f"job:{failed.id}"]["detail"]
    assert items[f"job:{scheduled.id}"]["title"] == "Scheduled job nightly failed"
    assert items[f"schedule-run:{run.id}"]["title"] == "Schedule weekly could not run"
    assert owner_client.get("/api/attention/count").json() == {"count": 4}
    # answered: the interrupt leaves the list
    Turn.objects.filter(id=turn.id).update(status=Turn.QUEUED)
    assert f"turn:{turn.id}" not in keys(owner_client)


def test_it_shows_queued_commis_while_no_worker_runs(owner_client):
    job = jobs.spawn("echo later", "shell", enqueue_task=False)
    assert keys(owner_client) == ["no-worker"]
    item = owner_client.get("/api/attention").json()["items"][0]
    assert item["title"] == "1 commis queued, no worker running" and item["url"] == "/commis"
    beat = Heartbeat("worker")
    beat.start()
    assert keys(owner_client) == []
    beat.stop()
    assert keys(owner_client) == ["no-worker"]
    Job.objects.filter(id=job.id).update(status=Job.CANCELLED)
    assert keys(owner_client) == []


def test_it_marks_items_seen(owner_client):
    first, second = ran("exit 1"), ran("exit 2")
    schedule = Schedule.objects.create(name="s", task="x", interval=60)
    run = ScheduleRun.objects.create(schedule=schedule, error="boom")
    response = post(owner_client, "/api/attention/seen", {"keys": [f"job:{first.id}"]})
    assert response.status_code == 200 and response.json()["count"] == 2
    assert keys(owner_client) == [f"job:{second.id}", f"schedule-run:{run.id}"]
    post(owner_client, "/api/attention/seen", {"keys": [f"job:{first.id}"]})  # twice is fine
    assert post(owner_client, "/api/attention/seen", {"all": True}).json()["count"] == 0
    assert keys(owner_client) == []
    third = ran("exit 3")  # a new failure shows again
    assert keys(owner_client) == [f"job:{third.id}"]
    assert SeenItem.objects.count() == 3
    # a seen job that is retried and fails again shows again
    jobs.retry(first.id)
    run_job(first.id)
    assert keys(owner_client) == [f"job:{first.id}", f"job:{third.id}"]


def test_it_refuses_bad_seen_requests_and_stores_nothing(owner_client):
    for body in (
        "{oops",
        [1],
        {},
        {"keys": []},
        {"keys": "job:1"},
        {"keys": ["turn:3"]},
        {"keys": ["job:1", "job:x"]},
        {"keys": [7]},
        {"all": "yes"},
    ):
        response = post(owner_client, "/api/attention/seen", body if isinstance(body, str) else json.dumps(body))
        assert response.status_code == 400, body
        assert response.json()["detail"]
    assert SeenItem.objects.count() == 0


def test_it_requires_the_owner(owner, token_client):
    anonymous = Client()
    assert anonymous.get("/api/attention").status_code == 401
    assert anonymous.get("/api/attention/count").status_code == 401
    assert post(anonymous, "/api/attention/seen", {"all": True}).status_code == 401
    assert token_client.get("/api/attention").status_code == 200
