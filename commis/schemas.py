"""Response schemas of ``/api/commis``, ``/api/schedules`` and ``/api/migrate/sessions`` (the shapes of
``Job.as_dict()``, ``commis.schedules.as_dict()``, the run records and the continuations; see zerg_site/schemas.py)."""

from __future__ import annotations

from typing import Any, Literal

from agents_ingest.schemas import PatchOut
from timeline.schemas import SessionOut
from zerg_site.schemas import Out, Slots

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "timed_out", "over_budget"]


class JobOut(Out):
    """``Job.as_dict()``: a commis job; ``elapsed`` is seconds run so far (or in all), once started."""

    id: int
    task: str
    backend: str
    options: dict[str, Any]
    status: JobStatus
    repo_url: str
    branch: str
    base_commit: str
    workdir: str
    workspace: str
    artifacts_dir: str
    attempts: int
    max_attempts: int
    worker: str
    heartbeat_at: str | None
    cancel_requested: bool
    timeout: int | None
    #: stopped (status over_budget) once its cost passes this, USD
    budget_usd: float | None
    #: a budget decision about it (spawned over the day's budget by override), "" if none
    budget_note: str
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    elapsed: float | None
    exit_code: int | None
    summary: str
    usage: dict[str, Any]
    cost_usd: float | None
    session_id: str
    origin: str
    origin_ref: str
    #: the job's Timeline session (Zerg's id), None while there is none
    timeline_session: int | None


class BackendOut(Out):
    """A backend and whether it can run here (``commis.backends.availability``): when not, why and the fix."""

    name: str
    available: bool
    reason: str
    fix: str


class BackendsOut(Out):
    backends: list[BackendOut]


class JobsOut(Out):
    jobs: list[JobOut]
    slots: Slots


class ScheduleRunOut(Out):
    """One firing: its job's status, or ``error`` (no job could be spawned) / ``gone`` (the job was deleted)."""

    id: int
    trigger: Literal["schedule", "manual", "missed"]
    due_at: str | None
    created_at: str
    error: str
    job_id: int | None
    status: JobStatus | Literal["error", "gone"]
    summary: str
    finished_at: str | None


class ScheduleFailureOut(ScheduleRunOut):
    schedule: str


class ScheduleMissOut(Out):
    """Due times that did not run on their own, and why (``reason``)."""

    id: int
    count: int
    first_at: str
    last_at: str
    policy: Literal["skip", "run_once"]
    reason: str
    run_job_id: int | None
    run_due_at: str | None
    noticed_at: str


class ScheduleOut(Out):
    id: int
    name: str
    cron: str
    tz: str
    interval: int | None
    task: str
    backend: str
    repo_url: str
    timeout: int | None
    budget_usd: float | None
    enabled: bool
    missed: Literal["skip", "run_once"]
    next_run_at: str | None
    next_runs: list[str]
    last_run: ScheduleRunOut | None
    last_missed: ScheduleMissOut | None
    created_at: str | None
    updated_at: str | None


class ScheduleDetailOut(ScheduleOut):
    runs: list[ScheduleRunOut]
    misses: list[ScheduleMissOut]


class SchedulesOut(Out):
    schedules: list[ScheduleOut]


class ScheduleFailuresOut(Out):
    days: int
    count: int
    runs: list[ScheduleFailureOut]


class PreviewOut(Out):
    next_runs: list[str]


class RemovedOut(Out):
    removed: str


# --- /api/migrate/sessions: a shipped session continued as a commis job (commis/continuation_api.py)


class JobBriefOut(Out):
    id: int
    status: str
    task: str
    branch: str
    base_commit: str
    created_at: str
    finished_at: str | None
    summary: str


class ContinueOut(Out):
    job: JobOut
    session: SessionOut


class ContinuationsOut(Out):
    session: SessionOut
    can_continue: bool
    active: JobBriefOut | None
    jobs: list[JobBriefOut]
    patch: PatchOut | None


class OriginOut(Out):
    """Where the session was before: ``patch_id`` only once a continuation recorded it."""

    device: str
    cwd: str
    remote: str
    branch: str
    commit: str
    patch_id: int | None = None


class SourceOut(Out):
    session: SessionOut
    provider: str
    provider_session_id: str
    file_name: str
    size: int
    original: OriginOut
    active: JobBriefOut | None
    job: JobBriefOut | None
    diff_b64: str
