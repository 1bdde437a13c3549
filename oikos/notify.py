"""Reporting back: when a commis that Oikos spawned finishes, its thread gets a system message.

Connected to ``commis.signals.job_finished`` in ``OikosConfig.ready``; it runs in whichever
process finished the job (usually a worker), so it only writes rows and events: the web
process's clients see it through the event log. The next turn gives the model these notices.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from oikos import services
from oikos.models import Message, Thread
from oikos.untrusted import ROLE

log = logging.getLogger("zerg.oikos")


def notice_head(job) -> str:
    text = f"Commis #{job.id} ({job.backend}) {job.status.replace('_', ' ')}"
    return text + (f" with exit code {job.exit_code}" if job.exit_code is not None else "")


def notice_text(job) -> str:
    summary = (job.summary or "").strip()
    if len(summary) > 600:
        summary = summary[:600] + " …"
    return notice_head(job) + (f": {summary}" if summary else ".") + f" /commis/{job.id}"


def job_finished(sender, job, **kwargs) -> None:
    if job.origin != "oikos" or not str(job.origin_ref).isdigit():
        return

    thread_id = int(job.origin_ref)
    if not Thread.objects.filter(id=thread_id).exists():
        log.info("commis job %s finished for oikos thread %s, which is gone", job.id, thread_id)
        return
    # one notice per finishing transition (a retried job that finishes again gets a new one)
    key = f"{job.id}:{job.attempts}:{job.status}"
    if Message.objects.filter(thread_id=thread_id, role="system", data__notice=key).exists():
        return
    services.add_message(
        thread_id,
        "system",
        notice_text(job),
        data={
            "notice": key,
            "job_id": job.id,
            "status": job.status,
            "summary": job.summary[:2000],
            "head": notice_head(job),
            "link": f"/commis/{job.id}",
        },
    )


def forum_mentioned(sender, post, **kwargs) -> None:
    """``@oikos`` in a Forum post: a turn in the Oikos thread tied to that Forum thread, whose
    reply goes back to the Forum (``oikos.turns`` posts it when the turn is done).

    Only the owner's post is stored as the owner's words. A post by a job or an agent starts a
    turn too (agents may ask the coordinator for attention), but its text is stored with role
    ``untrusted``, reaches the model marked as data (:mod:`oikos.untrusted`), and that turn asks
    the owner before it spawns, cancels, schedules or posts anything."""
    # lazy: oikos.turns brings oikos.tools, oikos.slash and zerg_site.llm, +1.2 MB RSS / 6 modules at every
    # django.setup() (OikosConfig.ready imports this module); only a Forum mention needs it
    from oikos import turns

    forum_thread = post.thread
    thread = Thread.objects.filter(forum_thread=forum_thread.id).first()
    if thread is None:
        try:
            with transaction.atomic():
                thread = Thread.objects.create(title=f"Forum: {forum_thread.title}"[:300], forum_thread=forum_thread.id)
        except IntegrityError:  # made by a concurrent mention
            thread = Thread.objects.get(forum_thread=forum_thread.id)
    data = {"forum_post": post.id, "forum_thread": forum_thread.id, "author": post.author}
    if post.author_kind == "owner":
        title = f' "{forum_thread.title}"' if forum_thread.author_kind == "owner" else ""
        role, text = (
            "owner",
            (
                f"[Forum thread #{forum_thread.id}{title}, post #{post.id} by {post.author}]\n\n"
                f"{post.text}\n\n(Your reply is posted back to that Forum thread.)"
            ),
        )
    else:
        role, text = ROLE, post.text
    try:
        turns.post_message(thread, text, data=data, role=role, run_now=turns.serving())
    except turns.Busy:  # a turn is under way: the next one reads this with its input
        services.add_message(thread.id, "system" if role == "owner" else ROLE, text, data=data)
