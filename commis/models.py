"""Commis jobs: one row per background agent job, written only in short transactions."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Job(models.Model):
    class Status(models.TextChoices):
        """The values are the API's and the SPA's: never rename one."""

        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"
        TIMED_OUT = "timed_out"
        OVER_BUDGET = "over_budget"  # stopped when its cost passed its own budget_usd

    # Short names for the members, as the code base has always spelled them (Job.QUEUED).
    QUEUED, RUNNING, SUCCEEDED = Status.QUEUED, Status.RUNNING, Status.SUCCEEDED
    FAILED, CANCELLED, TIMED_OUT = Status.FAILED, Status.CANCELLED, Status.TIMED_OUT
    OVER_BUDGET = Status.OVER_BUDGET
    ACTIVE = (QUEUED, RUNNING)
    FINISHED = (SUCCEEDED, FAILED, CANCELLED, TIMED_OUT, OVER_BUDGET)

    ORIGINS = [(o, o) for o in ("owner", "oikos", "schedule", "forum", "api")]

    task = models.TextField(help_text="the prompt, or the command for the shell backend")
    backend = models.CharField(max_length=20, default="shell")
    options = models.JSONField(default=dict, blank=True, help_text="backend options (model, resume, push, ...)")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)

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
    budget_usd = models.FloatField(null=True, blank=True, help_text="stopped (over_budget) once its cost passes this")
    budget_note = models.CharField(
        max_length=500,
        blank=True,
        default="",
        help_text="a budget decision about it: spawned over the day's budget by override",
    )

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
            "budget_usd": self.budget_usd,
            "budget_note": self.budget_note,
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
            "timeline_session": self.timeline_session(),
        }

    def timeline_session(self) -> int | None:
        """The Timeline session of this job's turns (Zerg's id: the job page links to it), None while none."""
        from commis.backends.sessionfiles import timeline_session  # lazy: import cycle (it imports this module)

        return timeline_session(self) if self.session_id or self.options else None


class Schedule(models.Model):
    """A Sauron schedule: a commis task started on a cron expression (in a time zone) or an interval.

    ``next_run_at`` is the one due time not yet fired (None while disabled). Firing
    claims it with a compare-and-set UPDATE, so each due time runs once however many
    clusters tick (see commis/sauron.py).
    """

    class Missed(models.TextChoices):
        """What happens to due times missed while no worker cluster was up."""

        SKIP = "skip", "skip"
        RUN_ONCE = "run_once", "run once on start"

    SKIP, RUN_ONCE = Missed.SKIP, Missed.RUN_ONCE

    name = models.CharField(max_length=100, unique=True)
    cron = models.CharField(max_length=200, blank=True, default="", help_text="five cron fields, or @daily etc.")
    tz = models.CharField(max_length=64, default="UTC", help_text="IANA time zone the cron expression is read in")
    interval = models.PositiveIntegerField(null=True, blank=True, help_text="seconds between runs (instead of cron)")
    task = models.TextField(help_text="the prompt, or the command for the shell backend")
    backend = models.CharField(max_length=20, default="shell")
    repo_url = models.CharField(max_length=1000, blank=True, default="")
    timeout = models.PositiveIntegerField(null=True, blank=True, help_text="seconds per job attempt")
    budget_usd = models.FloatField(null=True, blank=True, help_text="each run's budget (the job's budget_usd)")
    missed = models.CharField(
        max_length=10,
        choices=Missed.choices,
        default=Missed.SKIP,
        help_text="what to do with runs missed while no worker was up",
    )
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"schedule {self.name}"

    def as_dict(self, next_count: int = 5) -> dict:
        # lazy: import cycle (commis.schedules and commis.backends.sessionfiles import commis.models)
        from commis import schedules

        return schedules.as_dict(self, next_count)


class ScheduleRun(models.Model):
    """One firing of a schedule: the commis job it spawned, or why it could not spawn one."""

    class Trigger(models.TextChoices):
        """What fired the run (the values are the API's)."""

        SCHEDULED = "schedule"
        MANUAL = "manual"
        CATCH_UP = "missed"  # the one run of a run_once policy after missed due times

    SCHEDULED, MANUAL, CATCH_UP = Trigger.SCHEDULED, Trigger.MANUAL, Trigger.CATCH_UP

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="runs")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    due_at = models.DateTimeField(null=True, blank=True, help_text="the due time fired (empty for run now)")
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULED)
    error = models.TextField(blank=True, default="", help_text="why no job was spawned")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["schedule", "due_at"], name="commis_schedulerun_once")]

    def as_dict(self) -> dict:
        job = self.job
        return {
            "id": self.id,
            "trigger": self.trigger,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "created_at": self.created_at.isoformat(),
            "error": self.error,
            "job_id": self.job_id,
            "status": job.status if job else ("error" if self.error else "gone"),
            "summary": job.summary[:300] if job else "",
            "finished_at": job.finished_at.isoformat() if job and job.finished_at else None,
        }


class ScheduleMiss(models.Model):
    """Due times of one schedule that one tick did not run on their own, and why (``reason``).

    ``count`` due times from ``first_at`` to ``last_at``: missed while no worker cluster
    was up (skipped, or run once by ``run``, the catch-up run, whose due time is one of
    them), or late while the workers were busy and folded into ``run``, a run of the same
    tick for another due time. With the runs of trigger "schedule", every due time is
    counted exactly once (commis/sauron.py).
    """

    SKIPPED = "skipped: no worker was running (--missed skip)"
    RAN_ONCE = "no worker was running: ran once on start (--missed run_once)"
    MISSED_FOLDED = (
        "no worker was running: folded into another due time of this schedule run at the same tick (--missed run_once)"
    )
    BUDGET = "budget: {why}; not started"  # the day's or month's spend was over its budget at the due time
    FOLDED = (
        "folded: late while every worker was busy, and another due time of this schedule was pending"
        " at the same tick (late due times run once)"
    )

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="misses")
    count = models.PositiveIntegerField()
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    policy = models.CharField(max_length=10, choices=Schedule.Missed.choices)
    run = models.ForeignKey(
        ScheduleRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="the catch-up run (run_once policy), or the run they were folded into",
    )
    reason = models.CharField(max_length=200, blank=True, default="", help_text="why they did not run on their own")
    noticed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "count": self.count,
            "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(),
            "policy": self.policy,
            "reason": self.reason,
            "run_job_id": self.run.job_id if self.run else None,
            "run_due_at": self.run.due_at.isoformat() if self.run and self.run.due_at else None,
            "noticed_at": self.noticed_at.isoformat(),
        }
