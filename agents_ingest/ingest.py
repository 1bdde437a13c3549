"""Store shipped session files: raw lines once, parsed events once, sessions updated.

:func:`ingest_files` is the one entry point (the HTTP API, the import command and
commis all use it). It runs in a single short transaction per call (one commit, so one
fsync per request with synchronous=FULL) and is idempotent: sending the same bytes twice
stores nothing new; re-sending a rewritten file (a new ``generation``) stores only the
lines and events that were not already there.

The SQL itself (batched inserts and lookups, one read and one write-back of the request's
source files and sessions, SQLite's deferred full-text indexing) is in ``rows``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from agents_ingest.parsers import PROVIDERS, line_parser, parse_document
from agents_ingest.parsers.base import complete_length, iter_lines
from agents_ingest.parsers.claude import is_subagent_path
from agents_ingest.rows import (FileRow, Sessions, adapt_dt, adapt_json, batched, defer_indexing, fetch, index_deferred,
                                 insert, insert_ignore, marks, source_files)
from timeline.models import Session

log = logging.getLogger("zerg.ingest")



class IngestError(ValueError):
    """A file entry the request cannot contain (bad provider, bad offset...): the whole request is refused."""


@dataclass
class FileChunk:
    provider: str
    path: str
    data: bytes
    offset: int = 0
    generation: int = 0
    git: dict | None = None
    parent_session: str | None = None


@dataclass
class FileResult:
    path: str
    generation: int
    acked_offset: int = 0
    lines_stored: int = 0
    lines_duplicate: int = 0
    events_stored: int = 0
    malformed: list = field(default_factory=list)
    session_id: int | None = None
    stale: bool = False

    def as_dict(self) -> dict:
        out = {"path": self.path, "generation": self.generation, "acked_offset": self.acked_offset,
               "lines_stored": self.lines_stored, "lines_duplicate": self.lines_duplicate,
               "events_stored": self.events_stored,
               "malformed": [{"offset": o, "error": e} for o, e in self.malformed],
               "session_id": self.session_id}
        if self.stale:
            out["stale"] = True
        return out


def line_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:32]


def _clean(value: str) -> str:
    # Postgres text cannot hold NUL; keep both databases alike (the raw line keeps the byte).
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _dt(value) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


EVENT_COLUMNS = ("session_id", "ordinal", "key", "kind", "role", "record_type", "text", "tool_name", "tool_input",
                 "tool_output", "tool_call_id", "message_id", "usage", "model", "timestamp", "uuid", "parent_uuid",
                 "is_sidechain", "line_id", "offset")


def validate(chunk: FileChunk) -> None:
    if chunk.provider not in PROVIDERS:
        raise IngestError(f"{chunk.path}: unknown provider {chunk.provider!r} (use one of {', '.join(PROVIDERS)})")
    if not chunk.path or len(chunk.path) > 4096:
        raise IngestError("every file needs a path (at most 4096 characters)")
    if chunk.offset < 0 or chunk.generation < 0:
        raise IngestError(f"{chunk.path}: offset and generation must be >= 0")
    if chunk.provider == "gemini" and chunk.offset != 0:
        raise IngestError(f"{chunk.path}: a Gemini document is sent whole, at offset 0")


def ingest_files(device: str, chunks: list[FileChunk]) -> dict:
    """Store the chunks in one transaction; returns the response document."""
    for chunk in chunks:
        validate(chunk)
    results = []
    touched: dict[int, Session] = {}
    with transaction.atomic():
        deferred = defer_indexing() if chunks else None
        files = source_files(device, chunks) if chunks else {}
        # First the lines of every file (archive, layout, parse), then the sessions they need in
        # one read, then the events file by file, in request order.
        staged = [_store_lines(chunk, files[chunk.path]) for chunk in chunks]
        sessions = Sessions(device)
        ids, keys = set(), set()
        for chunk, (_, parsed) in zip(chunks, staged):
            if parsed is not None:
                ids.update(parsed.session_ids())
                keys.update(parsed.session_keys())
        sessions.load(ids, keys)
        for chunk, (result, parsed) in zip(chunks, staged):
            session = _store_parsed(chunk, parsed, result, sessions) if parsed is not None else None
            results.append(result)
            if session is not None:
                touched[session.id] = session
        sessions.save()
        if deferred is not None:
            index_deferred(deferred)
        now = adapt_dt(timezone.now())
        with connection.cursor() as cursor:
            cursor.executemany("UPDATE timeline_sourcefile SET generation = %s, size = %s, session_id = %s, "
                               "updated_at = %s WHERE id = %s",
                               [(f.generation, f.size, f.session_id, now, f.id) for f in files.values()])
        totals = {
            "lines_stored": sum(r.lines_stored for r in results),
            "lines_duplicate": sum(r.lines_duplicate for r in results),
            "events_stored": sum(r.events_stored for r in results),
        }
        if totals["lines_stored"] or totals["events_stored"]:
            _publish(device, totals, touched)  # in the same commit: one fsync per request
    return {"files": [r.as_dict() for r in results], **totals}


def _publish(device: str, totals: dict, sessions: dict) -> None:
    try:
        from zerg_site.events import publish

        with transaction.atomic():  # a savepoint: a failure here leaves the ingest's transaction usable
            publish("timeline", "timeline.ingested", {"device": device, **totals, "sessions": sorted(sessions)[:200]})
    except Exception:  # the archive is stored; a lost notification only delays a UI refresh
        log.exception("could not publish timeline.ingested")


def _stored_offsets(sf: FileRow, gemini: bool, pieces: list) -> set[int]:
    """Which positions of this file and generation are already stored?"""
    if not pieces:
        return set()
    if gemini:
        # A Gemini document is one row per generation: the same bytes again are a duplicate; other
        # bytes (rewritten in place without a generation bump) replace the row.
        stored = fetch("SELECT r.digest FROM timeline_fileline f JOIN timeline_rawline r ON r.id = f.line_id "
                       'WHERE f.file_id = %s AND f.generation = %s AND f."offset" = 0', [sf.id, sf.generation])
        return {0} if stored and stored[0][0] == line_digest(pieces[0][0]) else set()
    return {o for (o,) in fetch('SELECT "offset" FROM timeline_fileline WHERE file_id = %s AND generation = %s '
                                'AND "offset" >= %s AND "offset" <= %s',
                                [sf.id, sf.generation, pieces[0][1], pieces[-1][1]])}


def _raw_line_ids(unique: dict[str, bytes]) -> dict[str, int]:
    """digest -> id for these lines, inserting the ones the archive does not hold yet."""
    ids: dict[str, int] = {}

    def lookup(digests):
        for batch in batched(digests):
            ids.update(fetch(f"SELECT digest, id FROM timeline_rawline WHERE digest IN ({marks(len(batch))})", batch))

    # Most lines of a shipment are new: insert them all (a digest already stored is skipped by
    # its unique index), then read every id back in one pass.
    insert_ignore("timeline_rawline", ("digest", "data"), list(unique.items()))
    lookup(list(unique))
    return ids


@dataclass
class _Parsed:
    """One file's new events and metadata, between storing its lines and storing its events."""

    sf: FileRow
    keyed: list  # (ParsedEvent, key, raw line id)
    meta: object  # SessionMeta or None
    store: bool  # events (or a first session link) to store

    def session_ids(self) -> set[int]:
        return {self.sf.session_id} if self.sf.session_id else set()

    def session_keys(self) -> set[tuple[str, str]]:
        return self._keys

    _keys: set = field(default_factory=set)


