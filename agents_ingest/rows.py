"""Plain-SQL helpers of the ingest: batched inserts and lookups, the source files and sessions
a request touches, and SQLite's deferred full-text indexing.

Why plain SQL: the ORM cost ~12 queries per file, each with more Python around it than
SQLite needs to answer it. Here the source files of a request are read and created in two
or three statements, each file costs a few indexed lookups and executemany inserts, and the
sessions and source files touched are written back once, at the end, with one executemany
each. The same SQL runs on SQLite and Postgres (``ON CONFLICT DO NOTHING``; Postgres also
locks the rows it will update, ``FOR UPDATE``; SQLite's IMMEDIATE transaction already
serialises writers).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import timedelta
from datetime import timezone as dt_timezone
from typing import TYPE_CHECKING

from django.db import connection
from django.utils import timezone

from agents_ingest.parsers.base import orjson
from timeline.models import Session

if TYPE_CHECKING:
    from agents_ingest.ingest import FileChunk

IN_BATCH = 500  # ids per IN (...) query: well under SQLite's variable limit


def batched(items, size=IN_BATCH):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


# Bulk inserts are plain executemany: Django's bulk_create spends most of an ingest preparing
# values field by field. Values are adapted here the way the fields would adapt them.
@functools.cache
def sqlite_utc() -> bool:
    """SQLite with the connection in UTC (always, under zerg's settings): datetimes are naive UTC text."""
    return connection.vendor == "sqlite" and connection.timezone_name == "UTC"


def adapt_dt(value):
    if value is None:
        return None
    if value.tzinfo is not None and sqlite_utc():
        # What adapt_datetimefield_value returns (naive UTC, str), without its per-call checks;
        # str() of a UTC time ends in "+00:00".
        if value.utcoffset() == ZERO:
            return str(value)[:-6]
        return str(value.astimezone(dt_timezone.utc).replace(tzinfo=None))
    return connection.ops.adapt_datetimefield_value(value)


ZERO = timedelta(0)


def adapt_json(value):
    if connection.vendor == "postgresql":
        from psycopg.types.json import Jsonb

        return Jsonb(value)
    try:
        return orjson().dumps(value).decode()
    except TypeError:  # integers beyond 64 bits, keys that are not strings
        return json.dumps(value)


def insert(table: str, columns: tuple, rows: list, suffix: str = "") -> None:
    if not rows:
        return
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {table} ({quoted}) VALUES ({marks}){suffix}"
    with connection.cursor() as cursor:
        for batch in batched(rows, 2000):
            cursor.executemany(sql, batch)


def insert_ignore(table: str, columns: tuple, rows: list) -> None:
    insert(table, columns, rows, " ON CONFLICT DO NOTHING")


@dataclass
class FileRow:
    """A ``timeline_sourcefile`` row while a request works on it (written back at the end)."""

    id: int
    session_id: int | None
    generation: int
    size: int
    fresh: bool = False  # created by this request (SQLite only): nothing of it is stored yet


def lock_clause() -> str:
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


def fetch(sql: str, params) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def marks(n: int) -> str:
    return ", ".join(["%s"] * n)


def source_files(device: str, chunks: list[FileChunk]) -> dict[str, FileRow]:
    """Every file of the request, created if new, in a few statements (locked on Postgres)."""
    providers = {}
    for chunk in chunks:
        providers.setdefault(chunk.path, chunk.provider)
    files: dict[str, FileRow] = {}

    def load(paths):
        for batch in batched(paths):
            for fid, path, sid, gen, size in fetch(
                    "SELECT id, path, session_id, generation, size FROM timeline_sourcefile "
                    f"WHERE device = %s AND path IN ({marks(len(batch))}) ORDER BY id{lock_clause()}",
                    [device, *batch]):
                files[path] = FileRow(fid, sid, gen, size)

    load(list(providers))
    missing = [p for p in providers if p not in files]
    if missing:
        now = adapt_dt(timezone.now())
        insert_ignore("timeline_sourcefile", ("device", "path", "provider", "generation", "size", "updated_at"),
                       [(device, p, providers[p], 0, 0, now) for p in missing])
        load(missing)
        if serialised():
            for path in missing:
                files[path].fresh = True
    return files


def serialised() -> bool:
    """True when no other writer can interleave with this transaction (SQLite's IMMEDIATE lock), so a
    row this request created holds only what this request wrote: its lookups can be skipped.
    (On Postgres a concurrent request may have created the same row an instant earlier.)"""
    return connection.vendor == "sqlite"


class Sessions:
    """The sessions a request touches, one object each: read in one query, written back in one executemany."""

    def __init__(self, device: str):
        self.device = device
        self.by_id: dict[int, Session] = {}
        self.by_key: dict[tuple[str, str], Session] = {}
        self.dirty: dict[int, Session] = {}
        self.fresh: set[int] = set()  # created by this request (see serialised())
        self.keys: dict[int, set[str]] = {}  # event keys stored by this request, per session
        self.counted: dict[int, dict] = {}  # message id -> the event holding its usage (ingest._Held)

    def _keep(self, sessions) -> None:
        for session in sessions:
            self.by_id[session.id] = session
            if session.device == self.device:  # a session id names one of this device's sessions only
                self.by_key[(session.provider, session.provider_session_id)] = session

    def _query(self):
        query = Session.objects.all()
        return query.select_for_update() if connection.features.has_select_for_update else query

    def load(self, ids: set[int], keys: set[tuple[str, str]], create: bool = True) -> None:
        """Read (and on Postgres lock) these sessions, creating the (provider, id) pairs this device has
        no session of yet."""
        keys = {(p, sid[:200]) for p, sid in keys} - set(self.by_key)
        ids = set(ids) - set(self.by_id)
        for batch in batched(sorted(ids)):
            self._keep(self._query().filter(id__in=batch).order_by("id"))
        for provider in {p for p, _ in keys}:
            sids = sorted(sid for p, sid in keys if p == provider)
            for batch in batched(sids):
                self._keep(self._query().filter(provider=provider, provider_session_id__in=batch, device=self.device)
                           .order_by("id"))
        missing = sorted(k for k in keys if k not in self.by_key)
        if missing and create:
            insert_ignore("timeline_session", *self._new_rows(missing))
            self.load(set(), set(missing), create=False)
            if serialised():
                self.fresh.update(self.by_key[k].id for k in missing)

    def _new_rows(self, missing: list[tuple[str, str]]) -> tuple[tuple, list[tuple]]:
        """(columns, rows) for sessions not stored yet: every column as the model would write it (its
        defaults), adapted once per request rather than once per session (~0.3 ms each)."""
        fields = [f for f in Session._meta.concrete_fields if not f.primary_key]
        template = Session(provider="", provider_session_id="", device=self.device)
        row = [f.get_db_prep_save(getattr(template, f.attname), connection) for f in fields]
        names = [f.attname for f in fields]
        at_provider, at_sid = names.index("provider"), names.index("provider_session_id")
        rows = []
        for provider, sid in missing:
            row[at_provider], row[at_sid] = provider, sid
            rows.append(tuple(row))
        return tuple(f.column for f in fields), rows

    def get(self, pk: int) -> Session:
        if pk not in self.by_id:
            self.load({pk}, set())
        return self.by_id[pk]

    def get_or_create(self, provider: str, provider_sid: str) -> Session:
        key = (provider, provider_sid[:200])
        if key not in self.by_key:
            self.load(set(), {key})
        return self.by_key[key]

    def save(self) -> None:
        """One UPDATE per changed session, in one executemany."""
        now = timezone.now()
        rows = []
        for s in self.dirty.values():
            s.updated_at = now
            rows.append((s.parent_id, s.project, s.cwd, s.device, s.git_remote, s.git_branch, s.git_commit, s.title,
                         s.model, s.version, adapt_dt(s.started_at), adapt_dt(s.ended_at), s.input_tokens,
                         s.output_tokens, s.cache_read_tokens, s.cache_creation_tokens, s.cost_usd, s.cost_partial,
                         s.event_count, s.malformed_count, s.unknown_count, adapt_dt(now), s.id))
        if rows:
            sets = ", ".join(f"{c} = %s" for c in SESSION_COLUMNS)
            with connection.cursor() as cursor:
                cursor.executemany(f"UPDATE timeline_session SET {sets} WHERE id = %s", rows)


SESSION_COLUMNS = ("parent_id", "project", "cwd", "device", "git_remote", "git_branch", "git_commit", "title", "model",
                   "version", "started_at", "ended_at", "input_tokens", "output_tokens", "cache_read_tokens",
                   "cache_creation_tokens", "cost_usd", "cost_partial", "event_count", "malformed_count", "unknown_count",
                   "updated_at")


def defer_indexing() -> int | None:
    """SQLite: index this request's events in one statement at the end (timeline migration 0003).

    Returns the largest event id before the request (ids only grow: AUTOINCREMENT), or None on
    Postgres, where the search column is generated per row by the database.
    """
    if connection.vendor != "sqlite":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM timeline_event")
        since = cursor.fetchone()[0]
        cursor.execute("INSERT INTO timeline_fts_deferred (since) VALUES (%s)", [since])
    return since


def index_deferred(since: int, later: bool = False) -> None:
    """Index the request's events now, or (``later``) queue their id range for the background
    indexer (``timeline.indexer``); either way inside the request's transaction."""
    from timeline.indexer import index_range

    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM timeline_event WHERE id > %s", [since])
        last = cursor.fetchone()[0]
        if last is not None and later:
            cursor.execute("INSERT INTO timeline_fts_pending (start_id, end_id) VALUES (%s, %s)", [since + 1, last])
        elif last is not None:
            index_range(cursor, since + 1, last)
        cursor.execute("DELETE FROM timeline_fts_deferred")
