"""Sauron never drops a due time without a word (issue 18, item 11).

Not an attack, but the same promise: what the owner scheduled either ran or left a
record saying why not. Every test drives ``fire_due``/``tick`` with a controlled clock
(``now``) against the real database; nothing asserts on the wall clock. The invariant
checked everywhere: runs with trigger "schedule" + the counts of the missed-run records
= the schedule's due times, and no due time has two runs.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from commis import sauron, schedules
from commis.models import Job, Schedule, ScheduleMiss, ScheduleRun
from tests.commis_helpers import query
from tests.procs import REPO, run_zerg

pytestmark = pytest.mark.django_db(transaction=True)

BASE = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # a Monday noon, the first due time of every schedule here
MINUTE = timedelta(minutes=1)


def minutely(name: str, *, cron: bool = False, missed: str = "skip") -> Schedule:
    """A schedule due every minute from BASE (by interval, or by cron)."""
    s = schedules.add(
        name, task="true", cron="* * * * *" if cron else None, interval=None if cron else "1m", missed=missed
    )
    Schedule.objects.filter(id=s.id).update(next_run_at=BASE)
    return Schedule.objects.get(id=s.id)


def worker_was_up(start: datetime, last_seen: datetime, name: str = "worker:h:1:x") -> None:
    """A worker cluster's heartbeat row: up from ``start`` until it last beat at ``last_seen``."""
    from zerg_site.models import ProcessHeartbeat

    ProcessHeartbeat.objects.create(kind="worker", name=name, host="h", pid=1, started_at=start, last_seen=last_seen)


def accounted(s: Schedule, until: datetime) -> tuple[int, int]:
    """(own runs, recorded due times) of a minutely schedule, checked against its due times up to ``until``."""
    due = int((until - BASE) / MINUTE) + 1
    ran = list(ScheduleRun.objects.filter(schedule=s, trigger=ScheduleRun.SCHEDULED).values_list("due_at", flat=True))
    assert len(set(ran)) == len(ran), "a due time ran twice"
    assert all(BASE <= t <= until and (t - BASE) % MINUTE == timedelta(0) for t in ran)
    misses = list(ScheduleMiss.objects.filter(schedule=s))
    assert all(m.reason and m.count >= 1 and m.first_at <= m.last_at for m in misses)
    recorded = sum(m.count for m in misses)
    assert len(ran) + recorded == due, f"{due} due times: {len(ran)} ran, {recorded} recorded"
    assert Schedule.objects.get(id=s.id).next_run_at == BASE + MINUTE * due  # the first one not yet due
    return len(ran), recorded


def test_it_runs_both_due_times_a_drifted_tick_finds_pending():
    """A tick at :00.9 then one at :02.1: the :01 due time must run, not vanish into :02's run."""
    s = minutely("drift")
    assert sauron.fire_due(s.id, BASE + timedelta(seconds=0.9)) == 1
    assert sauron.fire_due(s.id, BASE + timedelta(minutes=2, seconds=0.1)) == 2
    assert sauron.fire_due(s.id, BASE + timedelta(minutes=2, seconds=0.2)) == 0  # a second cluster: nothing left
    runs = ScheduleRun.objects.filter(schedule=s).order_by("due_at")
    assert [r.due_at for r in runs] == [BASE, BASE + MINUTE, BASE + 2 * MINUTE]
    assert all(r.trigger == "schedule" and r.job.status == Job.QUEUED for r in runs)
    assert ScheduleMiss.objects.count() == 0
    assert accounted(s, BASE + 2 * MINUTE) == (3, 0)


@pytest.mark.parametrize("cron", [False, True], ids=["interval", "cron"])
def test_it_runs_every_due_time_of_a_minutely_schedule_whatever_the_tick_jitter(cron):
    """200 ticks 20 to 100 s apart: every due time runs exactly once, none is folded or lost.

    A tick that lands just after :00 and the next just after :02 (django-q2's minutely
    schedule drifting, a slow tick) find two due times pending; neither is older than GRACE.
    """
    s = minutely("jitter", cron=cron)
    rng = random.Random(11)
    now = BASE + timedelta(seconds=0.9)
    seen = {0: 0, 1: 0, 2: 0}
    for _ in range(200):
        pending = int((now - BASE) / MINUTE) + 1 - ScheduleRun.objects.filter(schedule=s).count()
        seen[pending] += 1
        assert sauron.fire_due(s.id, now) == pending
        assert sauron.fire_due(s.id, now) == 0  # the same tick on another cluster
        last, now = now, now + timedelta(seconds=rng.uniform(20, 100))
    assert seen[0] > 10 and seen[2] > 10  # ticks with nothing due, and with two due times, both happened
    now = last
    assert accounted(s, now) == (int((now - BASE) / MINUTE) + 1, 0)
    assert Job.objects.filter(origin_ref="jitter").count() == ScheduleRun.objects.count()


