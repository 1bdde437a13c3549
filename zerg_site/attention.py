"""``/api/attention``: everything waiting on the owner, for the "Needs attention" view and its badge.

Pending Oikos interrupts and queued commis with no worker stay until they are dealt with;
failed or timed-out jobs and schedule firings that could not spawn a job stay until the
owner marks them seen (``POST /api/attention/seen``).
"""

from __future__ import annotations

import re

from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from ninja import Router
from ninja.errors import HttpError

from commis.models import Job, ScheduleRun
from oikos.models import Turn
from zerg_site.jsonbody import read_json
from zerg_site.models import ProcessHeartbeat
from zerg_site.push.models import SeenItem
from zerg_site.schemas import AttentionCountOut, AttentionOut, SeenOut, owner

router = Router(tags=["attention"])

LIMIT = 100
SEEN_KEY = re.compile(r"^(job|schedule-run):\d{1,18}$")


def _unseen(qs, prefix: str, since: str = "created_at"):
    """Rows not marked seen since ``since`` changed (a retried job that fails again shows again)."""
    key = Concat(Value(prefix), Cast(OuterRef("id"), CharField()), output_field=CharField())
    return qs.exclude(Exists(SeenItem.objects.filter(key=key, seen_at__gte=OuterRef(since))))


def _iso(value):
    return value.isoformat() if value else None


def failed_jobs():
    return _unseen(Job.objects.filter(status__in=(Job.FAILED, Job.TIMED_OUT, Job.OVER_BUDGET)), "job:", "finished_at")


def failed_runs():
    return _unseen(ScheduleRun.objects.filter(job__isnull=True).exclude(error=""), "schedule-run:")


def items(limit: int = LIMIT) -> tuple[list[dict], int]:
    """``(items, count)``: newest first within each group, interrupts first (``limit`` per group)."""
    out: list[dict] = []
    count = 0
    waiting = Turn.objects.filter(status=Turn.WAITING, interrupt__isnull=False)
    for turn in waiting.order_by("-id")[:limit]:
        out.append(
            {
                "key": f"turn:{turn.id}",
                "kind": "interrupt",
                "title": "Oikos needs your answer",
                "detail": (turn.interrupt or {}).get("question", ""),
                "url": f"/chat/{turn.thread_id}",
                "at": _iso(turn.created_at),
                "dismissable": False,
            }
        )
    count += waiting.count()
    queued = Job.objects.filter(status=Job.QUEUED)
    if queued.exists() and not ProcessHeartbeat.live(ProcessHeartbeat.WORKER).exists():
        n = queued.count()
        out.append(
            {
                "key": "no-worker",
                "kind": "blocked",
                "title": f"{n} commis queued, no worker running",
                "detail": "Start `zerg serve` or `zerg worker` to run them.",
                "url": "/commis",
                "at": _iso(queued.order_by("created_at").values_list("created_at", flat=True).first()),
                "dismissable": False,
            }
        )
        count += 1
    jobs = failed_jobs()
    for job in jobs.order_by("-finished_at", "-id")[:limit]:
        label = f"Scheduled job {job.origin_ref}" if job.origin == "schedule" else f"Commis #{job.id}"
        out.append(
            {
                "key": f"job:{job.id}",
                "kind": "schedule_failed" if job.origin == "schedule" else "job_failed",
                "title": f"{label} {job.status.replace('_', ' ')}",
                "detail": (job.summary or job.task)[:300],
                "url": f"/commis/{job.id}",
                "at": _iso(job.finished_at or job.created_at),
                "dismissable": True,
            }
        )
    count += jobs.count()
    runs = failed_runs().select_related("schedule")
    for run in runs.order_by("-id")[:limit]:
        out.append(
            {
                "key": f"schedule-run:{run.id}",
                "kind": "schedule_failed",
                "title": f"Schedule {run.schedule.name} could not run",
                "detail": run.error[:300],
                "url": "/schedules",
                "at": _iso(run.created_at),
                "dismissable": True,
            }
        )
    count += runs.count()
    return out, count


@router.get("", response=owner(AttentionOut))
def attention(request):
    found, count = items()
    return {"count": count, "items": found}


@router.get("/count", response=owner(AttentionCountOut))
def attention_count(request):
    """Just the badge number (cheap enough to poll)."""
    return {"count": items(limit=0)[1]}


@router.post("/seen", response=owner(SeenOut, 400))
def seen(request):
    """Mark items seen: ``{"keys": ["job:42", ...]}`` or ``{"all": true}`` (every dismissable item)."""
    body = read_json(request.body)  # depth-limited: nested ~1,000 levels is a 400, not a RecursionError
    if not isinstance(body, dict):
        raise HttpError(400, 'send {"keys": [...]} or {"all": true}')
    if body.get("all") is True:
        keys = [f"job:{i}" for i in failed_jobs().values_list("id", flat=True)]
        keys += [f"schedule-run:{i}" for i in failed_runs().values_list("id", flat=True)]
    else:
        keys = body.get("keys")
        if not isinstance(keys, list) or not keys or len(keys) > 1000:
            raise HttpError(400, 'send {"keys": ["job:42", ...]} (1 to 1000 keys) or {"all": true}')
        bad = [k for k in keys if not isinstance(k, str) or not SEEN_KEY.match(k)]
        if bad:
            raise HttpError(400, f"not a dismissable item: {bad[0]!r} (keys look like job:42 or schedule-run:7)")
    now = timezone.now()
    with transaction.atomic():
        SeenItem.objects.filter(key__in=keys).update(seen_at=now)
        SeenItem.objects.bulk_create([SeenItem(key=k, seen_at=now) for k in dict.fromkeys(keys)], ignore_conflicts=True)
    return {"seen": len(keys), "count": items(limit=0)[1]}
