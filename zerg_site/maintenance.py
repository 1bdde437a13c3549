"""Keeping an installation healthy for months: scheduled maintenance and the shared log file.

:func:`ensure_schedules` makes sure the maintenance commands are django-q2 schedules
(created on the first start, repaired on later ones), so nobody has to set up cron.
``zerg serve`` and ``zerg worker`` call it at start; it is idempotent and safe when
several processes start at once. To switch one off, set its "Repeats" to 0 in the
admin (Django Q > Scheduled tasks): that choice is kept.

:class:`SharedRotatingFileHandler` is the ``$ZERG_HOME/logs/zerg.log`` handler that
the server, its worker cluster and the cluster's forked workers all write through.

Nothing here imports Django models at module level: settings load this module.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import StringIO
from logging.handlers import RotatingFileHandler

from django.db import connection, transaction
from django.utils import timezone

log = logging.getLogger("zerg.maintenance")

LOG_FILE_NAME = "zerg.log"
LOG_MAX_BYTES = 10 * 1024 * 1024  # rotate at 10 MB ...
LOG_BACKUP_COUNT = 5  # ... keeping zerg.log.1 .. zerg.log.5: at most 60 MB of logs
SCHEDULE_PREFIX = "zerg maintenance: "
RUN_COMMAND = "zerg_site.maintenance.run_command"  # what each schedule calls, with the command's name


@dataclass(frozen=True)
class Job:
    command: str
    schedule_type: str  # django_q Schedule.HOURLY / DAILY
    first_hour_utc: int | None  # daily jobs: first run at this hour (a quiet time), hourly: None

    @property
    def name(self) -> str:
        return SCHEDULE_PREFIX + self.command


JOBS = (
    Job("prune_events", "D", 3),
    Job("prune_workspaces", "D", 3),
    Job("optimize_search", "D", 4),
    Job("checkpoint_wal", "H", None),
)


def first_run(job: Job, now: datetime) -> datetime:
    """Not at once (every start would prune), but one interval on, daily ones at a quiet hour."""
    if job.first_hour_utc is None:
        return now + timedelta(hours=1)
    at = now.astimezone(UTC).replace(hour=job.first_hour_utc, minute=0, second=0, microsecond=0)
    return at if at > now else at + timedelta(days=1)


def run_command(command: str) -> str:
    """Run a management command for a schedule: its output goes to the log (and is the
    task's result in the admin) instead of the server's console; an error fails the task."""
    # lazy: settings.py imports this module (its log handler), before Django's apps are loaded
    from django.core.management import call_command

    out = StringIO()
    call_command(command, stdout=out)
    text = out.getvalue().strip()
    log.info("%s: %s", command, text)
    return text


@contextlib.contextmanager
def schedules_locked():
    """One transaction under a lock (SQLite's write lock taken by BEGIN IMMEDIATE, an advisory lock
    on Postgres), so processes starting together cannot both insert the same django-q2 schedule."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [0x2E76_0001])
        yield


def ensure_schedules() -> list[str]:
    """Create or repair one django-q2 Schedule per maintenance job; return the names created.

    Under :func:`schedules_locked`, so processes starting together cannot both insert;
    duplicates left by anything else are removed.
    """
    from django_q.models import Schedule  # lazy: settings.py imports this module; no models yet

    created = []
    with schedules_locked():
        now = timezone.now()
        for job in JOBS:
            rows = list(Schedule.objects.filter(name=job.name).order_by("id"))
            args = repr(job.command)
            if not rows:
                Schedule.objects.create(
                    name=job.name,
                    func=RUN_COMMAND,
                    args=args,
                    schedule_type=job.schedule_type,
                    repeats=-1,
                    next_run=first_run(job, now),
                )
                created.append(job.name)
                continue
            keep, extra = rows[0], rows[1:]
            if extra:
                Schedule.objects.filter(id__in=[row.id for row in extra]).delete()
            changes = {"func": RUN_COMMAND, "args": args, "kwargs": None, "schedule_type": job.schedule_type}
            if keep.repeats != 0:  # 0 is the owner's "off" switch
                changes["repeats"] = -1
            if keep.next_run is None:
                changes["next_run"] = first_run(job, now)
            if any(getattr(keep, field) != value for field, value in changes.items()):
                Schedule.objects.filter(id=keep.id).update(**changes)
    if created:
        log.info("created maintenance schedules: %s", ", ".join(created))
    return created


def ensure_schedules_quietly() -> None:
    """For process start: a failure (a database not migrated yet) is logged, never fatal."""
    try:
        ensure_schedules()
    except Exception as exc:  # noqa: BLE001 - maintenance must not stop the server from starting
        log.warning("could not set up the maintenance schedules: %s", exc)


# --- the log file


class SharedRotatingFileHandler(RotatingFileHandler):
    """A RotatingFileHandler for several processes writing one file.

    The stock handler assumes it is alone: after another process rotates, it keeps
    writing into the renamed file and rotates that again, losing lines. This one
    reopens the file when the name points at a new file, and rotates under an flock,
    only if the file is still over the limit once the lock is held.
    """

    def _moved(self) -> bool:
        if self.stream is None:
            return False
        try:
            on_disk = os.stat(self.baseFilename)
        except FileNotFoundError:
            return True
        mine = os.fstat(self.stream.fileno())
        return (on_disk.st_ino, on_disk.st_dev) != (mine.st_ino, mine.st_dev)

    def _reopen_if_moved(self) -> None:
        if self._moved():
            self.stream.close()
            self.stream = self._open()

    def shouldRollover(self, record) -> bool:
        self._reopen_if_moved()
        return super().shouldRollover(record)

    def doRollover(self) -> None:
        with open(self.baseFilename + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._reopen_if_moved()
            if self.stream is not None and os.fstat(self.stream.fileno()).st_size < self.maxBytes:
                return  # another process rotated it already
            super().doRollover()


def log_to_file(argv: list[str]) -> bool:
    """Whether this process is a long-running one that writes zerg.log: the server and worker
    clusters (``zerg serve``/``zerg worker``, or ``manage.py runserver``/``qcluster``), or any
    process run with ZERG_LOG_FILE=1. One-shot commands only print."""
    if os.environ.get("ZERG_LOG_FILE") == "1":
        return True
    return len(argv) > 1 and argv[1] in ("serve", "worker", "runserver", "qcluster")