def test_it_records_late_due_times_folded_into_one_run_with_the_reason():
    """Every slot busy for 10 minutes (a worker up, no tick ran): the late ones run once, the rest say why."""
    s = minutely("busy")
    worker_was_up(BASE - timedelta(hours=1), BASE + 20 * MINUTE)
    now = BASE + 10 * MINUTE + timedelta(seconds=30)
    assert sauron.fire_due(s.id, now) == 2  # 10:00 and 10:30 past BASE+8:30 (GRACE): each its own run
    runs = {r.due_at: r for r in ScheduleRun.objects.filter(schedule=s)}
    assert sorted(runs) == [BASE + 9 * MINUTE, BASE + 10 * MINUTE]
    miss = ScheduleMiss.objects.get(schedule=s)
    assert (miss.count, miss.first_at, miss.last_at) == (9, BASE, BASE + 8 * MINUTE)
    assert miss.run == runs[BASE + 9 * MINUTE]  # folded into the first run of that tick
    assert miss.reason.startswith("folded: late while every worker was busy")
    assert accounted(s, now) == (2, 9)


def test_it_records_due_times_missed_while_no_worker_ran_by_policy():
    """Zerg down for an hour: skip records them; run_once folds them into the run this tick starts anyway."""
    skip, once = minutely("skip"), minutely("once", missed="run_once")
    now = BASE + timedelta(hours=1, seconds=5)  # no heartbeat rows: no worker was up
    assert sauron.tick(now) == 4  # each schedule's 0:59 and 1:00 due times are within GRACE: they run
    skipped = ScheduleMiss.objects.get(schedule=skip)
    assert (skipped.count, skipped.run, skipped.reason) == (59, None, ScheduleMiss.SKIPPED)
    folded = ScheduleMiss.objects.get(schedule=once)
    assert folded.count == 59 and folded.run.due_at == BASE + 59 * MINUTE
    assert folded.reason == ScheduleMiss.MISSED_FOLDED
    assert accounted(skip, now) == accounted(once, now) == (2, 59)


def test_it_runs_once_for_a_run_once_schedule_with_nothing_due_now():
    """Down for an hour with an hourly run_once schedule: one catch-up run, and the record counts its due time."""
    s = schedules.add("hourly", task="true", interval="1h", missed="run_once")
    Schedule.objects.filter(id=s.id).update(next_run_at=BASE)
    now = BASE + timedelta(hours=3, minutes=30)
    assert sauron.fire_due(s.id, now) == 1
    run = ScheduleRun.objects.get()
    miss = ScheduleMiss.objects.get()
    assert (run.trigger, run.due_at) == ("missed", BASE + timedelta(hours=3))
    assert (miss.count, miss.run, miss.reason) == (4, run, ScheduleMiss.RAN_ONCE)


def test_it_counts_a_years_outage_of_a_minutely_interval_without_walking_it():
    s = minutely("year")
    now = BASE + timedelta(days=365, seconds=30)
    assert sauron.fire_due(s.id, now) == 2  # the two due times within GRACE run
    miss = ScheduleMiss.objects.get()
    assert (miss.count, miss.first_at, miss.reason) == (365 * 1440 - 1, BASE, ScheduleMiss.SKIPPED)
    assert miss.last_at == BASE + timedelta(days=365) - 2 * MINUTE
    assert accounted(s, now) == (2, 365 * 1440 - 1)


