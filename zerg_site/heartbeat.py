"""Process heartbeats: the web server and each worker cluster write one row every few seconds.

Starting and stopping also go into the event log ("server.started", "worker.stopped"),
so the dashboard shows them live.
"""

from __future__ import annotations

import os
import socket
import uuid

from django.db import close_old_connections
from django.utils import timezone

from zerg_site.events import publish
from zerg_site.models import ProcessHeartbeat


class Heartbeat:
    def __init__(self, kind: str, info: dict | None = None):
        self.kind = kind
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.name = f"{kind}:{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self.info = info or {}

    def start(self) -> None:
        close_old_connections()
        ProcessHeartbeat.objects.create(kind=self.kind, name=self.name, host=self.host, pid=self.pid, info=self.info)
        publish("system", f"{self.kind}.started", {"name": self.name, "host": self.host, "pid": self.pid})

    def beat(self) -> None:
        close_old_connections()
        ProcessHeartbeat.objects.filter(name=self.name).update(last_seen=timezone.now(), stopped_at=None)

    def stop(self) -> None:
        close_old_connections()
        ProcessHeartbeat.objects.filter(name=self.name).update(stopped_at=timezone.now())
        publish("system", f"{self.kind}.stopped", {"name": self.name, "host": self.host, "pid": self.pid})


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` on this host still runs (a zombie counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:
        pass  # no /proc (macOS): ask the kernel
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, someone else's
    return True


def close_dead_local_rows(kind: str | None = None) -> int:
    """Mark rows (of ``kind``, or all) of processes on this host that no longer run as stopped.

    After a crash their rows would otherwise count as alive until they go stale.
    """
    rows = ProcessHeartbeat.objects.filter(host=socket.gethostname(), stopped_at__isnull=True)
    if kind:
        rows = rows.filter(kind=kind)
    dead = [row.id for row in rows if not pid_alive(row.pid)]
    return ProcessHeartbeat.objects.filter(id__in=dead, stopped_at__isnull=True).update(stopped_at=timezone.now())
