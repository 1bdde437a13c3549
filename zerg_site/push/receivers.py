"""What gets pushed: hooked to commis, Sauron and Oikos signals in ``ZergSiteConfig.ready``.

Receivers run in whichever process made the change (a worker, the web server, a turn
runner). They only read rows and send; a push failure is logged, never raised into the job.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import post_save

from commis.models import Job, ScheduleRun
from commis.signals import job_finished as finished
from zerg_site.push.send import client_connected, notify

log = logging.getLogger("zerg.push")


def _later(fn, *args) -> None:
    """Send once the change is committed (at once outside a transaction), never failing the caller."""

    def run():
        try:
            fn(*args)
        except Exception:
            log.exception("push notification failed")

    transaction.on_commit(run)


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def job_notice(job) -> tuple[str, str, str] | None:
    """``(kind, title, body)`` for a finished job, or None (a cancelled one: the owner did that)."""
    if job.status == Job.CANCELLED:
        return None
    failed = job.status in (Job.FAILED, Job.TIMED_OUT, Job.OVER_BUDGET)
    if failed and job.origin == "schedule":
        kind, title = "schedule_failed", f"Scheduled job {job.origin_ref or ''} {job.status.replace('_', ' ')}"
    elif failed:
        kind, title = "job_failed", f"Commis #{job.id} {job.status.replace('_', ' ')}"
    else:
        kind, title = "job_finished", f"Commis #{job.id} finished"
    body = _one_line(job.summary) or _one_line(job.task)
    return kind, " ".join(title.split()), body


def job_finished(sender, job, **kwargs) -> None:
    notice = job_notice(job)
    if notice is None:
        return

    kind, title, body = notice
    _later(notify, kind, title, body, f"/commis/{job.id}", f"job-{job.id}")


def schedule_run_saved(sender, instance, created, **kwargs) -> None:
    """A firing that could not even spawn its job (the job's own failure comes as job_finished)."""
    if not created or not instance.error:
        return

    _later(
        notify,
        "schedule_failed",
        f"Schedule {instance.schedule.name} could not run",
        _one_line(instance.error),
        "/attention",
        f"schedule-run-{instance.id}",
    )


def turn_changed(sender, turn, **kwargs) -> None:
    """An Oikos turn waits for an answer, or finished while no page was open."""
    from oikos.models import Message, Turn  # lazy: Oikos is optional here (see connect())

    if turn.status == Turn.WAITING and turn.interrupt:
        question = (turn.interrupt or {}).get("question", "") or "Oikos waits for your answer."
        _later(
            notify,
            "needs_input",
            "Oikos needs your answer",
            _one_line(question),
            f"/chat/{turn.thread_id}",
            f"turn-{turn.id}",
        )
    elif turn.status == Turn.DONE:

        def reply():
            if client_connected():
                return  # an open page shows it already
            text = (
                Message.objects.filter(turn_id=turn.id, role="assistant")
                .exclude(text="")
                .order_by("-id")
                .values_list("text", flat=True)
                .first()
            )
            if text:
                notify("oikos_reply", "Oikos replied", _one_line(text), f"/chat/{turn.thread_id}", f"turn-{turn.id}")

        _later(reply)


def connect() -> None:
    finished.connect(job_finished, dispatch_uid="zerg_site.push.job_finished")
    post_save.connect(schedule_run_saved, sender=ScheduleRun, dispatch_uid="zerg_site.push.schedule_run")
    try:
        from oikos.services import turn_changed as changed
    except ImportError:  # no Oikos in this installation
        return
    changed.connect(turn_changed, dispatch_uid="zerg_site.push.turn_changed")
