"""``/api/schedules``: Sauron's schedules (list, add, edit, enable/disable, run now, remove, failures).

Thin over commis/schedules.py: a ValueError there is a 400 with its message, a
LookupError a 404.
"""

from __future__ import annotations

from ninja import Router, Schema
from ninja.errors import HttpError

from commis import schedules
from commis.schemas import (
    JobOut,
    PreviewOut,
    RemovedOut,
    ScheduleDetailOut,
    ScheduleFailuresOut,
    ScheduleOut,
    SchedulesOut,
)
from zerg_site.params import Int64
from zerg_site.schemas import owner

router = Router(tags=["schedules"])


class ScheduleIn(Schema):
    name: str
    task: str
    backend: str = "shell"
    cron: str = ""
    tz: str = "UTC"
    interval: int | str | None = None
    repo_url: str = ""
    missed: str = "skip"
    enabled: bool = True
    timeout: int | None = None
    budget_usd: float | None = None  # each run's budget: its job stops (over_budget) past it


class ScheduleEdit(Schema):
    task: str | None = None
    backend: str | None = None
    cron: str | None = None
    tz: str | None = None
    interval: int | str | None = None
    repo_url: str | None = None
    missed: str | None = None
    enabled: bool | None = None
    timeout: int | None = None
    budget_usd: float | None = None


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except LookupError as exc:
        raise HttpError(404, str(exc).strip("'\"")) from None
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None


@router.get("", response=owner(SchedulesOut))
def list_schedules(request):
    return {"schedules": schedules.list_schedules()}


@router.post("", response=owner(ScheduleOut, 400, 422))
def add_schedule(request, body: ScheduleIn):
    return _call(schedules.add, body.name, **body.dict(exclude={"name"})).as_dict()


@router.get("/failures", response=owner(ScheduleFailuresOut, 400))
def failures(request, days: Int64 = 7, limit: Int64 = 20):
    """Failed scheduled runs of the last ``days`` days, newest first (the Dashboard's block)."""
    return schedules.failures(days=max(1, min(days, 365)), limit=max(1, min(limit, 200)))


@router.get("/preview", response=owner(PreviewOut, 400))
def preview(request, cron: str = "", tz: str = "UTC", interval: str = "", count: Int64 = 5):
    """The next due times of an unsaved cron/interval, or a 400 saying what is wrong with it."""
    return {"next_runs": _call(schedules.preview, cron=cron, tz=tz, interval=interval or None, count=count)}


@router.get("/{name}", response=owner(ScheduleDetailOut, 400, 404))
def schedule_detail(request, name: str, runs: Int64 = 20):
    return _call(schedules.detail, name, runs=max(1, min(runs, 200)))


@router.patch("/{name}", response=owner(ScheduleOut, 400, 404, 422))
def edit_schedule(request, name: str, body: ScheduleEdit):
    changes = body.dict(exclude_unset=True)
    if "interval" in changes and changes["interval"] in (None, ""):
        changes["interval"] = None
    return _call(schedules.edit, name, **changes).as_dict()


@router.delete("/{name}", response=owner(RemovedOut, 404))
def remove_schedule(request, name: str):
    if not schedules.remove(name):
        raise HttpError(404, f"no schedule named {name!r}")
    return {"removed": name}


@router.post("/{name}/run", response=owner(JobOut, 400, 404))
def run_now(request, name: str):
    return _call(schedules.run_now, name).as_dict()


@router.post("/{name}/enable", response=owner(ScheduleOut, 400, 404))
def enable(request, name: str):
    return _call(schedules.enable, name).as_dict()


@router.post("/{name}/disable", response=owner(ScheduleOut, 400, 404))
def disable(request, name: str):
    return _call(schedules.disable, name).as_dict()