def _store_lines(chunk: FileChunk, sf: FileRow) -> tuple[FileResult, _Parsed | None]:
    """Archive the chunk's complete lines, record their positions, and parse the new ones."""
    result = FileResult(path=chunk.path, generation=chunk.generation)
    gemini = chunk.provider == "gemini"
    complete = len(chunk.data) if gemini else complete_length(chunk.data)
    end = chunk.offset + complete
    if chunk.generation < sf.generation:
        # An older version of a file that has since been rewritten: nothing to keep.
        result.stale = True
        result.acked_offset = end
        return result, None
    if chunk.generation > sf.generation:
        sf.generation, sf.size = chunk.generation, 0
    if gemini:
        pieces = [(chunk.data, 0)] if chunk.data.strip() else []
    else:
        pieces = list(iter_lines(chunk.data[:complete], chunk.offset))

    have = set() if sf.fresh else _stored_offsets(sf, gemini, pieces)
    sf.fresh = False  # a second chunk of this file in the request must see what this one stores
    new_pieces = [(raw, o) for raw, o in pieces if o not in have] if have else pieces
    result.lines_duplicate = len(pieces) - len(new_pieces)

    # Raw lines, content-addressed; then this file's layout (file, generation, offset -> line).
    digests = [line_digest(raw) for raw, _ in new_pieces]
    ids: dict[str, int] = {}
    if new_pieces:
        ids = _raw_line_ids(dict(zip(digests, (raw for raw, _ in new_pieces))))
        if gemini:
            with connection.cursor() as cursor:
                cursor.execute('DELETE FROM timeline_fileline WHERE file_id = %s AND generation = %s AND "offset" = 0',
                               [sf.id, sf.generation])
        insert("timeline_fileline", ("file_id", "generation", "offset", "line_id"),
                [(sf.id, sf.generation, o, ids[d]) for (_, o), d in zip(new_pieces, digests)])
        result.lines_stored = len(new_pieces)

    # Contiguous acknowledgement: only what joins the stored prefix of this generation.
    if chunk.offset <= sf.size:
        sf.size = max(sf.size, end)
    result.acked_offset = sf.size  # a gap (offset beyond it) is stored but not acknowledged

    # Parse what is new.
    keyed, meta = [], None
    if new_pieces or sf.session_id is None:
        if gemini:
            events, meta = parse_document(new_pieces[0][0], chunk.path) if new_pieces else ([], None)
            keyed = [(e, e.key, ids.get(digests[0]) if digests else None) for e in events]
        else:
            parser = line_parser(chunk.provider, chunk.path)
            for (raw, o), d in zip(new_pieces, digests):
                for e in parser.feed(raw, o):
                    keyed.append((e, e.key or f"{d}:{e.index}", ids[d]))
            meta = parser.meta
    parsed = _Parsed(sf, keyed, meta, meta is not None and bool(keyed or sf.session_id))
    if parsed.store:
        if not sf.session_id:
            parsed._keys.add((chunk.provider, meta.session_id or os.path.splitext(os.path.basename(chunk.path))[0]))
        parent_sid = chunk.parent_session or meta.parent_session_id
        if parent_sid:
            parsed._keys.add((chunk.provider, parent_sid))
    return result, parsed


