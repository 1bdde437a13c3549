"""Sauron's service and tick (commis/schedules.py, commis/sauron.py) against the real database.

Due times are made "due" by moving ``next_run_at`` into the past, as a stopped clock
would; the tick itself runs for real (spawning queued commis jobs).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from commis import sauron, schedules
from commis.models import Job, Schedule, ScheduleMiss, ScheduleRun
from commis.runner import run_job

pytestmark = pytest.mark.django_db(transaction=True)

UTC = UTC


def make_due(name: str, ago: timedelta = timedelta(seconds=1)) -> datetime:
    due = (timezone.now() - ago).replace(microsecond=0)
    Schedule.objects.filter(name=name).update(next_run_at=due)
    return due


def worker_up(hours: int) -> None:
    """A worker cluster's heartbeat row: up for the last ``hours`` and still beating."""
    from zerg_site.models import ProcessHeartbeat

    ProcessHeartbeat.objects.create(
        kind="worker",
        name="worker:h:1:x",
        host="h",
        pid=1,
        started_at=timezone.now() - timedelta(hours=hours),
        last_seen=timezone.now(),
    )


def test_it_rejects_bad_input_with_a_clear_message_and_stores_nothing():
    cases = [
        (dict(cron="61 * * * *"), "invalid cron expression '61 * * * *'"),
        (dict(cron="* * * *"), "expected 5 fields"),
        (dict(cron="@fortnightly"), "known aliases"),
        (dict(cron="0 3 * * *", tz="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (dict(cron="0 3 * * *", tz="europe/berlin"), "did you mean Europe/Berlin?"),
        (dict(), "exactly one"),
        (dict(cron="0 3 * * *", interval="10m"), "exactly one"),
        (dict(interval="10x"), "invalid interval"),
        (dict(interval="30s"), "too short"),
        (dict(cron="0 3 * * *", backend="nope"), "unknown backend"),
        (dict(cron="0 3 * * *", missed="sometimes"), "missed-run policy"),
        (dict(cron="0 3 * * *", task="  "), "the task is empty"),
    ]
    for kwargs, message in cases:
        kwargs = {"task": "echo hi", **kwargs}
        with pytest.raises(ValueError, match=message.replace("?", r"\?").replace("*", r"\*")):
            schedules.add("s1", **kwargs)
    with pytest.raises(ValueError, match="invalid schedule name"):
        schedules.add("has space", task="x", cron="@daily")
    assert Schedule.objects.count() == 0
    schedules.add("s1", task="echo", cron="@daily")
    with pytest.raises(ValueError, match="already exists"):
        schedules.add("s1", task="echo", cron="@hourly")
    assert Schedule.objects.count() == 1


def test_it_computes_next_runs_in_the_schedules_time_zone_across_dst():
    s = Schedule(cron="30 2 * * *", tz="Europe/Berlin")
    # Spring forward (29 March 2026): 02:30 does not exist that night; it runs at 03:00 CEST.
    spring = schedules.following(s, datetime(2026, 3, 28, 12, tzinfo=UTC), 3)
    assert [t.isoformat() for t in spring] == [
        "2026-03-29T01:00:00+00:00",
        "2026-03-30T00:30:00+00:00",
        "2026-03-31T00:30:00+00:00",
    ]
    # Fall back (25 October 2026): 02:30 happens twice; a fixed-hour job runs once, like cron.
    fall = schedules.following(s, datetime(2026, 10, 24, 12, tzinfo=UTC), 2)
    assert [t.isoformat() for t in fall] == ["2026-10-25T00:30:00+00:00", "2026-10-26T01:30:00+00:00"]
    # A wildcard-hour job runs in both copies of the repeated hour.
    every = Schedule(cron="30 * * * *", tz="Europe/Berlin")
    hours = schedules.following(every, datetime(2026, 10, 24, 23, 0, tzinfo=UTC), 3)
    assert [t.isoformat() for t in hours] == [
        "2026-10-24T23:30:00+00:00",
        "2026-10-25T00:30:00+00:00",
        "2026-10-25T01:30:00+00:00",
    ]
    added = schedules.add("nightly", task="echo", cron="0 3 * * *", tz="America/New_York").as_dict()
    assert len(added["next_runs"]) == 5
    first = datetime.fromisoformat(added["next_runs"][0])
    assert first > timezone.now() and first.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York")).hour == 3
    assert schedules.preview(interval="1h", count=2)[1] > schedules.preview(interval="1h", count=2)[0]


def test_it_fires_a_due_time_once_and_moves_to_the_next():
    schedules.add("every", task="echo tick", interval="10m")
    due = make_due("every")
    assert sauron.tick() == 1
    assert sauron.tick() == 0  # the same due time again: nothing
    run = ScheduleRun.objects.get()
    assert run.due_at == due and run.trigger == "schedule"
    job = run.job
    assert (job.origin, job.origin_ref, job.task, job.status) == ("schedule", "every", "echo tick", "queued")
    assert Schedule.objects.get(name="every").next_run_at == due + timedelta(minutes=10)
    assert run_job(job.id) == Job.SUCCEEDED
    last = schedules.as_dict(Schedule.objects.get(name="every"))["last_run"]
    assert last["status"] == "succeeded" and last["job_id"] == job.id


def test_it_never_fires_a_due_time_twice_when_ticks_race(caplog):
    for i in range(3):
        schedules.add(f"race{i}", task="echo race", interval="1h")
    worker_up(hours=1)  # late due times, not missed ones
    rounds, threads = 5, 4
    base = timezone.now().replace(microsecond=0) - timedelta(minutes=10)
    for r in range(rounds):
        Schedule.objects.update(next_run_at=base + timedelta(seconds=r))  # a new due time each round
        barrier = threading.Barrier(threads)
        errors = []

        def tick(barrier=barrier, errors=errors):
            try:
                barrier.wait()
                sauron.tick()
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                close_old_connections()
                connection.close()

        workers = [threading.Thread(target=tick) for _ in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(60)
        assert not errors
    for i in range(3):
        runs = ScheduleRun.objects.filter(schedule__name=f"race{i}")
        assert runs.count() == len(set(runs.values_list("due_at", flat=True))) == rounds
        assert Job.objects.filter(origin_ref=f"race{i}").count() == rounds
    assert "already ran" not in caplog.text  # the claim turned the others away, not the unique index


def test_it_skips_runs_missed_while_no_worker_was_up_and_records_them():
    schedules.add("hourly", task="echo h", interval="1h")
    now = timezone.now()
    due = make_due("hourly", ago=timedelta(hours=5, minutes=30))
    assert sauron.tick() == 0
    assert ScheduleRun.objects.count() == 0 and Job.objects.count() == 0
    miss = ScheduleMiss.objects.get()
    assert (miss.count, miss.policy, miss.first_at) == (6, "skip", due)
    assert miss.reason == "skipped: no worker was running (--missed skip)" and miss.run is None
    assert miss.last_at == due + timedelta(hours=5)
    s = Schedule.objects.get(name="hourly")
    assert s.next_run_at > now
    assert schedules.as_dict(s)["last_missed"]["count"] == 6


def test_it_runs_once_for_missed_runs_with_the_run_once_policy():
    schedules.add("catchup", task="echo c", interval="15m", missed="run_once")
    due = make_due("catchup", ago=timedelta(hours=1, minutes=7, seconds=30))
    assert sauron.tick() == 1
    run = ScheduleRun.objects.get()
    miss = ScheduleMiss.objects.get()
    assert run.trigger == "missed" and run.due_at == due + timedelta(hours=1)
    assert miss.count == 5 and miss.run_id == run.id
    assert miss.reason == "no worker was running: ran once on start (--missed run_once)"
    assert schedules.as_dict(Schedule.objects.get(name="catchup"))["last_missed"]["run_job_id"] == run.job_id
    assert sauron.tick() == 0


def test_it_runs_late_due_times_once_when_a_worker_was_up():
    """A busy cluster ticks late; its due times are not "missed", they run once, and the rest say why."""
    worker_up(hours=3)
    schedules.add("busy", task="echo b", interval="10m")
    due = make_due("busy", ago=timedelta(hours=1))
    assert sauron.tick() == 1
    run = ScheduleRun.objects.get()
    assert (run.trigger, run.due_at) == ("schedule", due + timedelta(hours=1))  # the one still within GRACE
    miss = ScheduleMiss.objects.get()
    assert (miss.count, miss.first_at, miss.last_at, miss.run_id) == (6, due, due + timedelta(minutes=50), run.id)
    assert miss.reason == ScheduleMiss.FOLDED and miss.reason.startswith("folded: ")


def test_it_enables_disables_edits_and_runs_now():
    schedules.add("e", task="echo e", cron="0 3 * * *", tz="Europe/Berlin")
    off = schedules.disable("e")
    assert not off.enabled and off.next_run_at is None and schedules.as_dict(off)["next_runs"] == []
    Schedule.objects.filter(name="e").update(next_run_at=timezone.now() - timedelta(minutes=1))  # stale value
    Schedule.objects.filter(name="e").update(next_run_at=None)
    assert sauron.tick() == 0
    job = schedules.run_now("e")  # works while disabled
    assert job.origin == "schedule" and ScheduleRun.objects.get().trigger == "manual"
    on = schedules.enable("e")
    assert on.enabled and on.next_run_at > timezone.now()
    edited = schedules.edit("e", interval="2h")
    assert edited.cron == "" and edited.interval == 7200
    with pytest.raises(ValueError, match="invalid cron"):
        schedules.edit("e", cron="nope nope nope nope nope")
    assert Schedule.objects.get(name="e").interval == 7200  # nothing half-stored
    kept = Schedule.objects.get(name="e").next_run_at
    schedules.edit("e", task="echo changed")
    assert Schedule.objects.get(name="e").next_run_at == kept  # only timing changes move the next run
    with pytest.raises(LookupError):
        schedules.run_now("missing")
    assert schedules.remove("e") and not schedules.remove("e")
    assert Job.objects.filter(origin_ref="e").exists()  # history jobs stay


def test_it_records_a_run_it_could_not_spawn_and_lists_failures():
    schedules.add("broken", task="exit 3", interval="1h")
    schedules.add("gone", task="echo g", interval="1h")
    Schedule.objects.filter(name="gone").update(backend="removed-backend")
    make_due("broken")
    make_due("gone")
    sauron.tick()
    failed_job = ScheduleRun.objects.get(schedule__name="broken").job
    assert run_job(failed_job.id) == Job.FAILED
    report = schedules.failures()
    assert report["count"] == 2
    by_name = {r["schedule"]: r for r in report["runs"]}
    assert by_name["broken"]["status"] == "failed" and by_name["broken"]["job_id"] == failed_job.id
    assert by_name["gone"]["status"] == "error" and "unknown backend" in by_name["gone"]["error"]
    assert Schedule.objects.get(name="gone").next_run_at > timezone.now()  # a bad run does not stick


def test_it_registers_one_django_q_schedule_for_the_tick():
    from django_q.models import Schedule as QSchedule

    sauron.ensure_tick()
    sauron.ensure_tick()
    row = QSchedule.objects.get(name=sauron.TICK_NAME)
    assert (row.func, row.schedule_type, row.minutes) == ("commis.sauron.tick", QSchedule.MINUTES, 1)
    QSchedule.objects.create(name=sauron.TICK_NAME, func="x.y", schedule_type=QSchedule.HOURLY)
    sauron.ensure_tick()
    assert QSchedule.objects.filter(name=sauron.TICK_NAME).count() == 1
