"""Plain-SQL helpers of the Timeline's storage: batched inserts and lookups, the source files and
sessions a request touches, and SQLite's deferred full-text indexing.

Why plain SQL: the ORM cost ~12 queries per file, each with more Python around it than
SQLite needs to answer it. Here the source files of a request are read and created in two
or three statements, each file costs a few indexed lookups and executemany inserts, and the
sessions and source files touched are written back once, at the end, with one executemany
each. The same SQL runs on SQLite and Postgres (``ON CONFLICT DO NOTHING``; Postgres also
locks the rows it will update, ``FOR UPDATE``; SQLite's IMMEDIATE transaction already
serialises writers). Table and column names come from the models' ``_meta``: a field renamed
in ``timeline.models`` is renamed here too.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from timeline.indexer import index_range
from timeline.models import Event, Session, SourceFile
from timeline.storage.values import adapt_dt

SESSION_TABLE, SOURCE_FILE_TABLE, EVENT_TABLE = Session._meta.db_table, SourceFile._meta.db_table, Event._meta.db_table


def columns(model, names) -> tuple[str, ...]:
    """The database columns of ``model``'s fields ``names``."""
    return tuple(model._meta.get_field(name).column for name in names)


IN_BATCH = 500  # ids per IN (...) query: well under SQLite's variable limit


def batched(items, size=IN_BATCH):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
    """A ``SourceFile`` row while a request works on it (written back at the end)."""

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


def source_files(device: str, chunks: list) -> dict[str, FileRow]:
    """Every file of the request, created if new, in a few statements (locked on Postgres)."""
    providers = {}
    for chunk in chunks:
        providers.setdefault(chunk.path, chunk.provider)
    files: dict[str, FileRow] = {}

    def load(paths):
        for batch in batched(paths):
            for fid, path, sid, gen, size in fetch(
                f"SELECT {FILE_SELECT} FROM {SOURCE_FILE_TABLE} "
                f"WHERE {FILE_DEVICE} = %s AND {FILE_PATH} IN ({marks(len(batch))}) ORDER BY id{lock_clause()}",
                [device, *batch],
            ):
                files[path] = FileRow(fid, sid, gen, size)

    load(list(providers))
    missing = [p for p in providers if p not in files]
    if missing:
        now = adapt_dt(timezone.now())
        insert_ignore(SOURCE_FILE_TABLE, FILE_NEW_COLUMNS, [(device, p, providers[p], 0, 0, now) for p in missing])
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
        self.counted: dict[int, dict] = {}  # message id -> the event holding its usage (store._Held)

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
                self._keep(
                    self._query()
                    .filter(provider=provider, provider_session_id__in=batch, device=self.device)
                    .order_by("id")
                )
        missing = sorted(k for k in keys if k not in self.by_key)
        if missing and create:
            insert_ignore(SESSION_TABLE, *self._new_rows(missing))
            self.load(set(), set(missing), create=False)
            if serialised():
                self.fresh.update(self.by_key[k].id for k in missing)

    def _new_rows(self, missing: list[tuple[str, str]]) -> tuple[tuple, list[tuple]]:
        """(columns, rows) for sessions not stored yet: every column as the model would write it (its
        defaults), adapted once per request rather than once per session (~0.3 ms each)."""
        fields = [f for f in Session._meta.concrete_fields if not f.primary_key]
        template = Session(provider="", provider_session_id="", device=self.device)
        row = [f.get_db_prep_save(f.pre_save(template, True), connection) for f in fields]  # auto_now too
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
            rows.append(
                (
                    s.parent_id,
                    s.project,
                    s.cwd,
                    s.device,
                    s.git_remote,
                    s.git_branch,
                    s.git_commit,
                    s.title,
                    s.prompt,
                    s.model,
                    s.version,
                    adapt_dt(s.started_at),
                    adapt_dt(s.ended_at),
                    s.input_tokens,
                    s.output_tokens,
                    s.cache_read_tokens,
                    s.cache_creation_tokens,
                    s.cost_usd,
                    s.cost_partial,
                    s.event_count,
                    s.malformed_count,
                    s.unknown_count,
                    adapt_dt(now),
                    s.id,
                )
            )
        if rows:
            with connection.cursor() as cursor:
                cursor.executemany(SESSION_UPDATE, rows)


# What an ingest changes of a session, in the order Sessions.save builds its rows.
SESSION_COLUMNS = columns(
    Session,
    (
        "parent",
        "project",
        "cwd",
        "device",
        "git_remote",
        "git_branch",
        "git_commit",
        "title",
        "prompt",
        "model",
        "version",
        "started_at",
        "ended_at",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_creation_tokens",
        "cost_usd",
        "cost_partial",
        "event_count",
        "malformed_count",
        "unknown_count",
        "updated_at",
    ),
)
SESSION_UPDATE = (
    f"UPDATE {SESSION_TABLE} SET {', '.join(f'{c} = %s' for c in SESSION_COLUMNS)} WHERE {Session._meta.pk.column} = %s"
)
FILE_SELECT = ", ".join(columns(SourceFile, ("id", "path", "session", "generation", "size")))
FILE_DEVICE, FILE_PATH = columns(SourceFile, ("device", "path"))
FILE_NEW_COLUMNS = columns(SourceFile, ("device", "path", "provider", "generation", "size", "updated_at"))


def defer_indexing() -> int | None:
    """SQLite: index this request's events in one statement at the end (timeline migration 0003).

    Returns the largest event id before the request (ids only grow: AUTOINCREMENT), or None on
    Postgres, where the search column is generated per row by the database.
    """
    if connection.vendor != "sqlite":
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {EVENT_TABLE}")
        since = cursor.fetchone()[0]
        cursor.execute("INSERT INTO timeline_fts_deferred (since) VALUES (%s)", [since])
    return since


def index_deferred(since: int, later: bool = False) -> None:
    """Index the request's events now, or (``later``) queue their id range for the background
    indexer (``timeline.indexer``); either way inside the request's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT max(id) FROM {EVENT_TABLE} WHERE id > %s", [since])
        last = cursor.fetchone()[0]
        if last is not None and later:
            cursor.execute("INSERT INTO timeline_fts_pending (start_id, end_id) VALUES (%s, %s)", [since + 1, last])
        elif last is not None:
            index_range(cursor, since + 1, last)
        cursor.execute("DELETE FROM timeline_fts_deferred")