def _store_parsed(chunk: FileChunk, parsed: _Parsed, result: FileResult, sessions: Sessions) -> Session | None:
    """Attach the parsed events to their session and store the ones it does not have yet."""
    sf, session = parsed.sf, None
    if parsed.store:
        result.malformed = [(o, e) for o, e in parsed.meta.malformed]
        session = _session_for(chunk, sf, parsed.meta, sessions)
        result.events_stored = _store_events(session, parsed.keyed, chunk.provider, sessions)
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


def _session_for(chunk: FileChunk, sf: FileRow, meta, sessions: Sessions) -> Session:
    device = sessions.device
    if sf.session_id:
        session = sessions.get(sf.session_id)
    else:
        sid = meta.session_id or os.path.splitext(os.path.basename(chunk.path))[0]
        session = sessions.get_or_create(chunk.provider, sid)
        sf.session_id = session.id
    parent_sid = chunk.parent_session or meta.parent_session_id
    if parent_sid and session.parent_id is None and parent_sid != session.provider_session_id:
        session.parent = sessions.get_or_create(chunk.provider, parent_sid)
    if chunk.provider == "claude" and is_subagent_path(chunk.path) and not parent_sid:
        log.info("subagent file without a parent session: %s", chunk.path)
    session.device = session.device or device
    for attr in ("cwd", "git_branch", "version", "model", "title"):
        value = getattr(meta, attr)
        if value:
            setattr(session, attr, value[:300] if attr in ("git_branch",) else value)
    session.model = session.model[:100]
    session.version = session.version[:50]
    if meta.git_commit:
        session.git_commit = meta.git_commit[:64]
    if meta.git_remote:
        session.git_remote = meta.git_remote
    git = chunk.git or {}
    if isinstance(git, dict):
        if git.get("remote"):
            session.git_remote = str(git["remote"])
        if git.get("branch"):
            session.git_branch = str(git["branch"])[:300]
        if git.get("commit"):
            session.git_commit = str(git["commit"])[:64]
    session.project = session.project or _project(chunk.provider, chunk.path, session.cwd)[:300]
    started, ended = _dt(meta.started_at), _dt(meta.ended_at)
    if started and (session.started_at is None or started < session.started_at):
        session.started_at = started
    if ended and (session.ended_at is None or ended > session.ended_at):
        session.ended_at = ended
    if chunk.provider == "codex":  # running totals: the largest seen is the latest
        session.input_tokens = max(session.input_tokens, meta.input_tokens)
        session.output_tokens = max(session.output_tokens, meta.output_tokens)
        session.cache_read_tokens = max(session.cache_read_tokens, meta.cache_read_tokens)
    return session


