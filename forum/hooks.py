"""Receivers of the commis signals: every job gets a thread in the "Commis" board.

- job_spawned: the thread, with the task and where the job came from;
- job_started: "started attempt N on <worker>";
- job_finished: the outcome, the summary, links to the job page and its diff; the
  job's claims are released; a failed scheduled job also posts in the "Schedules"
  board (one thread per schedule), so it does not fail silently.

These reports quote the job's task and output, which are data: they are posted ``quiet``,
so an ``@oikos`` a job prints calls no one (an agent asks Oikos with its forum_post tool,
and Oikos treats that as untrusted). Receivers run in whichever process changed the job. Each write is its own short
transaction; when the caller holds a transaction (a schedule spawning its job), the
receiver runs in a savepoint, so a Forum failure rolls back only the Forum's rows and
never aborts the caller's transaction (Postgres would refuse every later statement).
Commis logs the failure and carries on.
"""

from __future__ import annotations

import logging
import re
from functools import wraps

from django.db import IntegrityError, connection, transaction

from forum import services
from forum.models import Post, Thread

log = logging.getLogger("zerg.forum")

COMMIS_BOARD = "commis"
SCHEDULES_BOARD = "schedules"
FAILED = ("failed", "timed_out")


def fenced(text: str, info: str = "") -> str:
    """``text`` as a Markdown code block whose fence no backtick run inside can close."""
    longest = max((len(m) for m in re.findall(r"`+", text or "")), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def quoted(text: str) -> str:
    return "\n".join("> " + line for line in (text or "").strip().splitlines())


def job_title(job) -> str:
    line = next((text.strip() for text in (job.task or "").splitlines() if text.strip()), "(no task)")
    return f"#{job.id} {line[:120]}" + ("…" if len(line) > 120 else "")


def _origin(job) -> str:
    ref = job.origin_ref or ""
    if job.origin == "forum" and ref.isdigit():
        thread_id = Post.objects.filter(id=int(ref)).values_list("thread_id", flat=True).first()
        if thread_id:
            return f"a [Forum reply](/forum/t/{thread_id}#post-{ref})"
    if job.origin == "schedule" and ref:
        return f"the schedule `{ref}`"
    if job.origin == "oikos":
        return "Oikos" + (f" (chat {ref})" if ref else "")
    return {"owner": "the owner", "api": "the API"}.get(job.origin, job.origin) + (f" ({ref})" if ref else "")


def ensure_job_thread(job) -> Thread:
    """The job's thread in the Commis board, created (with the spawn post) if missing."""
    found = Thread.objects.filter(job_id=job.id).first()
    if found is not None:
        return found
    text = (
        f"**Spawned** · backend `{job.backend}` · from {_origin(job)}\n\n{fenced(job.task, 'text')}\n\n"
        f"[Job page](/commis/{job.id})"
    )
    try:
        made = services.new_thread(COMMIS_BOARD, job_title(job), text, "commis", str(job.id), job=job, quiet=True)
    except IntegrityError:  # another process made it first
        return Thread.objects.get(job_id=job.id)
    return Thread.objects.get(id=made["id"])


def _job_post(job, text: str) -> None:
    services.post(ensure_job_thread(job).id, text, "commis", str(job.id), quiet=True)


def guarded(receiver):
    @wraps(receiver)
    def run(sender, job, **kwargs):
        if connection.in_atomic_block:
            with transaction.atomic():
                return receiver(sender, job, **kwargs)
        return receiver(sender, job, **kwargs)

    return run


@guarded
def on_spawned(sender, job, **kwargs) -> None:
    ensure_job_thread(job)


@guarded
def on_started(sender, job, **kwargs) -> None:
    where = f" on `{job.worker}`" if job.worker else ""
    _job_post(job, f"**Started** attempt {job.attempts}{where}.")


def _duration(job) -> str:
    if job.started_at and job.finished_at:
        seconds = int((job.finished_at - job.started_at).total_seconds())
        return f" in {seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f" in {seconds} s"
    return ""


def finished_text(job, released: list[str]) -> str:
    head = f"**{job.status.replace('_', ' ')}**{_duration(job)}"
    if job.exit_code is not None:
        head += f" · exit {job.exit_code}"
    if job.cost_usd is not None:
        head += f" · ${job.cost_usd:.2f}"
    parts = [head]
    if job.summary.strip():
        parts.append(quoted(job.summary[:4000]))
    parts.append(f"[Job page](/commis/{job.id}) · [Diff](/api/commis/jobs/{job.id}/diff)")
    if released:
        parts.append("Released its claims: " + ", ".join(f"`{r}`" for r in released[:20]))
    parts.append("Reply here to continue this job with a follow-up commis.")
    return "\n\n".join(parts)


@guarded
def on_finished(sender, job, **kwargs) -> None:
    released = services.release_all(f"commis-{job.id}")
    thread = ensure_job_thread(job)
    services.post(thread.id, finished_text(job, released), "commis", str(job.id), quiet=True)
    if job.origin == "schedule" and job.status in FAILED:
        schedule_failed(job, thread.id)


def schedule_failed(job, job_thread_id: int) -> None:
    """One thread per schedule in the Schedules board; each failed run posts there."""
    name = job.origin_ref or "(unnamed)"
    text = (
        f"**Scheduled run failed**: [commis #{job.id}](/commis/{job.id}) {job.status.replace('_', ' ')}"
        + (f" · exit {job.exit_code}" if job.exit_code is not None else "")
        + (f"\n\n{quoted(job.summary[:2000])}" if job.summary.strip() else "")
        + f"\n\n[Its thread](/forum/t/{job_thread_id}) · [Diff](/api/commis/jobs/{job.id}/diff)"
    )
    key = f"schedule:{name}"[:250]
    found = Thread.objects.filter(key=key).values_list("id", flat=True).first()
    if found is None:
        try:
            services.new_thread(
                SCHEDULES_BOARD, f"Schedule {name}"[:300], text, "commis", str(job.id), key=key, quiet=True
            )
            return
        except IntegrityError:
            found = Thread.objects.get(key=key).id
    services.post(found, text, "commis", str(job.id), quiet=True)
