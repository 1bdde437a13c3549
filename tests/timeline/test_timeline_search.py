"""Full-text search (SQLite FTS5 / Postgres tsvector) over the fixtures, filters, sorts, snippets,
and the index kept current on insert and delete. Runs on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from agents_ingest.ingest import FileChunk, ingest_files
from timeline.models import Event, Session
from timeline.search import Filters, fts5_query, search

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
ROLLOUT = FIXTURES / "codex/rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799.jsonl"
CLAUDE = FIXTURES / "claude/real_projects/-src-deep-manifest/a7da6a22-facc-4fcd-8bab-f83c87862004.jsonl"
SOUND = (
    FIXTURES / "claude/real_projects/-Users-dain-workspace-JSSoundRecorder/7acd37a8-2745-4b58-a8a9-46164b22ad9e.jsonl"
)


def load(*paths):
    for path in paths:
        provider = "codex" if "codex" in path.parts else "claude"
        ingest_files("laptop", [FileChunk(provider, str(path), path.read_bytes())])


def line(obj) -> bytes:
    return json.dumps(obj).encode() + b"\n"


@pytest.fixture
def archive(db):
    load(ROLLOUT, CLAUDE, SOUND)
    extra = b"".join(
        [
            line(
                {
                    "type": "user",
                    "uuid": "x1",
                    "timestamp": "2024-01-01T00:00:00Z",
                    "cwd": "/w/zebra",
                    "message": {"role": "user", "content": "please fix the <script>alert(1)</script> quokka parser"},
                }
            ),
            line(
                {
                    "type": "assistant",
                    "uuid": "x2",
                    "timestamp": "2024-01-02T00:00:00Z",
                    "message": {
                        "id": "m",
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "Grep", "input": {"pattern": "quokka"}}],
                    },
                }
            ),
            line(
                {
                    "type": "user",
                    "uuid": "x3",
                    "timestamp": "2024-01-03T00:00:00Z",
                    "message": {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": "t", "content": "src/quokka.py:1: the quokka parser"}
                        ],
                    },
                }
            ),
        ]
    )
    ingest_files(
        "desk", [FileChunk("claude", "/h/.claude/projects/-w-zebra/zz-1.jsonl", extra, git={"branch": "feature/q"})]
    )


def test_fts5_query_is_safe():
    assert fts5_query('plan AND (mode "exact phrase" NEAR*') == '"plan" "AND" "mode" "exact phrase" "NEAR"'
    assert fts5_query('"" ( ) *') == ""


def test_phrase_from_a_fixture_is_found_with_a_highlight(archive):
    result = search("Compaction Config")
    assert result["hits"], "a phrase written in the Codex rollout must be found"
    hit = result["hits"][0]
    assert hit["session"]["provider_session_id"] == "019e1625-789d-76c0-80ab-3724b5ddb799"
    assert "<mark>" in hit["snippet"]
    event = Event.objects.get(id=hit["event_id"])
    assert event.session_id == hit["session_id"] and event.ordinal == hit["ordinal"]
    assert "compaction" in (event.text + event.tool_input + event.tool_output).lower()


def test_text_tool_names_inputs_and_outputs_are_indexed(archive):
    kinds = {h["kind"] for h in search("quokka", limit=50)["hits"]}
    assert kinds == {"message", "tool_call", "tool_result"}
    assert {h["kind"] for h in search("Grep", limit=50)["hits"]} >= {"tool_call"}
    assert search("quokka", Filters(tool="Grep"))["hits"][0]["tool_name"] == "Grep"


def test_snippets_are_escaped(archive):
    hit = search("quokka", Filters(role="user", kind="message"))["hits"][0]
    # no markup but <mark>, and the text's own markup kept as escaped text on both databases
    assert "<" not in hit["snippet"].replace("<mark>", "").replace("</mark>", "")
    assert "<mark>quokka</mark>" in hit["snippet"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hit["snippet"]


def test_filters(archive):
    assert search("quokka", Filters(provider="codex"))["hits"] == []
    assert len(search("quokka", Filters(provider="claude", device="desk"))["hits"]) == 3
    assert len(search("quokka", Filters(project="zebra", branch="feature/q"))["hits"]) == 3
    assert search("quokka", Filters(branch="main"))["hits"] == []
    jan2 = datetime(2024, 1, 2, tzinfo=UTC)
    assert [h["ordinal"] for h in search("quokka", Filters(since=jan2), sort="recency")["hits"]] == [2, 1]
    assert [h["ordinal"] for h in search("quokka", Filters(until=jan2))["hits"]] == [0]
    assert len(search("quokka", Filters(role="user"))["hits"]) == 2
    codex_hits = search("Compaction", Filters(provider="codex"), limit=5)["hits"]
    assert codex_hits and all(h["session"]["provider"] == "codex" for h in codex_hits)


def test_sort_and_paging(archive):
    recent = search("quokka", sort="recency")["hits"]
    assert [h["timestamp"][:10] for h in recent] == ["2024-01-03", "2024-01-02", "2024-01-01"]
    scores = [h["score"] for h in search("parser", limit=50)["hits"]]
    assert scores == sorted(scores, reverse=True)
    page1 = search("quokka", sort="recency", limit=2)
    page2 = search("quokka", sort="recency", limit=2, offset=2)
    assert page1["has_more"] and not page2["has_more"]
    assert [h["event_id"] for h in page1["hits"] + page2["hits"]] == [h["event_id"] for h in recent]
    with pytest.raises(ValueError):
        search("x", sort="sideways")


def test_index_follows_deletes_and_rebuilds(archive):
    # a cutoff of 2025-01-01 whatever today is: the 2024 session goes, the fixtures' 2025-2026 ones stay
    days = (datetime.now(UTC) - datetime(2025, 1, 1, tzinfo=UTC)).days
    call_command("prune_sessions", "--days", str(days), stdout=StringIO())
    assert not Session.objects.filter(provider_session_id="zz-1").exists()
    assert search("quokka")["hits"] == []
    out = StringIO()
    call_command("rebuild_search_index", stdout=out)
    assert out.getvalue()
    assert search("Compaction Config")["hits"]
    assert search("quokka")["hits"] == []


def fts_integrity_ok() -> bool:
    """SQLite: FTS5's own check that the index holds exactly what its content (the capped view) holds."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO timeline_event_fts(timeline_event_fts, rank) VALUES ('integrity-check', 1)")
        cursor.execute("SELECT count(*) FROM timeline_fts_deferred")
        return cursor.fetchone()[0] == 0


