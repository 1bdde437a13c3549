"""Sauron's firing loop: one django-q2 schedule runs :func:`tick` every minute.

A tick fires every enabled schedule whose ``next_run_at`` has come. Each due time is
claimed with a compare-and-set UPDATE (``WHERE next_run_at = <the due time read>``)
in the same transaction that spawns the job, so however many clusters tick at once,
and across restarts, a due time runs once (a unique (schedule, due_at) run row backs
this up). Portable: no SELECT ... FOR UPDATE, works the same on SQLite and Postgres.

Missed runs: a due time older than GRACE at which no worker cluster was alive (by
the heartbeat rows) passed while Zerg was down. Such due times are recorded (count,
first, last) and, by the schedule's policy, skipped or run once. Due times that are
merely late (the workers were busy) still run, once.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from commis import schedules
from commis.models import Schedule, ScheduleMiss, ScheduleRun

log = logging.getLogger("zerg.commis")

TICK_NAME = "zerg-sauron-tick"
TICK_FUNC = "commis.sauron.tick"
GRACE = timedelta(minutes=2)


def tick() -> int:
    """The django-q2 task: fire every due schedule; the number of runs started."""
    now = timezone.now()
    fired = 0
    due = Schedule.objects.filter(enabled=True, next_run_at__lte=now).order_by("next_run_at")
    for schedule_id in list(due.values_list("id", flat=True)):
        try:
            fired += fire_due(schedule_id, now)
        except Exception:  # one broken schedule must not stop the others
            log.exception("sauron: schedule %s could not fire", schedule_id)
    return fired


def _worker_windows(since: datetime) -> list[tuple[datetime, datetime]]:
    """(started, last seen + staleness) of every worker cluster alive at some point since ``since``."""
    from zerg_site.models import ProcessHeartbeat

    slack = timedelta(seconds=ProcessHeartbeat.STALE_AFTER)
    rows = ProcessHeartbeat.objects.filter(kind=ProcessHeartbeat.WORKER, last_seen__gte=since - slack)
    return [(start, seen + slack) for start, seen in rows.values_list("started_at", "last_seen")]


def split_missed(times: list[datetime], now: datetime) -> tuple[list[datetime], list[datetime]]:
    """(due times to honour, due times missed while no worker cluster was up)."""
    windows = _worker_windows(times[0]) if times[0] < now - GRACE else []
    on_time, missed = [], []
    for t in times:
        up = t >= now - GRACE or any(start <= t <= end for start, end in windows)
        (on_time if up else missed).append(t)
    return on_time, missed


def fire_due(schedule_id: int, now: datetime | None = None) -> int:
    """Claim the schedule's current due time and start its run; 0 if another tick claimed it first."""
    now = now or timezone.now()
    s = Schedule.objects.filter(id=schedule_id, enabled=True).first()
    if s is None or s.next_run_at is None or s.next_run_at > now:
        return 0
    due = s.next_run_at
    times, nxt = schedules.due_times(s, due, now)
    on_time, missed = split_missed(times, now)
    with transaction.atomic():
        claimed = Schedule.objects.filter(id=s.id, enabled=True, next_run_at=due).update(next_run_at=nxt)
        if claimed != 1:
            return 0
        run = None
        try:
            with transaction.atomic():
                if on_time:
                    run = schedules.spawn_run(s, ScheduleRun.SCHEDULED, on_time[-1])
                elif s.missed == Schedule.RUN_ONCE:
                    run = schedules.spawn_run(s, ScheduleRun.CATCH_UP, missed[-1])
        except IntegrityError:  # that due time already has its run: never twice
            log.warning("sauron: schedule %s already ran for %s", s.name, (on_time or missed)[-1])
        if missed:
            ScheduleMiss.objects.create(
                schedule=s, count=len(missed), first_at=missed[0], last_at=missed[-1], policy=s.missed,
                run=run if run is not None and run.trigger == ScheduleRun.CATCH_UP else None,
            )
    if missed:
        log.warning("sauron: schedule %s missed %d run(s) from %s to %s (%s)", s.name, len(missed), missed[0],
                    missed[-1], s.missed)
    return 1 if run is not None and run.job_id else 0


def ensure_tick() -> None:
    """Make sure the one django-q2 schedule that runs :func:`tick` every minute exists (idempotent)."""
    from django_q.models import Schedule as QSchedule

    from zerg_site.maintenance import schedules_locked

    # save=False: a successful tick leaves no row (1440 a day would push real results out)
    fields = {"func": TICK_FUNC, "schedule_type": QSchedule.MINUTES, "minutes": 1, "repeats": -1,
              "kwargs": "{'q_options': {'save': False}}"}
    with schedules_locked():  # two clusters starting at the same moment must not both insert it
        rows = list(QSchedule.objects.filter(name=TICK_NAME).order_by("id"))
        if not rows:
            start = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
            QSchedule.objects.create(name=TICK_NAME, next_run=start, **fields)
            return
        first = rows[0]
        if any(getattr(first, k) != v for k, v in fields.items()):
            QSchedule.objects.filter(id=first.id).update(**fields)
        if len(rows) > 1:  # left by an older version, or created by hand
            QSchedule.objects.filter(name=TICK_NAME).exclude(id=first.id).delete()


def ensure_tick_safely() -> None:
    """For ``zerg worker`` at start: a database without the tables yet must not stop the cluster."""
    try:
        ensure_tick()
    except Exception as exc:
        print(f"zerg: could not register the schedule tick: {exc}", file=sys.stderr)
    finally:
        from django.db import connections

        connections.close_all()  # the cluster forks next: never share a connection across fork()
