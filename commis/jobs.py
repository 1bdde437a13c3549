"""The job lifecycle: spawn, claim, heartbeat, finish, cancel, retry, reclaim.

Every state change is one short UPDATE filtered on the state it expects (and, for a
running job, on the lease token of the attempt), so two deliveries of one job can
never both run it, and a worker that lost its lease can never overwrite the job.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_q.tasks import async_task

from commis import signals
from commis.backends import BACKENDS
from commis.models import Job
from commis.schedules import check_budget
from zerg_site.events import publish
from zerg_site.gitcheck import check_repo_url
from zerg_site.heartbeat import close_dead_local_rows
from zerg_site.models import ProcessHeartbeat

log = logging.getLogger("zerg.commis")

TOPIC = "commis"


def topic(job_id: int) -> str:
    return f"commis:{job_id}"


def worker_name() -> str:
    """The worker cluster this process belongs to (set by ``zerg worker`` before it forks)."""
    return os.environ.get("ZERG_WORKER_NAME") or f"local:{socket.gethostname()}:{os.getpid()}"


def publish_status(job: Job | int, **extra) -> None:
    if not isinstance(job, Job):
        job = Job.objects.get(id=job)
    payload = {
        "job": job.id,
        "status": job.status,
        "backend": job.backend,
        "attempts": job.attempts,
        "summary": job.summary[:500],
        "exit_code": job.exit_code,
        **extra,
    }
    publish(TOPIC, "commis.status", payload)
    publish(topic(job.id), "commis.status", payload)
    if job.status in Job.FINISHED:
        signals.send(signals.job_finished, job)
    elif job.status == Job.RUNNING and extra.get("started"):
        signals.send(signals.job_started, job)


# --- spawn and the queue


def enqueue(job_id: int, timeout: int | None = None) -> None:
    """One queue message for the job (duplicates are harmless: the claim turns them away).

    A job with its own timeout longer than the cluster's task timeout gets a task
    timeout to match, so django-q2 does not kill its worker first.
    """
    q_options = {"group": "commis", "task_name": f"commis-{job_id}-{uuid.uuid4().hex[:6]}"}
    if timeout is None:
        timeout = Job.objects.filter(id=job_id).values_list("timeout", flat=True).first()
    if timeout and timeout + 300 > settings.Q_CLUSTER.get("timeout", 0):
        q_options["timeout"] = timeout + 300
    async_task("commis.tasks.run_job", job_id, q_options=q_options)


def spawn(
    task: str,
    backend: str = "shell",
    *,
    repo_url: str = "",
    branch: str = "",
    workdir: str = "",
    timeout: int | None = None,
    options: dict | None = None,
    origin: str = "owner",
    origin_ref: str = "",
    max_attempts: int = 5,
    enqueue_task: bool = True,
    budget_usd: float | None = None,
    budget_note: str = "",
) -> Job:
    """Create a queued job and its queue task in one transaction (``budget_usd``: its own budget,
    ``budget_note``: why it was spawned although the day's or month's spend was over budget)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    if not task.strip():
        raise ValueError("the task is empty")
    if repo_url and workdir:
        raise ValueError("give a repository or a workdir, not both")

    repo_url = check_repo_url(repo_url)  # a ValueError: never option-like (git clone would run it)

    budget_usd = check_budget(budget_usd)
    with transaction.atomic():
        job = Job.objects.create(
            task=task,
            backend=backend,
            repo_url=repo_url,
            branch=branch,
            workdir=workdir,
            timeout=timeout,
            options=options or {},
            origin=origin,
            origin_ref=origin_ref,
            max_attempts=max_attempts,
            budget_usd=budget_usd,
            budget_note=budget_note[:500],
        )
        if enqueue_task:
            enqueue(job.id, timeout or 0)
    publish_status(job)
    signals.send(signals.job_spawned, job)
    return job


# --- claim, heartbeat, finish (called by the runner with its lease)


def claim(job_id: int, worker: str | None = None) -> Job | None:
    """Atomically take the job for one attempt; None if someone else has it (a duplicate delivery)."""
    # Only a queued job: a running one whose attempt died goes back to the queue through
    # reclaim(), which also kills what is left of the old attempt's processes.
    lease = uuid.uuid4().hex
    now = timezone.now()
    taken = Job.objects.filter(id=job_id, status=Job.QUEUED, cancel_requested=False).update(
        status=Job.RUNNING,
        lease=lease,
        worker=worker or worker_name(),
        host=socket.gethostname(),
        pid=None,
        attempts=F("attempts") + 1,
        heartbeat_at=now,
        started_at=now,
        finished_at=None,
    )
    if taken != 1:
        return None
    return Job.objects.get(id=job_id)