def test_it_indexes_every_ingested_event_once_in_the_same_transaction(archive):
    from django.db import connection

    if connection.vendor == "sqlite":
        assert fts_integrity_ok()  # raises on a missing, extra or stale entry; the deferral flag is gone
    # another writer than the ingest (Oikos, admin) still goes through the trigger
    session = Session.objects.get(provider_session_id="zz-1")
    event = Event.objects.create(session=session, ordinal=99, key="manual", kind="message", text="a wombat wrote")
    assert [h["event_id"] for h in search("wombat")["hits"]] == [event.id]
    event.text = "a numbat wrote"
    event.save()
    assert search("wombat")["hits"] == [] and search("numbat")["hits"]
    if connection.vendor == "sqlite":
        assert fts_integrity_ok()


def test_it_indexes_the_head_of_huge_tool_outputs_and_stores_them_whole(db):
    output = "headword " + "filler " * 2000 + "tailword"  # ~14,000 characters: beyond the 4,000 indexed
    data = b"".join(
        [
            line(
                {
                    "type": "assistant",
                    "uuid": "h1",
                    "message": {
                        "id": "m",
                        "role": "assistant",
                        "content": [
                            {"type": "tool_use", "id": "t", "name": "Bash", "input": {"command": "cat big.log"}}
                        ],
                    },
                }
            ),
            line(
                {
                    "type": "user",
                    "uuid": "h2",
                    "message": {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "t", "content": output}],
                    },
                }
            ),
        ]
    )
    ingest_files("desk", [FileChunk("claude", "/h/.claude/projects/-w/huge-1.jsonl", data)])
    assert Event.objects.get(kind="tool_result").tool_output == output
    hits = search("headword")["hits"]
    assert len(hits) == 1 and "<mark>headword</mark>" in hits[0]["snippet"]
    assert search("tailword")["hits"] == []


def test_it_finds_the_same_hits_with_session_and_event_filters_combined(archive):
    # session filters (provider, project, device, branch) and event filters (role, tool, dates) at once
    hits = search(
        "quokka",
        Filters(
            provider="claude",
            project="zebra",
            device="desk",
            role="user",
            since=datetime(2024, 1, 1, tzinfo=UTC),
        ),
    )["hits"]
    assert sorted(h["ordinal"] for h in hits) == [0, 2]
    session = Session.objects.get(provider_session_id="zz-1")
    assert len(search("quokka", Filters(session_id=session.id))["hits"]) == 3
    assert search("quokka", Filters(session_id=session.id, tool="Read"))["hits"] == []


