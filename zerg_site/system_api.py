"""Health, status, the worker ping and the event log over HTTP."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.utils import timezone
from django_q.tasks import async_task
from ninja import Router

from commis.slots import slot_usage
from zerg_site import __version__
from zerg_site.models import Event, ProcessHeartbeat
from zerg_site.params import Int64
from zerg_site.schemas import EventsOut, HealthOut, PingOut, StatusOut, owner

router = Router(tags=["system"])


def database_vendor() -> str:
    return connection.vendor  # "sqlite" or "postgresql"


def commis_slots() -> dict:
    return slot_usage()


def health() -> dict:
    """The public health document: no secrets, nothing about the owner's data."""
    try:
        worker_alive = ProcessHeartbeat.live(ProcessHeartbeat.WORKER).exists()
    except DatabaseError:  # the database is unreachable: say so instead of a 500
        return {
            "status": "error",
            "version": __version__,
            "database": "unavailable",
            "worker_alive": False,
            "commis_slots": {"max": settings.ZERG.max_concurrent, "running": 0},
        }
    return {
        "status": "ok",
        "version": __version__,
        "database": database_vendor(),
        "worker_alive": worker_alive,
        "commis_slots": commis_slots(),
    }


def status() -> dict:
    """Server and worker health as ``zerg status --json`` and ``/api/system/status`` show it."""
    server = ProcessHeartbeat.objects.filter(kind=ProcessHeartbeat.SERVER).first()
    # Workers that stopped, or vanished (kill -9, a lost machine) more than a day ago, are history.
    workers = ProcessHeartbeat.objects.filter(
        kind=ProcessHeartbeat.WORKER, stopped_at__isnull=True, last_seen__gte=timezone.now() - timedelta(days=1)
    )
    return {
        "version": __version__,
        "database": database_vendor(),
        "server": server.as_dict() if server else None,
        "workers": [w.as_dict() for w in workers],
        "worker_alive": any(w.alive for w in workers),
        "commis_slots": commis_slots(),
    }


@router.get("/health", auth=None, tags=["system"], response={200: HealthOut, 503: HealthOut})
def health_view(request):
    """200 when the database answers, 503 (with the same document) when it does not."""
    document = health()
    return JsonResponse(document, status=200 if document["status"] == "ok" else 503)


@router.get("/system/status", response=owner(StatusOut), exclude_unset=True)
def status_view(request):
    return status()


@router.post("/system/ping", response=owner(PingOut))
def ping_view(request):
    """Round trip through the worker cluster: the worker publishes ``worker.pong``."""
    task_id = uuid.uuid4().hex
    async_task("zerg_site.tasks.ping", task_id, task_name=f"ping-{task_id}", group="zerg-ping")
    return {"task_id": task_id}


@router.get("/events", response=owner(EventsOut, 400))
def events_view(request, limit: Int64 = 20, topic: str | None = None, before: Int64 | None = None):
    """The newest events (newest first), optionally of one topic and before an id."""
    rows = Event.objects.order_by("-id")
    if topic:
        rows = rows.filter(topic=topic)
    if before:
        rows = rows.filter(id__lt=before)
    events = [row.as_dict() for row in rows[: max(1, min(limit, 500))]]
    last = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return {"events": events, "last_id": last}
