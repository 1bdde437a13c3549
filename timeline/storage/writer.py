"""The Timeline's storage: a request's parsed files into the archive, events and sessions.

:func:`store` is the one write path (the ingest API, the import command and commis all reach
it through ``agents_ingest.ingest.ingest_files``, which parses first). It runs in the caller's
transaction and is idempotent: sending the same bytes twice stores nothing new; a rewritten
file (a new ``generation``) is archived as that generation, and only its events that were not
already there are stored. Usage counts once per response (``timeline.usage``) and is priced
as it is stored (``timeline.pricing``).

The archive's chunks are staged and inserted by ``archive``; the other SQL (batched inserts and
lookups, one read and one write-back of the request's source files and sessions, SQLite's
deferred full-text indexing) is in ``rows``. Table and column names come from the models.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from timeline.models import Event, Session, SourceFile
from timeline.pricing import add_cost, response_cost
from timeline.storage.archive import Archive
from timeline.storage.files import FileChunk, FileResult, PreparedFile
from timeline.storage.rows import (
    EVENT_TABLE,
    SOURCE_FILE_TABLE,
    FileRow,
    Sessions,
    batched,
    columns,
    defer_indexing,
    fetch,
    index_deferred,
    insert,
    marks,
    source_files,
)
from timeline.storage.values import adapt_dt, adapt_json
from timeline.titles import prompt_title
from timeline.usage import add_usage, instant, later_snapshot
from zerg_site.events import publish
from zerg_site.gitcheck import GitValueError, check_commit, check_remote

log = logging.getLogger("zerg.ingest")

# Every column of an event, in the model's field order: the order _store_events builds its rows in.
# A field added to Event fails every insert (a value short) until the row gains it too.
EVENT_COLUMNS = tuple(f.column for f in Event._meta.concrete_fields if not f.primary_key)
E_SESSION, E_KEY, E_MESSAGE, E_USAGE, E_MODEL = (
    connection.ops.quote_name(c) for c in columns(Event, ("session", "key", "message_id", "usage", "model"))
)
RELEASE_USAGE = f"UPDATE {EVENT_TABLE} SET {E_USAGE} = NULL WHERE {E_SESSION} = %s AND {E_KEY} = %s"
FILE_UPDATE = (
    f"UPDATE {SOURCE_FILE_TABLE} SET "
    + ", ".join(
        f"{connection.ops.quote_name(c)} = %s"
        for c in columns(SourceFile, ("generation", "size", "session", "updated_at"))
    )
    + " WHERE id = %s"
)

__all__ = ["FileChunk", "FileResult", "PreparedFile", "checkpoints_left_to_indexer", "store"]


def _clean(value: str) -> str:
    # Postgres text cannot hold NUL; keep both databases alike (the raw line keeps the byte).
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


@contextlib.contextmanager
def checkpoints_left_to_indexer(index_later: bool):
    """SQLite: a commit that finds the WAL past 1,000 pages copies it into the database file there
    and then (a checkpoint). When the background indexer runs, it checkpoints after indexing, on
    the other core; the request only writes the WAL and syncs it."""
    if not (index_later and connection.vendor == "sqlite"):
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        pages = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA wal_autocheckpoint={pages}")


def store(device: str, prepared: list[PreparedFile], index_later: bool = False) -> dict:
    """Store the prepared files of one request; returns the response document (``files`` and totals).

    Runs in the caller's transaction (``transaction.atomic()``): the caller adds its own writes to
    the same commit, one fsync per request. ``index_later``: leave SQLite's full-text indexing of the
    new events to the background indexer (``timeline.indexer``).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("timeline.storage.store runs inside the caller's transaction.atomic()")
    chunks = [prep.chunk for prep in prepared]
    results = []
    touched: dict[int, Session] = {}
    deferred = defer_indexing() if chunks else None
    files = source_files(device, chunks) if chunks else {}
    # First the lines of every file (archive, layout, parse), then the sessions they need in
    # one read, then the events file by file, in request order.
    archive = Archive()
    staged = [_store_lines(prep, files[prep.chunk.path], archive) for prep in prepared]
    archive.insert()
    sessions = Sessions(device)
    ids, keys = set(), set()
    for _, parsed in staged:
        if parsed is not None:
            ids.update(parsed.session_ids())
            keys.update(parsed.session_keys())
    sessions.load(ids, keys)
    for chunk, (result, parsed) in zip(chunks, staged, strict=True):
        session = _store_parsed(chunk, parsed, result, sessions, archive) if parsed is not None else None
        results.append(result)
        if session is not None:
            touched[session.id] = session
    sessions.save()
    if deferred is not None:
        index_deferred(deferred, later=index_later)
    now = adapt_dt(timezone.now())
    with connection.cursor() as cursor:
        cursor.executemany(FILE_UPDATE, [(f.generation, f.size, f.session_id, now, f.id) for f in files.values()])
    totals = {
        "lines_stored": sum(r.lines_stored for r in results),
        "lines_duplicate": sum(r.lines_duplicate for r in results),
        "events_stored": sum(r.events_stored for r in results),
        "lines_malformed": sum(len(r.malformed) for r in results),
    }
    if totals["lines_stored"] or totals["events_stored"]:
        _publish(device, totals, touched)  # in the same commit: one fsync per request
    return {"files": [r.as_dict() for r in results], **totals}


