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
        ProcessHeartbeat.objects.create(
            kind=self.kind, name=self.name, host=self.host, pid=self.pid, info=self.info
        )
        publish("system", f"{self.kind}.started", {"name": self.name, "host": self.host, "pid": self.pid})

    def beat(self) -> None:
        close_old_connections()
        ProcessHeartbeat.objects.filter(name=self.name).update(last_seen=timezone.now(), stopped_at=None)

    def stop(self) -> None:
        close_old_connections()
        ProcessHeartbeat.objects.filter(name=self.name).update(stopped_at=timezone.now())
        publish("system", f"{self.kind}.stopped", {"name": self.name, "host": self.host, "pid": self.pid})


def close_dead_local_rows() -> int:
    """Mark rows of processes on this host that no longer exist as stopped.

    After a crash their rows would otherwise count as alive until they go stale.
    """
    host = socket.gethostname()
    dead = []
    for row in ProcessHeartbeat.objects.filter(host=host, stopped_at__isnull=True):
        try:
            os.kill(row.pid, 0)
        except ProcessLookupError:
            dead.append(row.id)
        except PermissionError:
            pass  # alive, someone else's
    return ProcessHeartbeat.objects.filter(id__in=dead).update(stopped_at=timezone.now())
