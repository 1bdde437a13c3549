"""The site's own tables: the event log, process heartbeats, tokens and login state."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone


class Event(models.Model):
    """One row of the append-only event log, written by any process.

    The ASGI process tails this table by id and fans rows out to WebSocket groups;
    clients resume from the last id they saw.
    """

    id = models.BigAutoField(primary_key=True)
    topic = models.CharField(max_length=200)
    kind = models.CharField(max_length=100)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["topic", "id"], name="event_topic_id")]

    def __str__(self) -> str:
        return f"#{self.id} {self.topic} {self.kind}"

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "topic": self.topic,
            "kind": self.kind,
            "payload": self.payload,
            "created_at": self.created_at.isoformat(),
        }


class ProcessHeartbeat(models.Model):
    """A zerg process (the web server or a worker cluster) saying it is alive."""

    SERVER = "server"
    WORKER = "worker"
    KINDS = [(SERVER, "server"), (WORKER, "worker")]

    kind = models.CharField(max_length=10, choices=KINDS)
    name = models.CharField(max_length=200, unique=True)
    host = models.CharField(max_length=200)
    pid = models.IntegerField()
    info = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    INTERVAL = 5  # seconds between beats
    STALE_AFTER = 3 * INTERVAL

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"

    @property
    def alive(self) -> bool:
        fresh = timezone.now() - self.last_seen < timedelta(seconds=self.STALE_AFTER)
        return self.stopped_at is None and fresh

    @classmethod
    def live(cls, kind: str) -> models.QuerySet:
        cutoff = timezone.now() - timedelta(seconds=cls.STALE_AFTER)
        return cls.objects.filter(kind=kind, stopped_at__isnull=True, last_seen__gte=cutoff)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "host": self.host,
            "pid": self.pid,
            "alive": self.alive,
            "started_at": self.started_at.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            **self.info,
        }


class ApiToken(models.Model):
    """A bearer token; only its SHA-256 digest is stored."""

    API = "api"  # the owner's CLI and scripts: the whole API
    DEVICE = "device"  # a Shipper on a laptop: ingest only
    KINDS = [(API, "API"), (DEVICE, "device")]

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=KINDS, default=API)
    prefix = models.CharField(max_length=16, help_text="the token's first characters, to recognise it")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}, {self.prefix}…)"

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "prefix": self.prefix,
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


class LoginLink(models.Model):
    """A one-time login link (printed by ``zerg serve`` / ``zerg link``), stored hashed."""

    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"login link created {self.created_at:%Y-%m-%d %H:%M}"


class LoginFailure(models.Model):
    """A failed password login, counted per client address for rate limiting."""

    address = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["address", "created_at"], name="loginfailure_addr_time")]

    def __str__(self) -> str:
        return f"{self.address} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class BudgetSetting(models.Model):
    """The owner's spend budgets as set in Settings (one row, id 1): once saved they win over
    ``[budget]`` in config.toml and the environment, which are the default until then
    (``zerg_site.budget.limits``). An empty amount is no budget."""

    daily_usd = models.FloatField(null=True, blank=True)
    monthly_usd = models.FloatField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"budget: {self.daily_usd} a day, {self.monthly_usd} a month"


from zerg_site.push.models import OwnerSocket, PushPreference, PushSubscription, SeenItem  # noqa: E402,F401