def heartbeat(job_id: int, lease: str) -> bool:
    """Refresh the heartbeat; False if the lease is gone (the job was reclaimed or finished)."""
    return Job.objects.filter(id=job_id, lease=lease, status=Job.RUNNING).update(heartbeat_at=timezone.now()) == 1


def poll(job_id: int, lease: str) -> str | None:
    """What the runner checks every second: None, "cancelled" or "lost_lease"."""
    row = Job.objects.filter(id=job_id).values_list("lease", "status", "cancel_requested").first()
    if row is None or row[0] != lease or row[1] != Job.RUNNING:
        return "lost_lease"
    return "cancelled" if row[2] else None


def update_running(job_id: int, lease: str, **fields) -> bool:
    return Job.objects.filter(id=job_id, lease=lease, status=Job.RUNNING).update(**fields) == 1


def finish(job_id: int, lease: str, status: str, **fields) -> bool:
    """End the attempt with a final status; False if the lease was lost meanwhile."""
    assert status in Job.FINISHED
    done = Job.objects.filter(id=job_id, lease=lease, status=Job.RUNNING).update(
        status=status, lease="", finished_at=timezone.now(), pid=None, **fields
    )
    if done:
        publish_status(job_id)
    return done == 1


def fail_now(job_id: int, summary: str) -> bool:
    """Fail a job that never ran (bad backend, unusable workspace) without a lease."""
    done = Job.objects.filter(id=job_id, status__in=Job.ACTIVE).update(
        status=Job.FAILED, summary=summary, lease="", finished_at=timezone.now(), pid=None
    )
    if done:
        publish_status(job_id)
    return done == 1


# --- owner actions


def cancel(job_id: int) -> Job:
    """Cancel: a queued job ends at once; a running one is killed by its runner within ~1 s."""
    Job.objects.filter(id=job_id, status__in=Job.ACTIVE).update(cancel_requested=True)
    if Job.objects.filter(id=job_id, status=Job.QUEUED).update(
        status=Job.CANCELLED, finished_at=timezone.now(), summary="cancelled before it started"
    ):
        publish_status(job_id)
    return Job.objects.get(id=job_id)


def retry(job_id: int) -> Job:
    """Run a finished job again (same task and workspace); attempts keep counting."""
    with transaction.atomic():
        done = Job.objects.filter(id=job_id, status__in=Job.FINISHED).update(
            status=Job.QUEUED,
            cancel_requested=False,
            lease="",
            exit_code=None,
            summary="",
            finished_at=None,
            max_attempts=F("attempts") + 5,
        )
        if done:
            enqueue(job_id)
    job = Job.objects.get(id=job_id)
    if done:
        publish_status(job)
    return job


# --- reclaim


def _worker_dead(name: str, live: set[str]) -> bool:
    """True if ``name`` is a worker cluster whose heartbeat row says it is gone."""
    if not name.startswith(ProcessHeartbeat.WORKER + ":") or name in live:
        return False
    return ProcessHeartbeat.objects.filter(name=name).exists()  # a row that is not live: stopped or stale