def test_it_claims_a_long_outage_of_a_cron_schedule_in_stretches_and_runs_once(monkeypatch):
    """Walked 50 due times per claim: every stretch is recorded, and the run_once schedule still runs once."""
    monkeypatch.setattr(sauron, "WALK", 50)
    s = minutely("long", cron=True, missed="run_once")
    worker_was_up(BASE + 100 * MINUTE, BASE + 130 * MINUTE)  # up (and busy) for half an hour in between
    now = BASE + 200 * MINUTE + timedelta(seconds=30)
    assert sauron.fire_due(s.id, now) == 2  # 199 and 200 are within GRACE
    assert sorted(ScheduleRun.objects.values_list("due_at", flat=True)) == [BASE + 199 * MINUTE, BASE + 200 * MINUTE]
    misses = [(m.count, m.reason) for m in ScheduleMiss.objects.order_by("id")]
    assert misses == [
        (50, ScheduleMiss.MISSED_FOLDED),
        (50, ScheduleMiss.MISSED_FOLDED),
        (31, ScheduleMiss.FOLDED),
        (19, ScheduleMiss.MISSED_FOLDED),
        (49, ScheduleMiss.MISSED_FOLDED),
    ]
    assert accounted(s, now) == (2, 199)
    assert sauron.fire_due(s.id, now) == 0


def test_it_shows_each_record_and_its_reason_in_the_api(token_client):
    s = minutely("shown")
    worker_was_up(BASE - timedelta(hours=1), BASE + MINUTE)
    assert sauron.fire_due(s.id, BASE + 5 * MINUTE + timedelta(seconds=1)) == 2  # late 0-1, missed 2-3, run 4-5
    response = token_client.get("/api/schedules/shown")
    assert response.status_code == 200
    body = response.json()
    assert [(m["count"], m["reason"]) for m in body["misses"]] == [
        (2, ScheduleMiss.SKIPPED),
        (2, ScheduleMiss.FOLDED),
    ]  # newest first
    assert body["misses"][1]["run_due_at"] == (BASE + 4 * MINUTE).isoformat()
    assert body["misses"][0]["run_due_at"] is None
    assert body["last_missed"]["reason"] == ScheduleMiss.SKIPPED
    assert [r["due_at"] for r in body["runs"]] == [(BASE + 5 * MINUTE).isoformat(), (BASE + 4 * MINUTE).isoformat()]
    listed = token_client.get("/api/schedules").json()["schedules"]
    assert listed[0]["last_missed"]["reason"] == ScheduleMiss.SKIPPED


def test_it_gives_records_written_before_the_reason_field_their_reason():
    """Migration 0003 on existing rows: each old record says why, from its policy and its run."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    def migrate(target):
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(target)
        return executor.loader.project_state(target).apps

    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        apps = migrate([("commis", "0002_schedules")])
        old_schedule, old_run, old_miss = (
            apps.get_model("commis", m) for m in ("Schedule", "ScheduleRun", "ScheduleMiss")
        )
        s = old_schedule.objects.create(name="old", interval=60, task="true", missed="run_once")
        run = old_run.objects.create(schedule=s, due_at=BASE, trigger="missed")
        for policy, linked in (("skip", None), ("run_once", run), ("run_once", None)):
            old_miss.objects.create(
                schedule=s, count=2, first_at=BASE, last_at=BASE + MINUTE, policy=policy, run=linked
            )
    finally:
        migrate(latest)
    assert [m.reason for m in ScheduleMiss.objects.order_by("id")] == [
        ScheduleMiss.SKIPPED,
        ScheduleMiss.RAN_ONCE,
        ScheduleMiss.MISSED_FOLDED,
    ]


# --- across restarts: each phase is its own process, with only the database in common

DRIVER = """
import json, os, sys
from datetime import datetime, timedelta
from zerg_site.cli.common import setup_django
setup_django(migrate=False)
from commis import sauron
from commis.models import Schedule
from zerg_site.models import ProcessHeartbeat
plan = json.loads(sys.argv[1])
if plan.get("start"):
    Schedule.objects.update(next_run_at=datetime.fromisoformat(plan["start"]))
for i, (start, seen) in enumerate(plan["workers"]):
    ProcessHeartbeat.objects.create(kind="worker", name=f"worker:{plan['phase']}:{i}", host="h", pid=1,
                                    started_at=datetime.fromisoformat(start), last_seen=datetime.fromisoformat(seen))
state = {"crash": False}
record = sauron._record
def crash(*args, **kwargs):  # killed inside the claiming transaction, after its runs were written
    if state["crash"]:
        os._exit(9)
    return record(*args, **kwargs)
