"""Store shipped session files: raw lines once, parsed events once, sessions updated.

:func:`ingest_files` is the one entry point (the HTTP API, the import command and
commis all use it). It runs in a single short transaction per call and is idempotent:
sending the same bytes twice stores nothing new; re-sending a rewritten file (a new
``generation``) stores only the lines and events that were not already there.
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
from timeline.models import Event, FileLine, RawLine, Session, SourceFile  # noqa: F401

log = logging.getLogger("zerg.ingest")

IN_BATCH = 500  # ids per IN (...) query: well under SQLite's variable limit


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


def _chunks(items, size=IN_BATCH):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]


EVENT_COLUMNS = ("session_id", "ordinal", "key", "kind", "role", "record_type", "text", "tool_name", "tool_input",
                 "tool_output", "tool_call_id", "message_id", "usage", "model", "timestamp", "uuid", "parent_uuid",
                 "is_sidechain", "line_id", "offset")


# Bulk inserts are plain executemany: Django's bulk_create spends most of an ingest preparing
# values field by field. Values are adapted here the way the fields would adapt them.
def adapt_dt(value):
    return connection.ops.adapt_datetimefield_value(value) if value is not None else None


def adapt_json(value):
    if connection.vendor == "postgresql":
        from psycopg.types.json import Jsonb

        return Jsonb(value)
    import json

    return json.dumps(value)


def _insert(table: str, columns: tuple, rows: list, suffix: str = "") -> None:
    if not rows:
        return
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {table} ({quoted}) VALUES ({marks}){suffix}"
    with connection.cursor() as cursor:
        for batch in _chunks(rows, 2000):
            cursor.executemany(sql, batch)


def _insert_ignore(table: str, columns: tuple, rows: list) -> None:
    _insert(table, columns, rows, " ON CONFLICT DO NOTHING")


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
        for chunk in chunks:
            result, session = _ingest_one(device, chunk)
            results.append(result)
            if session is not None:
                touched[session.id] = session
    totals = {
        "lines_stored": sum(r.lines_stored for r in results),
        "lines_duplicate": sum(r.lines_duplicate for r in results),
        "events_stored": sum(r.events_stored for r in results),
    }
    if totals["lines_stored"] or totals["events_stored"]:
        _publish(device, totals, touched)
    return {"files": [r.as_dict() for r in results], **totals}


def _publish(device: str, totals: dict, sessions: dict) -> None:
    try:
        from zerg_site.events import publish

        publish("timeline", "timeline.ingested", {"device": device, **totals, "sessions": sorted(sessions)[:200]})
    except Exception:  # the archive is stored; a lost notification only delays a UI refresh
        log.exception("could not publish timeline.ingested")


def _ingest_one(device: str, chunk: FileChunk) -> tuple[FileResult, Session | None]:
    result = FileResult(path=chunk.path, generation=chunk.generation)
    sf, _ = SourceFile.objects.get_or_create(device=device, path=chunk.path, defaults={"provider": chunk.provider})
    if connection.features.has_select_for_update:  # SQLite: the IMMEDIATE transaction already serialises writers
        sf = SourceFile.objects.select_for_update().get(pk=sf.pk)
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

    # Which positions of this file and generation are already stored?
    offsets = [o for _, o in pieces]
    have: set[int] = set()
    if offsets:
        if gemini:
            # A Gemini document is one row per generation: the same bytes again are a duplicate; other
            # bytes (rewritten in place without a generation bump) replace the row.
            stored = FileLine.objects.filter(file=sf, generation=sf.generation, offset=0).values_list(
                "line__digest", flat=True).first()
            if stored == line_digest(pieces[0][0]):
                have = {0}
        else:
            have = set(FileLine.objects.filter(file=sf, generation=sf.generation, offset__gte=offsets[0],
                                               offset__lte=offsets[-1]).values_list("offset", flat=True))
    new_pieces = [(raw, o) for raw, o in pieces if o not in have]
    result.lines_duplicate = len(pieces) - len(new_pieces)

    # Raw lines, content-addressed: insert the unknown digests, then map digest -> id.
    digests = [line_digest(raw) for raw, _ in new_pieces]
    ids: dict[str, int] = {}
    if new_pieces:
        unique = dict(zip(digests, (raw for raw, _ in new_pieces)))
        for batch in _chunks(unique):
            ids.update(RawLine.objects.filter(digest__in=batch).values_list("digest", "id"))
        missing = [d for d in unique if d not in ids]
        if missing:
            _insert_ignore("timeline_rawline", ("digest", "data"), [(d, unique[d]) for d in missing])
            for batch in _chunks(missing):
                ids.update(RawLine.objects.filter(digest__in=batch).values_list("digest", "id"))
        if gemini:
            FileLine.objects.filter(file=sf, generation=sf.generation, offset=0).delete()
        _insert("timeline_fileline", ("file_id", "generation", "offset", "line_id"),
                [(sf.id, sf.generation, o, ids[d]) for (_, o), d in zip(new_pieces, digests)])
        result.lines_stored = len(new_pieces)

    # Contiguous acknowledgement: only what joins the stored prefix of this generation.
    if chunk.offset <= sf.size:
        sf.size = max(sf.size, end)
    result.acked_offset = sf.size  # a gap (offset beyond it) is stored but not acknowledged

    # Parse what is new and attach it to the session.
    session = None
    if new_pieces or sf.session_id is None:
        if gemini:
            events, meta = parse_document(new_pieces[0][0], chunk.path) if new_pieces else ([], None)
            keyed = [(e, e.key, ids.get(digests[0]) if digests else None) for e in events]
        else:
            parser = line_parser(chunk.provider, chunk.path)
            keyed = []
            for (raw, o), d in zip(new_pieces, digests):
                for e in parser.feed(raw, o):
                    keyed.append((e, e.key or f"{d}:{e.index}", ids[d]))
            meta = parser.meta
        if meta is not None and (keyed or sf.session_id):
            result.malformed = [(o, e) for o, e in meta.malformed]
            session = _session_for(device, chunk, sf, meta)
            result.events_stored = _store_events(session, keyed, meta, chunk.provider)
    elif sf.session_id:
        session = sf.session
    if session is not None:
        result.session_id = session.id
    sf.updated_at = timezone.now()
    sf.save()
    return result, session


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


def _locked(session: Session) -> Session:
    """The session row locked for this transaction (Postgres); SQLite's IMMEDIATE lock already covers it."""
    if connection.features.has_select_for_update:
        return Session.objects.select_for_update().get(pk=session.pk)
    return session


