"""django-q2 tasks of commis (one queue message per job attempt)."""

from __future__ import annotations

import logging

from commis.runner import run_job as run

log = logging.getLogger("zerg.commis")


def run_job(job_id: int) -> str:
    """The queue task: claim the job and run it; a duplicate delivery returns at once.

    Never raises for a job's own failure (the job row records it), so django-q2 acks
    the message and does not redeliver it.
    """
    try:
        return run(job_id)
    except Exception:
        log.exception("commis job %s: the runner crashed", job_id)
        return "error"
