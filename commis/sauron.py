"""Sauron's firing loop: one django-q2 schedule runs :func:`tick` every minute.

A tick fires every enabled schedule whose ``next_run_at`` has come. Each due time is
claimed with a compare-and-set UPDATE (``WHERE next_run_at = <the due time read>``)
in the same transaction that spawns the job, so however many clusters tick at once,
and across restarts, a due time runs once (a unique (schedule, due_at) run row backs
this up). Portable: no SELECT ... FOR UPDATE, works the same on SQLite and Postgres.

Every due time ends as exactly one run or one line of a missed-run record with its
reason (runs with trigger "schedule" + the counts of the records = the due times):

- younger than GRACE: its own run, so two due times pending at one tick (a tick that
  drifted past a minute boundary) both run; due times are computed from the previous
  due time, never from the clock, so drift cannot skip one;
- older, and a worker cluster was up (by the heartbeat rows), so it is only late
  because every slot was busy: late due times run once, as the first run of this tick
  (or the last of them runs); the others are recorded as folded into that run;
- older, and no worker cluster was up (Zerg was down): recorded, and by the schedule's
  policy skipped or run once (one catch-up run, or this tick's run if it has one).

While the day's or the month's spend is over its budget (``zerg_site.budget``), nothing is
started: the due times that would have run are recorded with reason ``budget: ...`` (and the
figures) instead, so the count above still holds.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, connections, transaction
from django.utils import timezone
from django_q.models import Schedule as QSchedule

from commis import schedules
from commis.models import Schedule, ScheduleMiss, ScheduleRun
from zerg_site import budget
from zerg_site.maintenance import schedules_locked
from zerg_site.models import ProcessHeartbeat

log = logging.getLogger("zerg.commis")

TICK_NAME = "zerg-sauron-tick"
TICK_FUNC = "commis.sauron.tick"
GRACE = timedelta(minutes=2)
WALK = 20_000  # due times looked at per claim (croniter: about a second; two weeks of a minutely cron)


def tick(now: datetime | None = None) -> int:
    """The django-q2 task: fire every due schedule; the number of runs started."""
    now = now or timezone.now()
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
    slack = timedelta(seconds=ProcessHeartbeat.STALE_AFTER)
    rows = ProcessHeartbeat.objects.filter(kind=ProcessHeartbeat.WORKER, last_seen__gte=since - slack)
    return [(start, seen + slack) for start, seen in rows.values_list("started_at", "last_seen")]


@dataclass
class Span:
    """Due times counted without keeping them: how many, the first, the last two."""

    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    before_last: datetime | None = None

    def add(self, t: datetime) -> None:
        self.count += 1
        self.first = self.first or t
        self.before_last, self.last = self.last, t

    def add_steps(self, start: datetime, step: timedelta, n: int) -> None:
        """``n`` due times ``start``, ``start + step``, ... (an interval schedule's outage, counted at once)."""
        if n > 0:
            self.count += n
            self.first = self.first or start
            self.before_last = start + step * (n - 2) if n > 1 else self.last
            self.last = start + step * (n - 1)

    def without_last(self) -> Span:
        return Span(self.count - 1, self.first if self.count > 1 else None, self.before_last)


@dataclass
class Pending:
    """A schedule's due times up to ``now``, sorted by what happens to them; ``nxt`` is the first after."""

    fresh: list[datetime] = field(default_factory=list)  # younger than GRACE: each runs
    late: Span = field(default_factory=Span)  # older, a worker was up (busy): run once
    missed: Span = field(default_factory=Span)  # older, no worker was up: the schedule's policy
    nxt: datetime | None = None
    more: bool = False  # stopped after WALK due times: ``nxt`` is still due


def sort_pending(s: Schedule, due: datetime, now: datetime) -> Pending:
    """Walk the due times from ``due`` (the one stored, so a drifting tick drops none) to ``now``.

    At most WALK of them: a cron schedule's year-long outage is walked in stretches, each
    claimed and recorded on its own, so no transaction holds a year of due times.
    """
    out = Pending()
    windows = _worker_windows(due) if due < now - GRACE else []
    times = schedules.pending(s, due)
    t = next(times)
    if s.interval and not windows and t < now - GRACE:  # a long outage of a short interval: count, not walk
        step = timedelta(seconds=s.interval)
        n = (now - GRACE - t) // step + 1  # due times before now - GRACE: t + (n - 1) * step < now - GRACE
        if t + step * (n - 1) >= now - GRACE:
            n -= 1
        out.missed.add_steps(t, step, n)
        times = schedules.pending(s, t + step * n)
        t = next(times)
    walked = 0
    while t <= now:
        if walked == WALK:
            out.more = True
            break
        walked += 1
        if t >= now - GRACE:
            out.fresh.append(t)
        elif any(start <= t <= end for start, end in windows):
            out.late.add(t)
        else:
            out.missed.add(t)
        t = next(times)
    out.nxt = t
    return out


def _run(s: Schedule, trigger: str, due_at: datetime, started: list[ScheduleRun]) -> ScheduleRun | None:
    """Spawn one run in a savepoint; the run already there if that due time has one (never twice)."""
    try:
        with transaction.atomic():
            run = schedules.spawn_run(s, trigger, due_at)
    except IntegrityError:
        log.warning("sauron: schedule %s already ran for %s", s.name, due_at)
        return ScheduleRun.objects.filter(schedule=s, due_at=due_at).first()
    started.append(run)
    return run


def _record(s: Schedule, span: Span, reason: str, run: ScheduleRun | None, now: datetime) -> None:
    if span.count:
        ScheduleMiss.objects.create(
            schedule=s,
            count=span.count,
            first_at=span.first,
            last_at=span.last,
            policy=s.missed,
            reason=reason,
            run=run,
            noticed_at=now,
        )
        log.warning(
            "sauron: schedule %s: %d due time(s) from %s to %s not run on their own: %s",
            s.name,
            span.count,
            span.first,
            span.last,
            reason,
        )


def fire_due(schedule_id: int, now: datetime | None = None) -> int:
    """Claim the schedule's pending due times and run or record each; the number of runs started.

    Every due time from the stored ``next_run_at`` up to ``now`` ends as exactly one of:
    its own run (younger than GRACE; or the last of the late ones when none is younger),
    or a ScheduleMiss record saying why not (folded into a run of this tick, skipped, or
    run once as the catch-up run). Each stretch of at most WALK due times is claimed in
    the transaction that writes its rows, so a restart or a second cluster sees all of a
    stretch or none of it, and 0 runs when another tick claimed them first.
    """
    now = now or timezone.now()
    started = 0
    while True:
        s = Schedule.objects.filter(id=schedule_id, enabled=True).first()
        if s is None or s.next_run_at is None or s.next_run_at > now:
            return started
        runs, more = _fire_stretch(s, now)
        started += runs
        if not more:
            return started


def _fire_stretch(s: Schedule, now: datetime) -> tuple[int, bool]:
    """One claim: (runs started, whether due times up to ``now`` are left for the next stretch)."""
    due = s.next_run_at
    p = sort_pending(s, due, now)
    started: list[ScheduleRun] = []
    would_run = p.fresh or p.late.count or (p.missed.count and s.missed != Schedule.SKIP)
    spend = budget.status() if would_run else None
    with transaction.atomic():
        claimed = Schedule.objects.filter(id=s.id, enabled=True, next_run_at=due).update(next_run_at=p.nxt)
        if claimed != 1:
            return 0, False
        if spend is not None and spend.over:
            _skip_over_budget(s, p, spend, now)
            return 0, p.more
        late, runs = p.late, []
        if late.count and not p.fresh and not p.more:  # late due times run once: the last of them
            runs.append(_run(s, ScheduleRun.SCHEDULED, late.last, started))
            late = late.without_last()
        runs += [_run(s, ScheduleRun.SCHEDULED, t, started) for t in p.fresh]
        first = next((r for r in runs if r is not None), None)
        records = [(late, ScheduleMiss.FOLDED, first)]
        if s.missed == Schedule.SKIP:
            records.append((p.missed, ScheduleMiss.SKIPPED, None))
        elif first is not None or p.more:  # a later stretch brings the one run
            records.append((p.missed, ScheduleMiss.MISSED_FOLDED, first))
        elif p.missed.count:
            catch_up = _run(s, ScheduleRun.CATCH_UP, p.missed.last, started)
            records.append((p.missed, ScheduleMiss.RAN_ONCE, catch_up))
        for span, reason, run in sorted(records, key=lambda r: r[0].first or now):
            _record(s, span, reason, run, now)
    return sum(1 for r in started if r.job_id), p.more


def _skip_over_budget(s: Schedule, p: Pending, spend: budget.Status, now: datetime) -> None:
    """The day's or month's spend is over budget: every due time that would run is recorded as not
    started, with the figures (missed ones of a skip policy keep their own reason)."""
    why = ScheduleMiss.BUDGET.format(why=spend.reason())[:200]
    fresh = Span()
    for t in p.fresh:
        fresh.add(t)
    records = [(p.late, why), (fresh, why), (p.missed, ScheduleMiss.SKIPPED if s.missed == Schedule.SKIP else why)]
    for span, reason in sorted(records, key=lambda r: r[0].first or now):
        _record(s, span, reason, None, now)
    skipped = p.late.count + fresh.count + (0 if s.missed == Schedule.SKIP else p.missed.count)
    budget.decided(
        "schedule_skipped", {**spend.as_dict(), "schedule": s.name, "due_times": skipped}, f"schedule:{s.id}"
    )


def ensure_tick() -> None:
    """Make sure the one django-q2 schedule that runs :func:`tick` every minute exists (idempotent)."""
    # save=False: a successful tick leaves no row (1440 a day would push real results out)
    fields = {
        "func": TICK_FUNC,
        "schedule_type": QSchedule.MINUTES,
        "minutes": 1,
        "repeats": -1,
        "kwargs": "{'q_options': {'save': False}}",
    }
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
        connections.close_all()  # the cluster forks next: never share a connection across fork()
