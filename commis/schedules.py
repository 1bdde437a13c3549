"""Sauron's service functions: add, edit, enable/disable, remove, list and run schedules.

The CLI, the API, the admin and Oikos' tools all go through these, so validation
(cron, time zone, interval, backend) lives here once and fails with a ValueError whose
message can be shown as it is. Firing on time is commis/sauron.py's job.
"""

from __future__ import annotations

import itertools
import re
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from croniter import croniter
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from commis.backends import BACKENDS
from commis.models import Job, Schedule, ScheduleMiss, ScheduleRun
from zerg_site.gitcheck import check_repo_url

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
CRON_ALIASES = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
MIN_INTERVAL = 60  # the tick runs once a minute; a shorter interval could not be kept
EDITABLE = ("cron", "tz", "interval", "task", "backend", "repo_url", "timeout", "missed", "enabled", "budget_usd")
FAILED = (Job.FAILED, Job.TIMED_OUT, Job.OVER_BUDGET)


# --- validation


def parse_interval(value) -> int | None:
    """Seconds from 600, "600", "90s", "10m", "1h30m" or "2d"; None for empty."""
    if value in (None, "", 0):
        return None
    if isinstance(value, bool):
        raise ValueError(f"invalid interval {value!r}")
    if isinstance(value, (int, float)):
        seconds = int(value)
    else:
        text = str(value).strip().lower()
        if text.isdigit():
            seconds = int(text)
        else:
            parts = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
            if not text or not parts:
                raise ValueError(f"invalid interval {value!r}: use seconds or a duration like 90s, 10m, 1h30m, 2d")
            d, h, m, s = (int(x or 0) for x in parts.groups())
            seconds = ((d * 24 + h) * 60 + m) * 60 + s
    if seconds < MIN_INTERVAL:
        raise ValueError(f"interval {value!r} is too short: the minimum is {MIN_INTERVAL} seconds")
    return seconds


