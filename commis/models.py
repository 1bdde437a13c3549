"""Commis jobs: one row per background agent job, written only in short transactions."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Job(models.Model):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    STATUSES = [(s, s) for s in (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, TIMED_OUT)]
    ACTIVE = (QUEUED, RUNNING)
    FINISHED = (SUCCEEDED, FAILED, CANCELLED, TIMED_OUT)

    ORIGINS = [(o, o) for o in ("owner", "oikos", "schedule", "forum", "api")]

    task = models.TextField(help_text="the prompt, or the command for the shell backend")
    backend = models.CharField(max_length=20, default="shell")
    options = models.JSONField(default=dict, blank=True, help_text="backend options (model, resume, push, ...)")
    status = models.CharField(max_length=12, choices=STATUSES, default=QUEUED)

    # workspace
    repo_url = models.CharField(max_length=1000, blank=True, default="")
    branch = models.CharField(max_length=200, blank=True, default="")
    base_commit = models.CharField(max_length=64, blank=True, default="")
    workdir = models.CharField(max_length=1000, blank=True, default="", help_text="an existing directory to run in")
    workspace = models.CharField(max_length=1000, blank=True, default="", help_text="where the job runs")
    artifacts_dir = models.CharField(max_length=1000, blank=True, default="")

    # claim, lease and heartbeat
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=5)
    lease = models.CharField(max_length=64, blank=True, default="")
    worker = models.CharField(max_length=200, blank=True, default="", help_text="worker cluster name")
    host = models.CharField(max_length=200, blank=True, default="")
    pid = models.IntegerField(null=True, blank=True, help_text="process group of the running attempt")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    timeout = models.PositiveIntegerField(null=True, blank=True, help_text="seconds per attempt")

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # result
    exit_code = models.IntegerField(null=True, blank=True)
    summary = models.TextField(blank=True, default="")
    usage = models.JSONField(default=dict, blank=True)
    cost_usd = models.FloatField(null=True, blank=True)
    session_id = models.CharField(max_length=200, blank=True, default="")

    # where it came from
    origin = models.CharField(max_length=20, choices=ORIGINS, default="owner")
    origin_ref = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="commis_job_status_hb"),
            models.Index(fields=["backend", "status"], name="commis_job_backend_status"),
        ]

    def __str__(self) -> str:
        return f"job {self.id} [{self.backend}] {self.status}"

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    def as_dict(self) -> dict:
        def iso(value):
            return value.isoformat() if value else None

        end = self.finished_at or (timezone.now() if self.started_at else None)
        return {
            "id": self.id,
            "task": self.task,
            "backend": self.backend,
            "options": self.options,
            "status": self.status,
            "repo_url": self.repo_url,
            "branch": self.branch,
            "base_commit": self.base_commit,
            "workdir": self.workdir,
            "workspace": self.workspace,
            "artifacts_dir": self.artifacts_dir,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "worker": self.worker,
            "heartbeat_at": iso(self.heartbeat_at),
            "cancel_requested": self.cancel_requested,
            "timeout": self.timeout,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "elapsed": (end - self.started_at).total_seconds() if self.started_at and end else None,
            "exit_code": self.exit_code,
            "summary": self.summary,
            "usage": self.usage,
            "cost_usd": self.cost_usd,
            "session_id": self.session_id,
            "origin": self.origin,
            "origin_ref": self.origin_ref,
        }
