"""``/api/commis``: jobs (list, detail, spawn, cancel, retry, log, diff)."""

from __future__ import annotations

import os
from pathlib import Path

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError

from commis import jobs
from commis.backends import BACKENDS, availability, names, unavailable
from commis.models import Job
from commis.schedules import check_budget
from commis.schemas import BackendsOut, JobOut, JobsOut
from commis.slots import slot_usage
from zerg_site import budget
from zerg_site.params import Int64
from zerg_site.schemas import TEXT, OverBudgetOut, owner, text_body

router = Router(tags=["commis"])


class SpawnIn(Schema):
    task: str
    backend: str = "shell"
    repo_url: str = ""
    branch: str = ""
    workdir: str = ""
    timeout: int | None = None
    options: dict = Field(default_factory=dict)
    origin: str = "api"
    origin_ref: str = ""
    budget_usd: float | None = None  # the job's own budget: stopped (over_budget) once its cost passes it
    override_budget: bool = False  # spawn although the day's or month's spend is over its budget


@router.get("/jobs", response=owner(JobsOut, 400))
def list_jobs(
    request, status: str | None = None, backend: str | None = None, limit: Int64 = 50, before: Int64 | None = None
):
    """Newest first; filter by status (comma-separated) and backend; page with ``before`` (an id)."""
    rows = Job.objects.all()
    if status:
        rows = rows.filter(status__in=status.split(","))
    if backend:
        rows = rows.filter(backend=backend)
    if before:
        rows = rows.filter(id__lt=before)

    return {"jobs": [job.as_dict() for job in rows[: max(1, min(limit, 500))]], "slots": slot_usage()}


@router.get("/backends", response=owner(BackendsOut))
def list_backends(request):
    """Every backend, whether it can run on this server, and if not why and the fix ("New job" offers it disabled)."""
    return {"backends": [availability(name) for name in names()]}


@router.post("/jobs", response={**owner(JobOut, 400, 422), 402: OverBudgetOut})
def spawn_job(request, body: SpawnIn):
    """Queue a job; 400 for a backend that cannot run here (its CLI is not installed, no model is configured);
    402 with the figures while the day's or month's spend is over its budget, unless ``override_budget``."""
    if body.origin not in dict(Job.ORIGINS):
        raise HttpError(400, f"unknown origin {body.origin!r}")
    why = unavailable(body.backend) if body.backend in BACKENDS else ""
    if why:
        raise HttpError(400, why)
    if body.timeout is not None and body.timeout < 1:
        raise HttpError(400, "timeout must be at least 1 second")

    try:
        check_budget(body.budget_usd)
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None
    state = budget.status()
    note = ""
    if state.over:
        if not body.override_budget:
            budget.decided("spawn_refused", {**state.as_dict(), "task": body.task[:200], "origin": body.origin})
            return Status(
                402,
                {
                    "detail": f"not spawned: {state.reason()}; send override_budget: true to spawn anyway",
                    "budget": state.as_dict(),
                },
            )
        note = f"spawned by override although {state.reason()}"
    try:
        job = jobs.spawn(
            body.task,
            body.backend,
            repo_url=body.repo_url,
            branch=body.branch,
            workdir=body.workdir,
            timeout=body.timeout,
            options=body.options,
            origin=body.origin,
            origin_ref=body.origin_ref,
            budget_usd=body.budget_usd,
            budget_note=note,
        )
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None
    if note:
        budget.decided("overridden", {**state.as_dict(), "job": job.id}, jobs.topic(job.id))
    return job.as_dict()


@router.get("/jobs/{job_id}", response=owner(JobOut, 400, 404))
def job_detail(request, job_id: Int64):
    return get_object_or_404(Job, id=job_id).as_dict()


@router.post("/jobs/{job_id}/cancel", response=owner(JobOut, 400, 404))
def cancel_job(request, job_id: Int64):
    get_object_or_404(Job, id=job_id)
    return jobs.cancel(job_id).as_dict()


@router.post("/jobs/{job_id}/retry", response=owner(JobOut, 400, 404, 409))
def retry_job(request, job_id: Int64):
    job = get_object_or_404(Job, id=job_id)
    if not job.finished:
        raise HttpError(409, f"job {job_id} is {job.status}; only a finished job can be retried")
    return jobs.retry(job_id).as_dict()


def _artifact(job: Job, name: str) -> Path | None:
    if not job.artifacts_dir:
        return None
    path = Path(job.artifacts_dir) / name
    return path if path.is_file() else None


@router.get("/jobs/{job_id}/log", response=owner(TEXT, 400, 404), openapi_extra=text_body("text/plain"))
def job_log(request, job_id: Int64, offset: Int64 = 0, limit: Int64 = 1_000_000):
    """The log as text from byte ``offset``; ``X-Log-Offset`` is where to continue, ``X-Job-Status`` the status."""
    job = get_object_or_404(Job, id=job_id)
    path = _artifact(job, "log.txt")
    data = b""
    offset = max(0, offset)
    if path is not None:
        with open(path, "rb") as handle:
            # past the end there is nothing yet: no seek there (the OS refuses one past 2**63 - 1)
            if offset < os.fstat(handle.fileno()).st_size:
                handle.seek(offset)
                data = handle.read(max(1, min(limit, 10_000_000)))
    response = HttpResponse(data, content_type="text/plain; charset=utf-8")
    response["X-Log-Offset"] = str(offset + len(data))
    response["X-Job-Status"] = job.status
    return response


@router.get("/jobs/{job_id}/diff", response=owner(TEXT, 400, 404), openapi_extra=text_body("text/x-diff"))
def job_diff(request, job_id: Int64):
    """``diff.patch`` (git diff against the base commit); empty when the workspace is not a git repo."""
    job = get_object_or_404(Job, id=job_id)
    path = _artifact(job, "diff.patch")
    return HttpResponse(path.read_bytes() if path else b"", content_type="text/x-diff; charset=utf-8")