def check_tz(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        pass
    hint = next((z for z in zoneinfo.available_timezones() if z.lower() == str(name).lower()), None)
    suffix = f"; did you mean {hint}?" if hint else " (use an IANA name such as Europe/Berlin or UTC)"
    raise ValueError(f"unknown time zone {name!r}{suffix}")


def check_cron(expr: str) -> str:
    expr = " ".join(str(expr).split())
    if expr.startswith("@"):
        if expr.lower() not in CRON_ALIASES:
            raise ValueError(f"invalid cron expression {expr!r}: known aliases are {', '.join(sorted(CRON_ALIASES))}")
        return expr.lower()
    if len(expr.split()) != 5:
        raise ValueError(f"invalid cron expression {expr!r}: expected 5 fields (minute hour day month weekday)")
    try:
        croniter(expr)
    except Exception as exc:  # croniter's errors are CroniterError subclasses, or ValueError/KeyError
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None
    return expr


def _validate(fields: dict) -> dict:
    """Normalise and check a schedule's fields (all of them); raise ValueError with one clear message."""
    out = dict(fields)
    out["cron"] = (out.get("cron") or "").strip()
    out["interval"] = parse_interval(out.get("interval"))
    if bool(out["cron"]) == bool(out["interval"]):
        raise ValueError("give either a cron expression or an interval (exactly one)")
    out["tz"] = (out.get("tz") or "UTC").strip()
    check_tz(out["tz"])
    if out["cron"]:
        out["cron"] = check_cron(out["cron"])
    if not (out.get("task") or "").strip():
        raise ValueError("the task is empty")
    if out.get("backend") not in BACKENDS:
        raise ValueError(f"unknown backend {out.get('backend')!r} (known: {', '.join(BACKENDS)})")
    if out.get("missed") not in Schedule.Missed.values:
        raise ValueError(f"unknown missed-run policy {out.get('missed')!r} (use skip or run_once)")
    timeout = out.get("timeout")
    if timeout is not None and (not isinstance(timeout, int) or timeout < 1):
        raise ValueError("timeout must be a whole number of seconds, at least 1")
    out["budget_usd"] = check_budget(out.get("budget_usd"))

    out["repo_url"] = check_repo_url(out.get("repo_url") or "")  # never option-like: git clone would run it
    out["enabled"] = bool(out.get("enabled", True))
    return out


def check_budget(value) -> float | None:
    """A run's or job's budget: None (no budget) or a positive amount in USD; ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < 1e9):
        raise ValueError(f"budget_usd must be an amount above 0 in US dollars, such as 2.50, got {value!r}")
    return float(value)


# --- due times


def _cron_fixed_hours(expr: str) -> bool:
    """Cron fires a job with fixed hours once on a DST fall-back night, wildcard hours every hour."""
    if expr.startswith("@"):
        return expr != "@hourly"
    hour = expr.split()[1]
    return "*" not in hour


def iter_following(s: Schedule, after: datetime) -> Iterator[datetime]:
    """Every due time strictly after ``after`` (UTC), in order, by cron in the schedule's zone or by interval.

    Each due time is computed from the one before it, never from the clock, so a tick
    that runs late or early cannot move or drop a due time.
    """
    if s.interval:
        step = timedelta(seconds=s.interval)
        t = after
        while True:
            t += step
            yield t

    zone = check_tz(s.tz)
    it = croniter(s.cron, after.astimezone(zone))
    fixed = _cron_fixed_hours(s.cron)
    prev_wall = after.astimezone(zone).replace(tzinfo=None)
    while True:
        t = it.get_next(datetime)
        wall = t.replace(tzinfo=None)
        if fixed and wall == prev_wall:  # the repeated hour of a fall-back night: once only
            continue
        prev_wall = wall
        yield t.astimezone(UTC)


def following(s: Schedule, after: datetime, count: int = 1) -> list[datetime]:
    """The ``count`` due times strictly after ``after`` (UTC)."""
    return list(itertools.islice(iter_following(s, after), count))


def first_after(s: Schedule, now: datetime | None = None) -> datetime:
    return following(s, (now or timezone.now()).replace(microsecond=0))[0]


def pending(s: Schedule, due: datetime) -> Iterator[datetime]:
    """``due`` and every due time after it, in order (the caller stops at its clock)."""
    yield due
    yield from iter_following(s, due)


# --- reading


def _get(name: str) -> Schedule:
    try:
        return Schedule.objects.get(name=name)
    except Schedule.DoesNotExist:
        raise LookupError(f"no schedule named {name!r}") from None


def as_dict(s: Schedule, next_count: int = 5) -> dict:
    def iso(value):
        return value.isoformat() if value else None

    next_runs = []
    if s.enabled and s.next_run_at:
        next_runs = [s.next_run_at] + (following(s, s.next_run_at, next_count - 1) if next_count > 1 else [])
    last = ScheduleRun.objects.filter(schedule=s).select_related("job").first()
    miss = ScheduleMiss.objects.filter(schedule=s).select_related("run").first()
    return {
        "id": s.id,
        "name": s.name,
        "cron": s.cron,
        "tz": s.tz,
        "interval": s.interval,
        "task": s.task,
        "backend": s.backend,
        "repo_url": s.repo_url,
        "timeout": s.timeout,
        "budget_usd": s.budget_usd,
        "enabled": s.enabled,
        "missed": s.missed,
        "next_run_at": iso(s.next_run_at),
        "next_runs": [iso(t) for t in next_runs],
        "last_run": last.as_dict() if last else None,
        "last_missed": miss.as_dict() if miss else None,
        "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at),
    }


def list_schedules() -> list[dict]:
    return [as_dict(s) for s in Schedule.objects.all()]


def detail(name: str, runs: int = 20) -> dict:
    """as_dict plus the recent runs and missed-run records."""
    s = _get(name)
    return {
        **as_dict(s),
        "runs": [r.as_dict() for r in ScheduleRun.objects.filter(schedule=s).select_related("job")[:runs]],
        "misses": [m.as_dict() for m in ScheduleMiss.objects.filter(schedule=s).select_related("run")[:runs]],
    }


def preview(cron: str = "", tz: str = "UTC", interval=None, count: int = 5) -> list[str]:
    """The next due times of a schedule not saved yet (the add form shows them; errors as ValueError)."""
    fields = _validate(
        {"cron": cron, "tz": tz, "interval": interval, "task": "-", "backend": "shell", "missed": Schedule.SKIP}
    )
    s = Schedule(cron=fields["cron"], tz=fields["tz"], interval=fields["interval"])
    return [t.isoformat() for t in following(s, timezone.now(), max(1, min(count, 50)))]


def failures(days: int = 7, limit: int = 20) -> dict:
    """Scheduled runs that failed (job failed or timed out, or no job could be spawned) lately."""
    since = timezone.now() - timedelta(days=days)
    rows = ScheduleRun.objects.filter(created_at__gte=since).filter(_failed_q()).select_related("job", "schedule")
    return {
        "days": days,
        "count": rows.count(),
        "runs": [{**r.as_dict(), "schedule": r.schedule.name} for r in rows[:limit]],
    }


def _failed_q():
    return Q(job__status__in=FAILED) | ~Q(error="")


# --- writing


def add(
    name,
    *,
    task,
    backend="shell",
    cron=None,
    tz="UTC",
    interval=None,
    repo_url="",
    missed="skip",
    enabled=True,
    timeout=None,
    budget_usd=None,
) -> Schedule:
    """Create a schedule; ValueError with a clear message on a bad name, cron, time zone or duplicate."""
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise ValueError(f"invalid schedule name {name!r}: letters, digits, '.', '_' or '-', at most 100")
    fields = _validate(
        {
            "cron": cron,
            "tz": tz,
            "interval": interval,
            "task": task,
            "backend": backend,
            "repo_url": repo_url,
            "missed": missed,
            "enabled": enabled,
            "timeout": timeout,
            "budget_usd": budget_usd,
        }
    )
    s = Schedule(name=name, **fields)
    s.next_run_at = first_after(s) if s.enabled else None
    if Schedule.objects.filter(name=name).exists():
        raise ValueError(f"a schedule named {name!r} already exists")
    try:
        with transaction.atomic():
            s.save()
    except IntegrityError:
        raise ValueError(f"a schedule named {name!r} already exists") from None
    return s


def edit(name: str, **changes) -> Schedule:
    """Change some fields; the next due time is recomputed from now when the timing changed or it is enabled.

    Only changed columns are written: a full save() could put back a ``next_run_at``
    that a tick claimed meanwhile and fire that due time twice.
    """
    s = _get(name)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"cannot edit {', '.join(sorted(unknown))} (editable: {', '.join(EDITABLE)})")
    current = {f: getattr(s, f) for f in EDITABLE}
    if changes.get("cron"):
        current["interval"] = None
    if changes.get("interval"):
        current["cron"] = ""
    fields = _validate({**current, **changes})
    timing = any(fields[f] != current[f] for f in ("cron", "tz", "interval")) or (fields["enabled"] and not s.enabled)
    changed = [f for f in EDITABLE if fields[f] != getattr(s, f)]
    for f in changed:
        setattr(s, f, fields[f])
    if not s.enabled:
        s.next_run_at = None
        changed.append("next_run_at")
    elif timing:
        s.next_run_at = first_after(s)
        changed.append("next_run_at")
    s.save(update_fields=sorted(set(changed)) + ["updated_at"])  # auto_now: saved only when named
    return s


def enable(name: str) -> Schedule:
    return edit(name, enabled=True)


def disable(name: str) -> Schedule:
    return edit(name, enabled=False)


def remove(name: str) -> bool:
    """Delete the schedule and its run records (the jobs stay, with origin_ref = the name)."""
    deleted, _ = Schedule.objects.filter(name=name).delete()
    return deleted > 0


def spawn_run(s: Schedule, trigger: str, due_at: datetime | None) -> ScheduleRun:
    """One run: a commis job with origin="schedule", or the reason it could not be spawned."""
    # lazy: import cycle (commis.jobs imports this module for check_budget)
    from commis import jobs

    error, job = "", None
    try:
        job = jobs.spawn(
            s.task,
            s.backend,
            repo_url=s.repo_url,
            timeout=s.timeout,
            origin="schedule",
            origin_ref=s.name,
            budget_usd=s.budget_usd,
        )
    except ValueError as exc:
        error = str(exc)
    return ScheduleRun.objects.create(schedule=s, job=job, due_at=due_at, trigger=trigger, error=error)


def run_now(name: str) -> Job:
    """Start the schedule's task at once (enabled or not); its due times are unchanged."""
    s = _get(name)
    run = spawn_run(s, ScheduleRun.MANUAL, None)
    if run.job is None:
        raise ValueError(run.error)
    return run.job
