"""timeline migration 0005: an archive of per-line rows (RawLine / FileLine) becomes compressed
chunks, events keep their source line, search keeps working; and back again."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from timeline.export import export_bytes, iter_file_bytes
from timeline.models import Event, Session, SourceChunk, SourceFile
from timeline.search import Filters, search

BEFORE = ("timeline", "0004_postgres_search_facets")

LINES = [
    json.dumps({"type": "user", "uuid": f"u{i}", "message": {"content": f"walrus number {i}"}}).encode() + b"\n"
    for i in range(3)
]
GAP_LINE = b'{"type":"user","message":{"content":"beyond a gap"}}\n'
OLD_DOC = json.dumps({"sessionId": "gem", "messages": [{"id": "m1", "type": "user", "content": "pelican"}]}).encode()
NEW_DOC = json.dumps(
    {
        "sessionId": "gem",
        "messages": [
            {"id": "m1", "type": "user", "content": "pelican"},
            {"id": "m2", "type": "gemini", "content": "ok"},
        ],
    }
).encode()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def old_archive(apps):
    """The rows the ingest of migration 0004's time wrote for two sessions."""
    session_m, file_m = apps.get_model("timeline", "Session"), apps.get_model("timeline", "SourceFile")
    raw_m, pos_m, event_m = (apps.get_model("timeline", n) for n in ("RawLine", "FileLine", "Event"))
    claude = session_m.objects.create(provider="claude", provider_session_id="c-1", device="d")
    source = file_m.objects.create(
        device="d", path="/c-1.jsonl", provider="claude", session=claude, size=sum(map(len, LINES))
    )
    offset = 0
    for i, line in enumerate(LINES + [GAP_LINE]):
        raw = raw_m.objects.create(digest=digest(line), data=line)
        if line is GAP_LINE:
            offset += 1000  # stored beyond a gap, never acknowledged
        pos_m.objects.create(file=source, generation=0, offset=offset, line=raw)
        event_m.objects.create(
            session=claude,
            ordinal=i,
            key=f"{raw.digest}:0",
            kind="message",
            role="user",
            text=json.loads(line)["message"]["content"],
            line=raw,
            offset=offset,
        )
        offset += len(line)
    gemini = session_m.objects.create(provider="gemini", provider_session_id="gem", device="d")
    doc_file = file_m.objects.create(device="d", path="/gem.json", provider="gemini", session=gemini, size=len(NEW_DOC))
    old = raw_m.objects.create(digest=digest(OLD_DOC), data=OLD_DOC)  # replaced in place: only its event names it
    new = raw_m.objects.create(digest=digest(NEW_DOC), data=NEW_DOC)
    pos_m.objects.create(file=doc_file, generation=0, offset=0, line=new)
    event_m.objects.create(session=gemini, ordinal=0, key="m1:0", kind="message", role="user", text="pelican", line=old)
    event_m.objects.create(session=gemini, ordinal=1, key="m2:0", kind="message", role="assistant", text="ok", line=new)


@pytest.mark.django_db(transaction=True)
def test_it_converts_lines_to_chunks_and_back():
    try:
        old_archive(migrate([BEFORE]))
        migrate(latest())

        claude = Session.objects.get(provider_session_id="c-1")
        assert export_bytes(claude) == b"".join(LINES)  # the gap line is not part of the file
        chunks = list(SourceChunk.objects.filter(file__session=claude).order_by("offset"))
        assert [(c.offset, c.lines, c.superseded) for c in chunks] == [
            (0, 3, False),
            (sum(map(len, LINES)) + 1000, 1, True),
        ]
        for event in Event.objects.filter(session=claude).order_by("ordinal"):
            assert event.source_line() == (LINES + [GAP_LINE])[event.ordinal]
        gemini = Session.objects.get(provider_session_id="gem")
        assert export_bytes(gemini) == NEW_DOC
        assert Event.objects.get(session=gemini, key="m1:0").source_line() == OLD_DOC
        assert Event.objects.get(session=gemini, key="m2:0").source_line() == NEW_DOC

        # full-text search still finds the migrated events, and new events are indexed as before
        assert len(search("walrus")["hits"]) == 3
        Event.objects.create(session=claude, ordinal=9, key="new:0", kind="message", role="user", text="narwhal")
        assert [h["event_id"] for h in search("narwhal", Filters(session_id=claude.id))["hits"]] == [
            Event.objects.get(key="new:0").id
        ]
        Event.objects.filter(key="new:0").delete()

        # and back: one row per distinct line again, every position and event link restored
        apps = migrate([BEFORE])
        raw_m, pos_m, event_m = (apps.get_model("timeline", n) for n in ("RawLine", "FileLine", "Event"))
        assert raw_m.objects.count() == 6 and pos_m.objects.count() == 4  # 3 lines + 1 document: no gap line
        for event in event_m.objects.select_related("line"):
            assert event.line is not None and bytes(event.line.data).startswith(b"{")
        assert bytes(event_m.objects.get(key="m1:0").line.data) == OLD_DOC
    finally:
        migrate(latest())
    source = SourceFile.objects.get(path="/c-1.jsonl")
    assert b"".join(iter_file_bytes(source)) == b"".join(LINES)
