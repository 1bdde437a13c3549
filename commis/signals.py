"""Signals other apps hook into (the Forum posts on them, Oikos reports back on them).

Sent after the row changed and the transaction committed, from whichever process made
the change (web, worker or CLI). A receiver's failure is logged, never raised into the
job's lifecycle: a broken Forum must not fail a commis.
"""

from __future__ import annotations

import logging

from django.dispatch import Signal

log = logging.getLogger("zerg.commis")

# sender=Job, job=<Job>
job_spawned = Signal()
# sender=Job, job=<Job> (now running; sent once per attempt)
job_started = Signal()
# sender=Job, job=<Job> (status in Job.FINISHED; sent once per finishing transition)
job_finished = Signal()


def send(signal: Signal, job) -> None:
    for receiver, result in signal.send_robust(sender=type(job), job=job):
        if isinstance(result, Exception):
            log.error("commis job %s: %r failed: %r", job.id, receiver, result, exc_info=result)