def _publish(device: str, totals: dict, sessions: dict) -> None:
    try:
        with transaction.atomic():  # a savepoint: a failure here leaves the ingest's transaction usable
            publish("timeline", "timeline.ingested", {"device": device, **totals, "sessions": sorted(sessions)[:200]})
    except Exception:  # the archive is stored; a lost notification only delays a UI refresh
        log.exception("could not publish timeline.ingested")


@dataclass
class _Parsed:
    """One file's new events and metadata, between storing its lines and storing its events."""

    sf: FileRow
    keyed: list  # (ParsedEvent, key, position of its chunk in the request's Archive)
    meta: object  # SessionMeta or None
    store: bool  # events (or a first session link) to store
    malformed: list = field(default_factory=list)  # (offset, error) of the new lines

    def session_ids(self) -> set[int]:
        return ({self.sf.session_id} if self.sf.session_id else set()) | self._ids

    def session_keys(self) -> set[tuple[str, str]]:
        return self._keys

    _keys: set = field(default_factory=set)
    _ids: set = field(default_factory=set)


def _store_lines(prep: PreparedFile, sf: FileRow, archive: Archive) -> tuple[FileResult, _Parsed | None]:
    """Stage the entry's new lines in the archive and pick their events."""
    chunk, pieces = prep.chunk, prep.pieces
    result = FileResult(path=chunk.path, generation=chunk.generation)
    gemini = chunk.provider == "gemini"
    end = chunk.offset + prep.complete
    if chunk.generation < sf.generation:
        # An older version of a file that has since been rewritten: nothing to keep.
        result.stale = True
        result.acked_offset = end
        return result, None
    if chunk.generation > sf.generation:
        sf.generation, sf.size = chunk.generation, 0
    fresh, sf.fresh = sf.fresh, False  # a second entry for this file in the request must see this one
    stored_end = sf.size
    if gemini:
        first_new = 0
        stored = None if fresh or not pieces else archive.stored_document(sf)
        if stored is not None and stored[1] == prep.runs[0].digest:
            first_new = len(pieces)  # the same document again
        elif stored is not None:
            archive.supersede(stored[0])  # rewritten in place: the new document replaces it (both kept)
        if first_new < len(pieces):
            sf.size = prep.complete
    elif chunk.offset > sf.size:
        # A gap: the server holds [0, size) of this generation. Nothing is stored; the acknowledgement
        # stays at the contiguous end, from where the Shipper sends again.
        result.acked_offset = sf.size
        return result, None
    else:
        first_new = next((i for i, (_, o) in enumerate(pieces) if o >= sf.size), len(pieces))  # [0, size) is stored
        if first_new < len(pieces) and pieces[first_new][1] != sf.size:
            # Lines that do not line up with the stored ones: not the same bytes (the file changed
            # without a new generation). Store nothing; the ack says where the server's copy ends.
            result.acked_offset = sf.size
            return result, None
        sf.size = max(sf.size, end)
    new_pieces = pieces[first_new:]
    result.lines_duplicate = first_new
    result.lines_stored = len(new_pieces)
    result.acked_offset = sf.size
    if not new_pieces and sf.session_id is not None:
        return result, _Parsed(sf, [], None, False)
    if first_new == 0:
        positions = archive.add(sf, sf.generation, prep.runs)
    else:  # a re-sent overlap: archive only the new part
        positions = [None] * first_new + archive.stage(sf, sf.generation, new_pieces, document=gemini)
    keyed = [(e, key, positions[index]) for e, key, index in prep.events if index >= first_new]
    meta = prep.meta
    parsed = _Parsed(
        sf,
        keyed,
        meta,
        meta is not None and bool(keyed or sf.session_id),
        [(o, e) for o, e in meta.malformed if gemini or o >= stored_end] if meta else [],
    )
    if parsed.store:
        if chunk.session is not None:
            parsed._ids.add(chunk.session)
        elif not sf.session_id:
            parsed._keys.add((chunk.provider, meta.session_id or os.path.splitext(os.path.basename(chunk.path))[0]))
        parent_sid = chunk.parent_session or meta.parent_session_id
        if parent_sid:
            parsed._keys.add((chunk.provider, parent_sid))
    return result, parsed


