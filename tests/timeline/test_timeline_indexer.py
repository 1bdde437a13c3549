"""SQLite: an ingest can leave full-text indexing to the background indexer (timeline.indexer);
nothing is ever unsearchable, and the index stays consistent whatever happens to pending events."""

from __future__ import annotations

import json
import time

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from agents_ingest.ingest import FileChunk, ingest_files
from tests.ingest_batch import post_ingest
from timeline import indexer
from timeline.models import Event
from timeline.search import search
from zerg_site.auth.tokens import create_token
from zerg_site.models import ApiToken


def lines(session: str, words: list[str]) -> bytes:
    return b"".join(
        json.dumps(
            {
                "type": "user",
                "uuid": f"{session}-{i}",
                "sessionId": session,
                "message": {"role": "user", "content": word},
            }
        ).encode()
        + b"\n"
        for i, word in enumerate(words)
    )


def indexed(word: str) -> int:
    """Matches in the FTS5 index itself (no catching up first)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM timeline_event_fts WHERE timeline_event_fts MATCH %s", [word])
        return cursor.fetchone()[0]


def pending() -> list:
    with connection.cursor() as cursor:
        cursor.execute("SELECT start_id, end_id FROM timeline_fts_pending")
        return cursor.fetchall()


def integrity_check() -> None:
    """FTS5 raises 'database disk image is malformed' if the index does not match its content."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO timeline_event_fts(timeline_event_fts, rank) VALUES ('integrity-check', 1)")


sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="Postgres computes its tsvector on insert")


@sqlite_only
def test_it_queues_the_range_and_search_indexes_it_first(db):
    ingest_files(
        "d",
        [FileChunk("claude", "/p/s-1.jsonl", lines("s-1", ["aardvark", "aardvark tapir", "zebu"]))],
        index_later=True,
    )
    assert indexed("aardvark") == 0 and len(pending()) == 1
    hits = search("aardvark")["hits"]  # catches up before it queries
    assert len(hits) == 2 and pending() == [] and indexed("aardvark") == 2
    integrity_check()


@sqlite_only
def test_it_keeps_the_index_whole_when_pending_events_change(db):
    ingest_files(
        "d",
        [FileChunk("claude", "/p/s-2.jsonl", lines("s-2", ["okapi one", "okapi two", "okapi three"]))],
        index_later=True,
    )
    first, second, third = Event.objects.order_by("id")
    first.delete()  # pruned before it was indexed: the delete trigger must not touch the index
    Event.objects.filter(id=second.id).update(text="quokka now")  # edited: indexed with its new text
    ingest_files("d", [FileChunk("claude", "/p/s-3.jsonl", lines("s-3", ["okapi four"]))])  # indexed at once
    assert indexed("okapi") == 1 and len(pending()) == 1
    call_command("optimize_search")  # the daily maintenance catches up too
    assert pending() == [] and indexed("okapi") == 2 and indexed("quokka") == 1
    integrity_check()
    Event.objects.filter(id=third.id).delete()  # indexed now: removed from the index as usual
    assert indexed("okapi") == 1
    integrity_check()


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_it_indexes_in_the_background_after_an_http_ingest():
    _, secret = create_token("laptop", kind=ApiToken.DEVICE)
    assert indexer.start()
    try:
        body = {
            "device": "laptop",
            "files": [
                {
                    "provider": "claude",
                    "path": "/p/s-4.jsonl",
                    "offset": 0,
                    "data": lines("s-4", ["capybara", "capybara two"]).decode(),
                }
            ],
        }
        r = post_ingest(Client(HTTP_AUTHORIZATION=f"Bearer {secret}"), body)
        assert r.status_code == 200 and r.json()["events_stored"] == 2
        deadline = time.monotonic() + 20
        while (pending() or indexed("capybara") < 2) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pending() == [] and indexed("capybara") == 2  # the thread did it, not a search
    finally:
        indexer.stop()
    integrity_check()


@sqlite_only
def test_it_still_searches_when_catching_up_fails(db, monkeypatch, caplog):
    from django.db import OperationalError

    import timeline.search

    ingest_files("d", [FileChunk("claude", "/p/s-5.jsonl", lines("s-5", ["dugong"]))])  # indexed
    ingest_files("d", [FileChunk("claude", "/p/s-6.jsonl", lines("s-6", ["dugong too"]))], index_later=True)

    def full_disk():
        raise OperationalError("database or disk is full")

    monkeypatch.setattr(timeline.search, "index_pending", full_disk)
    assert len(search("dugong")["hits"]) == 1  # what is indexed, not an error
    assert "could not index pending events" in caplog.text and len(pending()) == 1
    monkeypatch.undo()
    assert len(search("dugong")["hits"]) == 2 and pending() == []
