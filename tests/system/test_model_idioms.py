"""Statuses as TextChoices and modification times as ``auto_now``, on the real database.

The status strings are the API's and the SPA's (``frontend/src``): the enums may gain
labels, never new values for old states. ``auto_now`` is a migration-state change only:
on SQLite an AlterField would rebuild the table (timeline_session holds the whole
archive), so the migrations must emit no SQL on either database.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from commis import schedules
from commis.models import Job, Schedule, ScheduleRun
from forum import services as forum
from forum.models import Claim
from oikos.models import Turn

pytestmark = pytest.mark.django_db(transaction=True)

STATE_ONLY = [
    ("commis", "0004_status_choices_schedule_auto_now"),
    ("oikos", "0003_status_choices_thread_auto_now"),
    ("forum", "0003_claim_auto_now"),
    ("timeline", "0011_updated_at_auto_now"),
    ("agents_ingest", "0003_workspacepatch_auto_now"),
]


def test_it_keeps_the_status_strings_the_api_and_the_spa_read():
    assert Job.Status.values == ["queued", "running", "succeeded", "failed", "cancelled", "timed_out", "over_budget"]
    assert Turn.Status.values == ["queued", "running", "waiting", "done", "failed"]
    assert ScheduleRun.Trigger.values == ["schedule", "manual", "missed"]
    assert Schedule.Missed.values == ["skip", "run_once"]
    job = Job.objects.create(task="true")
    assert Job.objects.filter(id=job.id, status="queued").exists()
    assert job.as_dict()["status"] == "queued" and type(Job.objects.get(id=job.id).status) is str


@pytest.mark.parametrize(("app", "name"), STATE_ONLY)
def test_it_changes_no_table_when_it_migrates_to_the_new_idioms(app, name):
    out = io.StringIO()
    call_command("sqlmigrate", app, name, stdout=out)
    statements = [
        line
        for line in out.getvalue().splitlines()
        if line.strip() and not line.startswith("--") and line.strip() not in ("BEGIN;", "COMMIT;")
    ]
    assert statements == []


def test_it_moves_a_schedules_updated_at_on_an_edit_without_being_told():
    s = schedules.add("nightly", task="true", interval=3600)
    old = timezone.now() - timedelta(days=3)
    Schedule.objects.filter(id=s.id).update(updated_at=old)
    schedules.edit("nightly", task="echo hi")
    row = Schedule.objects.get(id=s.id)
    assert row.task == "echo hi" and row.updated_at > old


def test_it_refuses_an_unknown_missed_policy_and_keeps_the_schedule():
    schedules.add("weekly", task="true", interval=3600)
    for bad in ("never", ["skip"], None):
        with pytest.raises(ValueError, match="unknown missed-run policy"):
            schedules.edit("weekly", missed=bad)
    assert Schedule.objects.get(name="weekly").missed == "skip"


def test_it_moves_a_claims_updated_at_when_its_holder_claims_it_again():
    forum.claim("repo:zerg", "commis:1", note="first")
    old = timezone.now() - timedelta(days=3)
    Claim.objects.filter(resource="repo:zerg").update(updated_at=old)
    forum.claim("repo:zerg", "commis:1", note="second")
    row = Claim.objects.get(resource="repo:zerg")
    assert row.note == "second" and row.updated_at > old