def _store_parsed(
    chunk: FileChunk, parsed: _Parsed, result: FileResult, sessions: Sessions, archive: Archive
) -> Session | None:
    """Attach the parsed events to their session and store the ones it does not have yet."""
    sf, session = parsed.sf, None
    if parsed.store:
        result.malformed = parsed.malformed
        session = _session_for(chunk, sf, parsed.meta, sessions, result)
        result.events_stored = _store_events(session, parsed.keyed, chunk.provider, sessions, archive)
        sessions.dirty[session.id] = session
    elif sf.session_id:
        session = sessions.get(sf.session_id)
    if session is not None:
        result.session_id = session.id
    return session


def _project(provider: str, path: str, cwd: str) -> str:
    if cwd:
        return os.path.basename(cwd.rstrip("/")) or cwd
    if provider == "claude":  # ~/.claude/projects/<project>/<session>.jsonl
        parts = path.split("/")
        if "projects" in parts:
            i = parts.index("projects")
            if i + 1 < len(parts):
                return parts[i + 1]
    return ""


def _session_for(chunk: FileChunk, sf: FileRow, meta, sessions: Sessions, result: FileResult) -> Session:
    device = sessions.device
    session = sessions.get(sf.session_id) if sf.session_id else None
    if chunk.session is not None:  # a trusted caller names the session (a commis continuation)
        session = sessions.by_id.get(chunk.session, session)
    elif session is not None and session.device != device:
        # A file linked to another device's session before sessions were kept apart per device: its
        # new lines go to this device's own session, never to the other device's.
        session = None
    if session is None:
        sid = meta.session_id or os.path.splitext(os.path.basename(chunk.path))[0]
        session = sessions.get_or_create(chunk.provider, sid)
    sf.session_id = session.id
    parent_sid = chunk.parent_session or meta.parent_session_id
    if parent_sid and session.parent_id is None and parent_sid != session.provider_session_id:
        session.parent = sessions.get_or_create(chunk.provider, parent_sid)  # this device's session of that id
    session.device = session.device or device
    # Where the session lives (its directory and repository) is what its own device says. A session
    # continued elsewhere (a commis resuming it on the server) writes its new lines in another
    # directory: they add events, they do not move the session.
    at_home = session.device == device
    for attr in ("cwd", "git_branch", "version", "model", "title") if at_home else ("version", "model", "title"):
        value = getattr(meta, attr)
        if value:
            setattr(session, attr, value[:300] if attr in ("git_branch",) else value)
    session.model = session.model[:100]
    session.version = session.version[:50]
    if at_home:
        _set_git(session, {"remote": meta.git_remote, "commit": meta.git_commit}, "the session's git", result)
        _set_git(session, chunk.git or {}, "git", result)
    session.project = session.project or _project(chunk.provider, chunk.path, session.cwd)[:300]
    started, ended = instant(meta.started_at), instant(meta.ended_at)
    if started and (session.started_at is None or started < session.started_at):
        session.started_at = started
    if ended and (session.ended_at is None or ended > session.ended_at):
        session.ended_at = ended
    return session


def _set_git(session: Session, git: dict, where: str, result: FileResult) -> None:
    """Store a device's git remote, branch and commit, all or nothing: commis later clones the remote
    and checks out the commit, so a remote that is not a URL or repository git may clone, or a commit
    that is not 40/64 hex digits, is left out (with the reason in the file's ``ignored``)."""
    remote, branch, commit = (str(git.get(k) or "") for k in ("remote", "branch", "commit"))
    try:
        remote = check_remote(remote) if remote else ""
        commit = check_commit(commit) if commit else ""
    except GitValueError as exc:
        result.ignored.append(f"{where}: {exc}; the git remote, branch and commit were not stored")
        log.warning("%s: %s: %s", session.device, result.path, exc)
        return
    if remote:
        session.git_remote = remote
    if branch:
        session.git_branch = branch[:300]
    if commit:
        session.git_commit = commit