def kill_local_attempt(job: Job) -> int:
    """SIGKILL what is left of an attempt's process group on this host (found by its lease)."""
    if job.host != socket.gethostname() or not job.lease:
        return 0
    marker = f"ZERG_JOB_LEASE={job.lease}".encode()
    killed = 0
    for name in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not name.isdigit():
            continue
        try:
            env = Path(f"/proc/{name}/environ").read_bytes()
        except OSError:
            continue
        if marker in env.split(b"\0"):
            try:
                os.kill(int(name), signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return killed


def reclaim(stale_only: bool = False) -> list[int]:
    """Put running jobs whose attempt is dead back in the queue (or fail them past max_attempts).

    Dead: the heartbeat is older than ``stale_threshold``, or (unless ``stale_only``)
    the worker cluster that holds it has stopped or gone stale.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.ZERG.stale_threshold)
    live = set(ProcessHeartbeat.live(ProcessHeartbeat.WORKER).values_list("name", flat=True))
    reclaimed = []
    for job in Job.objects.filter(status=Job.RUNNING):
        if job.heartbeat_at is not None and job.heartbeat_at < stale:
            reason = "heartbeat stale"
        elif not stale_only and _worker_dead(job.worker, live):
            reason = f"worker {job.worker} is gone"
        else:
            continue
        kill_local_attempt(job)
        if job.cancel_requested:
            fields = {"status": Job.CANCELLED, "summary": f"cancelled ({reason})", "finished_at": now}
        elif job.attempts >= job.max_attempts:
            fields = {
                "status": Job.FAILED,
                "summary": f"gave up after {job.attempts} attempts ({reason})",
                "finished_at": now,
            }
        else:
            fields = {"status": Job.QUEUED}
        with transaction.atomic():
            done = Job.objects.filter(id=job.id, status=Job.RUNNING, lease=job.lease).update(
                lease="", pid=None, **fields
            )
            if done and fields["status"] == Job.QUEUED:
                enqueue(job.id)
        if done:
            log.warning("commis job %s reclaimed: %s", job.id, reason)
            reclaimed.append(job.id)
            publish_status(job.id, reclaimed=reason)
    return reclaimed


def close_dead_workers() -> int:
    """Mark worker rows stopped whose process is gone (this host: pid dead or a zombie; any host: stale)."""
    now = timezone.now()
    closed = close_dead_local_rows(ProcessHeartbeat.WORKER)
    stale = ProcessHeartbeat.objects.filter(
        kind=ProcessHeartbeat.WORKER,
        stopped_at__isnull=True,
        last_seen__lt=now - timedelta(seconds=ProcessHeartbeat.STALE_AFTER),
    )
    # A worker that was only partitioned clears stopped_at again with its next beat.
    return closed + stale.update(stopped_at=now)


def release_worker(worker: str) -> list[int]:
    """A cluster that stops on purpose hands its running jobs back: queued, no message yet.

    Their runners lose the lease, kill their process groups and return within a second
    or two. The caller enqueues them (:func:`requeue_waiting`) once its cluster has
    stopped; if it dies first, the next ``zerg serve`` start does.
    """
    released = []
    for job in Job.objects.filter(status=Job.RUNNING, worker=worker):
        # A job the owner cancelled ends cancelled: queued again, no claim would ever take it
        # (claims skip cancel_requested), and its page said "Cancelling…" for good.
        fields = (
            {"status": Job.CANCELLED, "summary": "cancelled (the worker stopped)", "finished_at": timezone.now()}
            if job.cancel_requested
            else {"status": Job.QUEUED}
        )
        if Job.objects.filter(id=job.id, status=Job.RUNNING, lease=job.lease).update(lease="", pid=None, **fields):
            if fields["status"] == Job.QUEUED:
                released.append(job.id)
            publish_status(job.id, released="the worker is stopping")
    return released


def requeue_waiting(ids: list[int] | None = None) -> int:
    """A fresh queue message for every queued job (or those of ``ids`` still queued).

    A dead cluster may have taken messages of queued jobs off the queue before it died;
    django-q2 would redeliver them only after ``retry`` (hours). Duplicates are harmless:
    the claim turns them away.
    """
    rows = Job.objects.filter(status=Job.QUEUED)
    if ids is not None:
        rows = rows.filter(id__in=ids)
    # queued with a cancel asked (released by a worker before that was handled): no claim takes it
    for job_id in list(rows.filter(cancel_requested=True).values_list("id", flat=True)):
        if Job.objects.filter(id=job_id, status=Job.QUEUED).update(
            status=Job.CANCELLED, finished_at=timezone.now(), summary="cancelled before it ran again"
        ):
            publish_status(job_id)
    ids = list(rows.filter(cancel_requested=False).values_list("id", flat=True))
    for job_id in ids:
        enqueue(job_id)
    return len(ids)


def reclaim_dead() -> list[int]:
    """The periodic pass (worker loop): close dead worker rows, reclaim their jobs, requeue waiting ones."""
    closed = close_dead_workers()
    ids = reclaim()
    if closed:
        requeue_waiting()
    return ids


def reclaim_on_start() -> list[int]:
    """``zerg serve`` at start: reclaim jobs of dead workers at once, requeue every waiting job."""
    close_dead_workers()
    ids = reclaim()
    requeue_waiting()
    return ids
