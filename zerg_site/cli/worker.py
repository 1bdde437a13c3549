"""``zerg worker``: a django-q2 cluster that heartbeats into the database.

``zerg serve`` runs this as its supervised child; on extra machines (Postgres) it runs
alone. With ``--supervised`` it also exits when its parent dies, so a ``kill -9`` of
``zerg serve`` leaves no orphan behind.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import time

from zerg_site.cli.common import setup_django
from zerg_site.pdeathsig import children_die_with_parent, die_with_parent


def add_parser(sub) -> None:
    parser = sub.add_parser("worker", help="run a worker cluster alone (extra machines on Postgres)")
    parser.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(run=run)


class WorkerRunner:
    """Starts the cluster, then loops: heartbeat, and notice when to stop."""

    def __init__(self, supervised: bool = False, parent_pid: int | None = None):
        self.supervised = supervised
        self.parent_pid = parent_pid
        self.cluster = None
        self.heartbeat = None
        self.last_beat = 0.0
        self.stop_requested = False
        self.last_reclaim = 0.0
        self.released: list = []

    def request_stop(self, signum=None, frame=None) -> None:
        """Signal handler: only set a flag, the loop stops the cluster.

        django-q2's own handler stops the cluster inside the handler; a second signal
        (PDEATHSIG after SIGTERM, or Ctrl+C twice) then re-enters it and blocks forever
        in a multiprocessing Event.
        """
        self.stop_requested = True

    def start(self) -> None:
        from django.conf import settings
        from django.db import connections
        from django_q.brokers import get_broker
        from django_q.cluster import Cluster

        from zerg_site.heartbeat import Heartbeat
        from zerg_site.models import ProcessHeartbeat

        connections.close_all()  # never share a database connection across fork()
        gc.collect()
        gc.freeze()  # keep what Django loaded out of the GC, so forked workers share its pages
        children_die_with_parent()
        self.cluster = Cluster(get_broker())
        signal.signal(signal.SIGTERM, self.request_stop)  # replaces the cluster's handlers
        signal.signal(signal.SIGINT, self.request_stop)
        self.heartbeat = Heartbeat(
            ProcessHeartbeat.WORKER,
            info={"workers": settings.Q_CLUSTER["workers"], "cluster": self.cluster.name},
        )
        # Commis jobs record the cluster that runs them: the forked workers inherit this.
        os.environ["ZERG_WORKER_NAME"] = self.heartbeat.name
        self.cluster.start()
        self.heartbeat.start()
        self.last_beat = time.monotonic()

    def parent_gone(self) -> bool:
        return self.supervised and os.getppid() != self.parent_pid

    def step(self) -> bool:
        """One turn of the loop; False when the cluster is gone and the loop should end."""
        from zerg_site.models import ProcessHeartbeat

        if self.stop_requested or self.parent_gone():
            self.release_commis()
            self.cluster.stop()
            return False
        if not (self.cluster.sentinel and self.cluster.sentinel.is_alive()):
            return False
        if time.monotonic() - self.last_beat >= ProcessHeartbeat.INTERVAL:
            self.heartbeat.beat()
            self.last_beat = time.monotonic()
        self.reclaim_commis()
        return True

    def reclaim_commis(self) -> None:
        """Every stale_threshold/2 seconds: re-queue commis jobs whose attempt died."""
        from django.conf import settings

        if time.monotonic() - self.last_reclaim < settings.ZERG.stale_threshold / 2:
            return
        self.last_reclaim = time.monotonic()
        try:
            from commis.jobs import reclaim_dead

            reclaim_dead()  # also notices a cluster on this host killed -9 at once, not in 15 s
        except Exception as exc:  # the database may be briefly unavailable
            print(f"zerg: commis reclaim failed: {exc}", file=sys.stderr)

    def release_commis(self) -> None:
        """Stopping: hand running commis jobs back to the queue, so their runners stop at once
        (they lose their lease) instead of the cluster waiting for them to finish."""
        try:
            from commis.jobs import release_worker

            self.released = release_worker(self.heartbeat.name)
        except Exception as exc:
            print(f"zerg: could not release commis jobs: {exc}", file=sys.stderr)

    def finish(self) -> None:
        if self.released:
            try:  # queue messages only now, so this stopping cluster does not take them again
                from commis.jobs import requeue_waiting

                requeue_waiting(self.released)
            except Exception:
                pass
        if self.heartbeat is not None:
            try:
                self.heartbeat.stop()
            except Exception:  # the database may be the reason we stop
                pass


def run(args) -> int:
    parent = os.getppid()
    if args.supervised:
        die_with_parent(signal.SIGTERM)
    setup_django(migrate=False)  # the server migrates; two migrating processes would race
    from commis.sauron import ensure_tick_safely

    ensure_tick_safely()  # Sauron's one django-q2 schedule (idempotent)
    from zerg_site.maintenance import ensure_schedules_quietly

    ensure_schedules_quietly()  # prune, checkpoint, optimize: django-q2 schedules (idempotent)
    runner = WorkerRunner(supervised=args.supervised, parent_pid=parent)
    runner.start()
    try:
        while runner.step():
            time.sleep(0.5)
    finally:
        runner.finish()
    return 0