def _store_events(session: Session, keyed: list, provider: str, sessions: Sessions) -> int:
    # Drop what the session already has (same key), and usage already counted (same message id);
    # a session this request created has only what the request stored (kept in memory).
    existing = sessions.keys.setdefault(session.id, set())
    counted = sessions.counted.setdefault(session.id, set())
    fresh = session.id in sessions.fresh
    keys = [] if fresh else list(dict.fromkeys(k[:100] for _, k, _ in keyed))
    for batch in batched(keys):
        existing.update(k for (k,) in fetch(
            f"SELECT key FROM timeline_event WHERE session_id = %s AND key IN ({marks(len(batch))})",
            [session.id, *batch]))
    usage_ids = [] if fresh else list({e.message_id for e, _, _ in keyed if e.usage and e.message_id})
    for batch in batched(usage_ids):
        counted.update(m for (m,) in fetch(
            "SELECT message_id FROM timeline_event WHERE session_id = %s AND usage IS NOT NULL "
            f"AND message_id IN ({marks(len(batch))})", [session.id, *batch]))
    rows = []
    seen = existing
    ordinal = session.event_count
    malformed = unknown = 0
    for e, key, line_id in keyed:
        key = key[:100]
        if key in seen:
            continue
        seen.add(key)
        usage = e.usage
        if usage and e.message_id:
            if e.message_id in counted:
                usage = None
            else:
                counted.add(e.message_id)
        if usage and provider != "codex":
            def num(k, u=usage):
                value = u.get(k)
                return value if isinstance(value, int) else 0

            if provider == "gemini":
                session.input_tokens += num("input")
                session.output_tokens += num("output")
                session.cache_read_tokens += num("cached")
            else:
                session.input_tokens += num("input_tokens")
                session.output_tokens += num("output_tokens")
                session.cache_read_tokens += num("cache_read_input_tokens")
                session.cache_creation_tokens += num("cache_creation_input_tokens")
        malformed += e.kind == "malformed"
        unknown += e.kind == "unknown"
        rows.append((
            session.id, ordinal, key, e.kind, e.role[:20], e.record_type[:100], _clean(e.text),
            _clean(e.tool_name[:200]), _clean(e.tool_input), _clean(e.tool_output), e.tool_call_id[:200],
            e.message_id[:200], adapt_json(usage) if usage is not None else None, e.model[:100],
            adapt_dt(_dt(e.timestamp)), e.uuid[:100], e.parent_uuid[:100], e.is_sidechain, line_id,
            e.offset if provider != "gemini" else None,
        ))
        ordinal += 1
    if rows:
        insert("timeline_event", EVENT_COLUMNS, rows)
    session.event_count = ordinal
    session.malformed_count += malformed
    session.unknown_count += unknown
    return len(rows)
