"""Push subscriptions, per-kind switches, "seen" markers and live owner sockets.

Part of the ``zerg_site`` app (imported by ``zerg_site/models.py``, migrations in
``zerg_site/migrations``).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

# What can be pushed; each kind has a switch in Settings (on unless switched off).
KINDS = {
    "job_finished": "A commis finished",
    "job_failed": "A commis failed or timed out",
    "needs_input": "Oikos waits for an answer",
    "schedule_failed": "A scheduled job failed",
    "oikos_reply": "Oikos replied while no page was open",
}


class PushSubscription(models.Model):
    """One browser's push endpoint and its keys (what ``PushSubscription.toJSON()`` gives)."""

    endpoint = models.CharField(max_length=2000, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    name = models.CharField(max_length=200, blank=True, default="", help_text="the device, from its user agent")
    created_at = models.DateTimeField(default=timezone.now)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"push subscription {self.id} ({self.name or self.endpoint[:40]})"

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "last_sent_at": self.last_sent_at.isoformat() if self.last_sent_at else None,
            "last_error": self.last_error,
        }


class PushPreference(models.Model):
    """A per-kind switch; a kind without a row is on."""

    kind = models.CharField(max_length=40, unique=True)
    enabled = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"{self.kind}: {'on' if self.enabled else 'off'}"


class SeenItem(models.Model):
    """The owner saw a "needs attention" item (e.g. ``job:42``); it leaves the list."""

    key = models.CharField(max_length=100, unique=True)
    seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"seen {self.key}"


class OwnerSocket(models.Model):
    """An open owner WebSocket, so any process can tell whether a page is open."""

    channel_name = models.CharField(max_length=200, unique=True)
    host = models.CharField(max_length=200)
    pid = models.IntegerField()
    connected_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"socket {self.channel_name} ({self.host}:{self.pid})"
