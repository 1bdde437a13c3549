"""``GET /api/dashboard``: the cockpit's one request.

The phone's home page shows what is running, what waits on the owner, the latest chats, the
latest sessions each device shipped and what the setup still lacks. Asked piece by piece that
is five round trips on a slow link; this answers them in one, from each app's own functions
(``attention.items``, ``oikos.services.list_threads``, ``setup_api.checks``), so the pieces
never disagree with the pages they link to. Live changes then come over the event stream.

``spend``: today's and this week's (from Monday, the owner's days) against the budgets
(``zerg_site.budget``), so the owner sees at a glance whether schedules are being held back.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Max
from ninja import Router

from commis.models import Job
from commis.slots import slot_usage
from oikos.services import list_threads
from spend import query
from timeline.models import Session
from zerg_site import attention, budget
from zerg_site.auth.owner import get_owner
from zerg_site.cli import doctor
from zerg_site.schemas import AttentionOut, BudgetOut, Out, SetupOut, Slots, owner
from zerg_site.setup_api import checks

router = Router(tags=["dashboard"])

JOBS = 20  # running and queued jobs shown
THREADS = 5
DEVICES = 8
PER_DEVICE = 3
TAIL_BYTES = 4096
LINE_CHARS = 300


class DashJobOut(Out):
    id: int
    task: str  # its first line
    backend: str
    status: str  # running or queued
    created_at: str | None
    started_at: str | None
    elapsed: float | None  # seconds since it started
    last_line: str  # the newest line of its log (job output: data, shown as text)


class DashThreadOut(Out):
    id: int
    title: str
    updated_at: str | None
    preview: str
    running: bool
    interrupt: bool


class DashSessionOut(Out):
    id: int
    provider: str
    title: str
    project: str
    updated_at: str | None


class DashDeviceOut(Out):
    device: str
    sessions: int  # how many sessions it shipped
    last_shipped: str | None
    latest: list[DashSessionOut]


class DashSpendOut(Out):
    """USD at list prices; ``*_partial``: at least that much (some tokens of a model with no known price)."""

    today_usd: float
    today_partial: bool
    week_usd: float
    week_partial: bool
    budget: BudgetOut


class DashboardOut(Out):
    jobs: list[DashJobOut]
    slots: Slots
    attention: AttentionOut
    threads: list[DashThreadOut]
    devices: list[DashDeviceOut]
    setup: SetupOut
    spend: DashSpendOut


def last_line(job) -> str:
    """The newest non-empty line of a job's log (its last few KB only: logs may be large)."""
    if not job.artifacts_dir:
        return ""
    path = Path(job.artifacts_dir) / "log.txt"
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(max(0, size - TAIL_BYTES))
            tail = handle.read(TAIL_BYTES)
    except OSError:
        return ""
    lines = [line.strip() for line in tail.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1][:LINE_CHARS] if lines else ""


def active_jobs() -> list[dict]:
    rows = Job.objects.filter(status__in=(Job.RUNNING, Job.QUEUED)).order_by("-status", "-id")[:JOBS]
    out = []
    for job in rows:
        full = job.as_dict()
        out.append(
            {
                "id": job.id,
                "task": (job.task.strip().splitlines() or [""])[0][:LINE_CHARS],
                "backend": job.backend,
                "status": job.status,
                "created_at": full["created_at"],
                "started_at": full["started_at"],
                "elapsed": full["elapsed"],
                "last_line": last_line(job) if job.status == Job.RUNNING else "",
            }
        )
    return out


def devices() -> list[dict]:
    """Each device's shipped sessions (top-level ones: a subagent belongs to its parent), latest first."""
    top = Session.objects.filter(parent__isnull=True).exclude(device="")
    per_device = top.values("device").annotate(n=Count("id"), last=Max("updated_at")).order_by("-last")[:DEVICES]
    out = []
    for row in per_device:
        latest = top.filter(device=row["device"]).order_by("-updated_at", "-id")[:PER_DEVICE]
        out.append(
            {
                "device": row["device"],
                "sessions": row["n"],
                "last_shipped": row["last"].isoformat() if row["last"] else None,
                "latest": [
                    {
                        "id": s.id,
                        "provider": s.provider,
                        "title": s.display_title[:200],
                        "project": s.project,
                        "updated_at": s.updated_at.isoformat() if s.updated_at else None,
                    }
                    for s in latest
                ],
            }
        )
    return out


def spend() -> dict:
    zone = query.owner_zone()
    today = datetime.now(zone).date()
    day, day_partial = query.total(today, today, zone)
    week, week_partial = query.total(today - timedelta(days=today.weekday()), today, zone)
    return {
        "today_usd": day,
        "today_partial": day_partial,
        "week_usd": week,
        "week_partial": week_partial,
        "budget": budget.status().as_dict(),
    }


def threads() -> list[dict]:
    keys = DashThreadOut.model_fields
    return [{k: t[k] for k in keys} for t in list_threads(limit=THREADS)]


@router.get("", response=owner(DashboardOut))
def dashboard(request):
    """Running and queued commis, what needs an answer, the latest chats and shipped sessions, the setup."""
    found, count = attention.items(limit=10)
    setup = [vars(check) for check in checks(settings.ZERG, get_owner())]
    missing = [item for item in setup if item["status"] != doctor.OK]
    return {
        "jobs": active_jobs(),
        "slots": slot_usage(),
        "attention": {"count": count, "items": found},
        "threads": threads(),
        "devices": devices(),
        "setup": {"complete": not missing, "missing": missing, "checks": setup},
        "spend": spend(),
    }