class _Stamps(dict):
    """Event timestamp (text) -> its column value: the blocks of a line share their line's timestamp."""

    def __missing__(self, ts):
        value = self[ts] = adapt_dt(instant(ts))
        return value


class _Held:
    """The event that holds a message id's usage: its key, usage and model."""

    __slots__ = ("key", "model", "usage")

    def __init__(self, key: str, usage: dict, model: str):
        self.key, self.usage, self.model = key, usage, model


def _release(session: Session, held: _Held, provider: str, released: list) -> None:
    """Take back a usage a later snapshot of the same response replaces: out of the session's totals
    and cost now, off its event (by key) once the request's rows are inserted."""
    add_usage(session, held.usage, provider, -1)
    cost = response_cost(provider, held.model or session.model, held.usage)
    if cost is not None and session.cost_usd is not None:
        session.cost_usd -= cost
    released.append((session.id, held.key))


def _store_events(session: Session, keyed: list, provider: str, sessions: Sessions, archive: Archive) -> int:
    # Drop what the session already has (same key). Usage counts once per message id (Codex: per
    # running total): the first line's, unless a later line of the same response carries a later
    # snapshot (Claude Code writes a line per content block), which then replaces it. A session
    # this request created has only what the request stored (kept in memory).
    existing = sessions.keys.setdefault(session.id, set())
    counted = sessions.counted.setdefault(session.id, {})
    fresh = session.id in sessions.fresh
    keys = [] if fresh else list(dict.fromkeys(k[:100] for _, k, _ in keyed))
    for batch in batched(keys):
        existing.update(
            k
            for (k,) in fetch(
                f"SELECT {E_KEY} FROM {EVENT_TABLE} WHERE {E_SESSION} = %s AND {E_KEY} IN ({marks(len(batch))})",
                [session.id, *batch],
            )
        )
    usage_ids = [] if fresh else list({e.message_id for e, _, _ in keyed if e.usage and e.message_id})
    for batch in batched([m for m in usage_ids if m not in counted]):
        for mid, key, usage, model in fetch(
            f"SELECT {E_MESSAGE}, {E_KEY}, {E_USAGE}, {E_MODEL} FROM {EVENT_TABLE} WHERE {E_SESSION} = %s "
            f"AND {E_USAGE} IS NOT NULL AND {E_MESSAGE} IN ({marks(len(batch))})",
            [session.id, *batch],
        ):
            usage = json.loads(usage) if isinstance(usage, str) else usage
            counted[mid] = _Held(key, usage if isinstance(usage, dict) else {}, model)
    rows: list[tuple] = []
    released: list[tuple] = []
    seen = existing
    ordinal = session.event_count
    malformed = unknown = 0
    stamp_of = _Stamps()
    chunk_id = archive.chunk_id
    with_offset = provider != "gemini"
    for e, key, position in keyed:
        key = key[:100]
        if key in seen:
            continue
        seen.add(key)
        if not session.prompt and e.kind == "message" and e.role == "user":  # until the first one is found
            session.prompt = prompt_title(e.text)
        usage = e.usage
        if usage and e.message_id:
            held = counted.get(e.message_id[:200])
            if held is not None and provider == "claude" and later_snapshot(usage, held.usage):
                _release(session, held, provider, released)
                held = None
            if held is None:
                counted[e.message_id[:200]] = _Held(key, usage, e.model)
            else:
                usage = None
        if usage:
            add_usage(session, usage, provider)
            add_cost(session, response_cost(provider, e.model or session.model, usage))
        malformed += e.kind == "malformed"
        unknown += e.kind == "unknown"
        rows.append(
            (
                session.id,
                ordinal,
                key,
                e.kind,
                e.role[:20],
                e.record_type[:100],
                _clean(e.text),
                _clean(e.tool_name[:200]),
                _clean(e.tool_input),
                _clean(e.tool_output),
                e.tool_call_id[:200],
                e.message_id[:200],
                adapt_json(usage) if usage is not None else None,
                e.model[:100],
                stamp_of[e.timestamp],
                e.uuid[:100],
                e.parent_uuid[:100],
                e.is_sidechain,
                chunk_id(position),
                e.offset if with_offset else None,
            )
        )
        ordinal += 1
    if rows:
        insert(EVENT_TABLE, EVENT_COLUMNS, rows)
    if released:  # after the insert: a replaced usage may be on a row of this very request
        with connection.cursor() as cursor:
            cursor.executemany(RELEASE_USAGE, released)
    session.event_count = ordinal
    session.malformed_count += malformed
    session.unknown_count += unknown
    return len(rows)