sauron._record = crash
for i, now in enumerate(plan["ticks"]):
    state["crash"] = i == plan.get("crash_at")
    sauron.tick(datetime.fromisoformat(now))
"""


def db_time(env: dict, value: datetime):
    """A UTC datetime as the database column takes it (naive text on SQLite, aware on Postgres)."""
    return value if env.get("DATABASE_URL") else value.replace(tzinfo=None).isoformat(" ")


def drive(env: dict, **plan) -> int:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(plan)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 9), done.stderr
    return done.returncode


@pytest.mark.slow
def test_it_accounts_every_due_time_across_crashes_restarts_and_an_outage(zerg_env):
    """Busy stretches, a kill -9 inside the claim, and a down hour, over three processes: nothing is lost."""
    for name, missed in (("restart", "skip"), ("restart-once", "run_once")):
        done = run_zerg(["schedule", "add", name, "--interval", "1m", "--missed", missed, "--", "true"], zerg_env)
        assert done.returncode == 0, done.stderr
    rng = random.Random(18)

    def ticks(first: int, last: int, stalled: range = range(0)) -> list[str]:
        return [
            (BASE + k * MINUTE + timedelta(seconds=rng.uniform(0, 59.999))).isoformat()
            for k in range(first, last)
            if k not in stalled
        ]

    up = [(BASE - timedelta(hours=1)).isoformat(), (BASE + 60 * MINUTE).isoformat()]
    phase1 = ticks(0, 41, stalled=range(20, 26))  # six minutes with every slot busy: no tick ran
    assert drive(zerg_env, phase=1, start=BASE.isoformat(), workers=[up], ticks=phase1, crash_at=len(phase1) - 1) == 9
    assert (
        query(
            zerg_env,
            "SELECT COUNT(*) FROM commis_schedulerun r JOIN commis_schedule s ON s.id = r.schedule_id"
            " WHERE r.due_at >= ?",
            (db_time(zerg_env, BASE + 40 * MINUTE),),
        )[0][0]
        == 0
    )
    assert drive(zerg_env, phase=2, workers=[], ticks=ticks(40, 60)) == 0  # restarted: picks up at the same due time
    back = [(BASE + 120 * MINUTE).isoformat(), (BASE + 200 * MINUTE).isoformat()]
    phase3 = ticks(120, 200)  # down from minute 60 to 120: no worker, no tick
    assert drive(zerg_env, phase=3, workers=[back], ticks=phase3) == 0
    until = datetime.fromisoformat(phase3[-1])
    due = int((until - BASE) / MINUTE) + 1

    for name in ("restart", "restart-once"):
        ran = query(
            zerg_env,
            "SELECT r.due_at FROM commis_schedulerun r JOIN commis_schedule s ON s.id = r.schedule_id"
            " WHERE s.name = ? AND r.trigger = 'schedule'",
            (name,),
        )
        assert len({r[0] for r in ran}) == len(ran)
        misses = query(
            zerg_env,
            "SELECT m.count, m.reason FROM commis_schedulemiss m JOIN commis_schedule s"
            " ON s.id = m.schedule_id WHERE s.name = ? ORDER BY m.id",
            (name,),
        )
        assert len(ran) + sum(m[0] for m in misses) == due, (len(ran), misses, due)
        reasons = [m[1] for m in misses]
        assert reasons[0] == ScheduleMiss.FOLDED  # the busy stretch
        assert reasons[-1] == (ScheduleMiss.SKIPPED if name == "restart" else ScheduleMiss.MISSED_FOLDED)
        jobs = query(zerg_env, "SELECT COUNT(*) FROM commis_job WHERE origin_ref = ?", (name,))[0][0]
        assert jobs == len(ran)  # the crashed transaction left no job behind

    shown = run_zerg(["schedule", "show", "restart"], zerg_env)
    assert shown.returncode == 0, shown.stderr
    assert "skipped: no worker was running (--missed skip)" in shown.stdout
    assert "folded: late while every worker was busy" in shown.stdout
    detail = json.loads(run_zerg(["schedule", "show", "restart", "--json"], zerg_env).stdout)
    assert {m["reason"] for m in detail["misses"]} == {ScheduleMiss.FOLDED, ScheduleMiss.SKIPPED}