def test_it_filters_by_any_tool_name_and_never_matches_the_filter_tokens(db):
    from timeline.search import facet

    tool = "mcp__docs-server__fetch page"  # underscores, a dash and a space: still one filter token
    data = b"".join(
        [
            line(
                {
                    "type": "assistant",
                    "uuid": "f1",
                    "message": {
                        "id": "m",
                        "role": "assistant",
                        "content": [
                            {"type": "tool_use", "id": "t1", "name": tool, "input": {"query": "platypus habitat"}},
                            {"type": "tool_use", "id": "t2", "name": "Read", "input": {"note": "the platypus file"}},
                        ],
                    },
                }
            ),
        ]
    )
    ingest_files("desk", [FileChunk("claude", "/h/.claude/projects/-w/tools-1.jsonl", data)])
    assert [h["tool_name"] for h in search("platypus", Filters(tool=tool))["hits"]] == [tool]
    assert [h["tool_name"] for h in search("platypus", Filters(tool="Read", role="assistant"))["hits"]] == ["Read"]
    session = Session.objects.get(provider_session_id="tools-1")
    for token in (facet("t", tool), facet("s", session.id), facet("r", "assistant"), f"s{session.id}"):
        assert search(token)["hits"] == [], token  # the user's words search the texts only


def test_it_applies_every_filter_inside_the_index_with_the_same_hits(archive, monkeypatch):
    """Postgres ANDs the filters into the tsquery as '#x:' lexemes (timeline migration 0004): same hits as
    checking them per row, whatever the characters of a tool name, and no user word reaches a lexeme."""
    import timeline.search as ts

    odd = "it's a \\ tool"
    data = line(
        {
            "type": "assistant",
            "uuid": "o1",
            "timestamp": "2024-03-05T00:00:00Z",
            "message": {
                "id": "m",
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": odd, "input": {"q": "quokka numbat"}}],
            },
        }
    )
    ingest_files("desk", [FileChunk("claude", "/h/.claude/projects/-w-zebra/zz-2.jsonl", data)])
    assert [h["tool_name"] for h in search("quokka", Filters(tool=odd))["hits"]] == [odd]
    jan1, jan3 = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC)
    year = Filters(since=jan1, until=datetime(2024, 12, 1, tzinfo=UTC))  # 12 30-day buckets
    assert len(search("quokka", year)["hits"]) == 4
    assert [h["ordinal"] for h in search("quokka", Filters(since=jan1, until=jan3), sort="recency")["hits"]] == [1, 0]
    assert search("quokka", Filters(since=jan3, until=jan1))["hits"] == []
    assert search("the and", Filters(tool="Grep"))["hits"] == []  # stop words only: nothing, not every Grep call
    # a query spelling a lexeme searches its words, never the lexeme: each hit contains the word
    for spelled, word in (("#r:user", "user"), ("#k:message", "message"), ("#t:Grep", "grep")):
        for hit in search(spelled, limit=200)["hits"]:
            event = Event.objects.get(id=hit["event_id"])
            assert word in (event.text + event.tool_name + event.tool_input + event.tool_output).lower(), spelled
    wide = Filters(provider="claude", device="desk", role="user", kind="message", since=jan1, until=jan3)
    expected = [h["event_id"] for h in search("quokka", wide)["hits"]]
    monkeypatch.setattr(ts, "PG_FACET_SESSIONS", 0)  # session filters checked per row instead
    monkeypatch.setattr(ts, "PG_FACET_BUCKETS", 0)
    assert [h["event_id"] for h in search("quokka", wide)["hits"]] == expected and len(expected) == 1


def test_it_ranks_only_the_newest_matches_on_postgres_when_there_are_many(archive, monkeypatch):
    """Postgres ranks the newest PG_RANK_CANDIDATES matches that pass the filters (ranking reads each
    candidate's search vector); recency order and SQLite see every match."""
    from django.db import connection

    import timeline.search as ts

    monkeypatch.setattr(ts, "PG_RANK_CANDIDATES", 2)
    hits = search("quokka", Filters(device="desk"))["hits"]
    expected = [1, 2] if connection.vendor == "postgresql" else [0, 1, 2]
    assert sorted(h["ordinal"] for h in hits) == expected
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
    assert [h["ordinal"] for h in search("quokka", Filters(device="desk"), sort="recency")["hits"]] == [2, 1, 0]
