"""Checkpoint SQLite's write-ahead log into the database file and truncate it.

SQLite checkpoints on its own after commits, but only passively, and never shrinks the
WAL file: after a burst it stays at its high-water mark. Run hourly (scheduled by
zerg_site.maintenance), this brings it back to zero bytes. A TRUNCATE checkpoint makes
new writers wait while it waits for readers, so it gets a short busy timeout of its own:
if a reader is in the way it gives up (the next hour tries again) instead of holding
writers up to their timeout. Postgres: nothing to do.
"""

import sqlite3
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

BUSY_TIMEOUT_MS = 2000


def checkpoint_file(path: Path) -> tuple[int, int, int]:
    """(busy, WAL frames, frames checkpointed) after a TRUNCATE checkpoint of ``path``."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return tuple(conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone())
    finally:
        conn.close()


class Command(BaseCommand):
    help = "PRAGMA wal_checkpoint(TRUNCATE) on the SQLite database (and the agent checkpoints); no-op on Postgres."

    def handle(self, *args, **options):
        if connection.vendor != "sqlite":
            self.stdout.write(f"nothing to do: the database is {connection.vendor}, which has no SQLite WAL")
            return
        targets = [("database", Path(connection.settings_dict["NAME"]))]
        agent = Path(settings.ZERG.home) / "checkpoints.db"
        if agent.exists():
            targets.append(("agent checkpoints", agent))
        for label, path in targets:
            busy, frames, done = checkpoint_file(path)
            if busy:
                self.stdout.write(
                    f"{label}: a reader was in the way; checkpointed {done} of {frames} frames, "
                    "the WAL is truncated next time"
                )
            else:
                self.stdout.write(f"{label}: WAL checkpointed and truncated")