def _session_for(device: str, chunk: FileChunk, sf: SourceFile, meta) -> Session:
    if sf.session_id:
        session = _locked(Session.objects.get(pk=sf.session_id))
    else:
        sid = meta.session_id or os.path.splitext(os.path.basename(chunk.path))[0]
        session, _ = Session.objects.get_or_create(
            provider=chunk.provider, provider_session_id=sid[:200], defaults={"device": device}
        )
        session = _locked(session)
        sf.session = session
    parent_sid = chunk.parent_session or meta.parent_session_id
    if parent_sid and session.parent_id is None and parent_sid != session.provider_session_id:
        parent, _ = Session.objects.get_or_create(
            provider=chunk.provider, provider_session_id=parent_sid[:200], defaults={"device": device}
        )
        session.parent = parent
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


def _store_events(session: Session, keyed: list, meta, provider: str) -> int:
    # Drop what the session already has (same key), and usage already counted (same message id).
    keys = list(dict.fromkeys(k[:100] for _, k, _ in keyed))
    existing: set[str] = set()
    for batch in _chunks(keys):
        existing.update(Event.objects.filter(session=session, key__in=batch).values_list("key", flat=True))
    usage_ids = {e.message_id for e, _, _ in keyed if e.usage and e.message_id}
    counted: set[str] = set()
    for batch in _chunks(usage_ids):
        counted.update(Event.objects.filter(session=session, message_id__in=batch, usage__isnull=False)
                       .values_list("message_id", flat=True))
    rows = []
    seen = set(existing)
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
        _insert("timeline_event", EVENT_COLUMNS, rows)
    session.event_count = ordinal
    session.malformed_count += malformed
    session.unknown_count += unknown
    session.updated_at = timezone.now()
    session.save()
    return len(rows)
