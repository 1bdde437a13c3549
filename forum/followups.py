"""Follow-up commis: the owner's reply continues a finished job's work.

An owner post in a finished job's thread, or one mentioning ``@commis-42``, spawns a
new job (origin "forum", origin_ref = the post id) with the same backend and options,
in the same work directory (``workdir`` = the job's workspace), and for claude/codex
resuming the same CLI session (``options["resume_session"]``, plus ``continues_session``
so commis.continuation puts the session file, kept by the Timeline, in the new job's
CLI config dir). The reply is the new
task: for the shell backend it is the next command; the agent backend, which has no
session to resume, gets the old task and summary with it. Only the owner's posts do
this (a commis or Oikos mentioning a job must not start a chain of jobs).
"""

from __future__ import annotations

import logging
import os
import re

from commis import jobs
from commis.backends.sessionfiles import COMMIS_DEVICE, continued_session
from commis.models import Job
from commis.workspaces import job_dir
from forum import services
from forum.hooks import ensure_job_thread
from timeline.models import Session
from zerg_site.markdown import mentions

log = logging.getLogger("zerg.forum")

RESUMABLE = ("claude", "codex")
# of commis.continuation: what belongs to the job continued, never copied to its follow-up
CONTINUATION_KEYS = ("resume_session", "continues_session", "continue_from")
MENTION_COMMIS = re.compile(r"(?<![\w@/])@commis-\d+\b")
CONTINUE = "Continue where you left off."
AGENT_PROMPT = """This continues commis job {id}, in the same workspace. Its task was:

{task}

It ended {status}. Its summary:

{summary}

The owner replied:

{reply}"""


def targets(thread, text: str) -> list[Job]:
    """The jobs an owner post continues: those it mentions, and the thread's own job once it finished.

    Raises ForumError (nothing is stored then) for a mention of a job that does not exist.
    """
    ids, _ = mentions(text)
    found = {job.id: job for job in Job.objects.filter(id__in=ids)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise services.ForumError(f"there is no commis job {missing[0]} (mentioned as @commis-{missing[0]})")
    result = [found[i] for i in ids]
    if thread.job_id and thread.job_id not in found:
        job = Job.objects.filter(id=thread.job_id).first()
        if job is not None and job.finished:
            result.insert(0, job)
    return result


def work_dir(job: Job) -> str:
    """Where the job worked: its --workdir, else its workspace's work/ dir ("" if gone)."""
    for candidate in (job.workdir, job.workspace, str(job_dir(job.id) / "work")):
        if candidate and os.path.isdir(candidate):
            return candidate
    return ""


def timeline_session(job: Job) -> int | None:
    """The Timeline's copy of the job's CLI session. Each job has its own CLI config dir, so
    the follow-up finds the session file to resume only if commis.continuation restores it
    from there (option ``continues_session``); without it the CLI starts afresh."""
    # a continuation's turns are in the session it continues; other jobs' in commis's own sessions
    # (never a device's session that happens to have the same id)
    return continued_session(job) or (
        Session.objects.filter(provider=job.backend, provider_session_id=job.session_id, device=COMMIS_DEVICE)
        .values_list("id", flat=True)
        .first()
    )


def task_for(job: Job, text: str, resumed: bool) -> str:
    reply = MENTION_COMMIS.sub("", text).strip()
    if job.backend == "shell":
        return reply or job.task
    if resumed:
        return reply or CONTINUE
    return AGENT_PROMPT.format(
        id=job.id, task=job.task, status=job.status, summary=job.summary or "(none)", reply=reply or CONTINUE
    )


def spawn_followup(job: Job, post) -> Job:
    """The follow-up job itself (raises ValueError if commis refuses it)."""
    options = {k: v for k, v in (job.options or {}).items() if k not in CONTINUATION_KEYS}
    resumed = job.backend in RESUMABLE and bool(job.session_id)
    if resumed:
        options["resume_session"] = job.session_id
        session = timeline_session(job)
        if session is not None:
            options["continues_session"] = session
    where = work_dir(job)
    place = {"workdir": where} if where else {"repo_url": job.repo_url}
    return jobs.spawn(
        task_for(job, post.text, resumed),
        job.backend,
        timeout=job.timeout,
        options=options,
        origin="forum",
        origin_ref=str(post.id),
        **place,
    )


def start(job: Job, post) -> dict:
    """Start the follow-up of ``job`` for ``post`` and say so in both threads."""
    here = post.thread_id
    job.refresh_from_db()
    if not job.finished:
        services.note(
            here,
            f"[commis #{job.id}](/commis/{job.id}) is still {job.status}: no follow-up started. "
            "Reply again once it has finished.",
        )
        return {"job": job.id, "error": f"commis {job.id} is still {job.status}"}
    try:
        new = spawn_followup(job, post)
    except ValueError as exc:
        services.note(here, f"Could not start a follow-up of [commis #{job.id}](/commis/{job.id}): {exc}")
        return {"job": job.id, "error": str(exc)}
    thread = ensure_job_thread(new)
    parent_thread = services.job_thread(job.id)
    how = f"in `{new.workdir}`" if new.workdir else "in a fresh clone (the old workspace is gone)"
    if new.options.get("resume_session"):
        how += f", resuming session `{new.options['resume_session']}`"
    services.note(
        thread.id,
        f"Follow-up of [commis #{job.id}](/commis/{job.id})"
        + (f" ([its thread](/forum/t/{parent_thread}))" if parent_thread else "")
        + f", {how}.",
    )
    services.note(
        here,
        f"Started follow-up [commis #{new.id}](/commis/{new.id}) of commis #{job.id}: "
        f"[its thread](/forum/t/{thread.id}).",
    )
    return {"job": job.id, "followup": new.id, "thread": thread.id}
