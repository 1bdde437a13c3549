"""SQLite full-text indexing of ingested events, off the ingest's request (Postgres: nothing to do,
its tsvector column is computed by the database on insert).

Indexing a request's events is a quarter of an ingest's time on SQLite, and it is C code that
runs without Python's GIL. So under ``zerg serve`` an ingest request does not index what it
stores: in its own transaction it records the id range it inserted in
``timeline_fts_pending`` (timeline migration 0005), and this module's background thread
indexes the range right after the commit, on its own connection, while the next request is
being parsed on the other core.

Nothing is ever unsearchable for a reader: :func:`timeline.search.search` indexes whatever is
pending before it queries (usually nothing: one indexed lookup). A range survives a crash in
the table and is indexed by the next search, the thread's first pass at the next start, or
the daily ``optimize_search``. The delete / update triggers leave pending rows alone, so
pruning or editing an event before it is indexed cannot unbalance the index.
"""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections, connection, transaction

log = logging.getLogger("zerg.timeline")

RANGES_PER_TRANSACTION = 16  # about 16 ingest requests' worth: the write lock is held briefly
COLUMNS = "text, tool_name, tool_input, tool_output, facets"


def index_range(cursor, start: int, end: int) -> None:
    """Index events ``start..end`` from the capped view FTS5 reads (inside the caller's transaction)."""
    cursor.execute(
        f"INSERT INTO timeline_event_fts (rowid, {COLUMNS}) SELECT id, {COLUMNS} "
        "FROM timeline_event_fts_src WHERE id BETWEEN %s AND %s",
        [start, end],
    )


def has_pending() -> bool:
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM timeline_fts_pending LIMIT 1")
        return cursor.fetchone() is not None


def index_pending() -> int:
    """Index every pending range (a few at a time); returns how many ranges were indexed."""
    done = 0
    while has_pending():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT start_id, end_id FROM timeline_fts_pending ORDER BY start_id LIMIT {RANGES_PER_TRANSACTION}"
            )
            ranges = cursor.fetchall()
            for start, end in ranges:
                index_range(cursor, start, end)
                cursor.execute("DELETE FROM timeline_fts_pending WHERE start_id = %s AND end_id = %s", [start, end])
        done += len(ranges)
    return done


class Indexer(threading.Thread):
    """The background thread of ``zerg serve``: indexes pending ranges when woken (and every minute)."""

    def __init__(self):
        super().__init__(name="timeline-indexer", daemon=True)
        self.wakeup = threading.Event()
        self.stopping = False

    def step(self) -> int:
        try:
            done = index_pending()
            if done:  # the ingest requests leave checkpoints to this thread (agents_ingest.ingest)
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            return done
        except Exception:  # e.g. the database is busy for longer than busy_timeout: the next pass retries
            log.exception("full-text indexing failed; it will be retried")
            return 0
        finally:
            close_old_connections()

    def run(self) -> None:
        while not self.stopping:
            self.step()
            self.wakeup.wait(60)
            self.wakeup.clear()
        connection.close()

    def stop(self) -> None:
        self.stopping = True
        self.wakeup.set()


_indexer: Indexer | None = None
_lock = threading.Lock()


def start() -> bool:
    """Start this process's indexer (``zerg serve``, SQLite only); True if it runs."""
    global _indexer
    if connection.vendor != "sqlite":
        return False
    with _lock:
        if _indexer is None:
            _indexer = Indexer()
            _indexer.start()
    return True


def running() -> bool:
    return _indexer is not None and _indexer.is_alive()


def wake() -> None:
    if _indexer is not None:
        _indexer.wakeup.set()


def stop() -> None:
    global _indexer
    with _lock:
        if _indexer is not None:
            _indexer.stop()
            _indexer.join(timeout=30)
            _indexer = None
