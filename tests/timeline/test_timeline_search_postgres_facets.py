"""Search filters on a session's provider and device (timeline migration 0006): on Postgres they are
lexemes of the event's search vector ('#p:', '#d:', and per 30-day bucket '#pm:' / '#dm:'), filled by a
trigger from the session row, kept right when a session changes, and filled for the events stored
before the migration; relevance ranks the newest matches, found block by block ('#b:') or at once.
Runs on both databases: the hits are the same on SQLite, which checks the session per match."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from agents_ingest.ingest import FileChunk, ingest_files
from timeline.models import Event, Session
from timeline.search import Filters, search

BEFORE = ("timeline", "0005_source_chunks")
DAY = datetime(2026, 3, 1, tzinfo=UTC)


def line(obj) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def session_file(sid: str, words: list[str], start: datetime) -> bytes:
    """A Claude Code file: a line per text, 20 days apart, user and assistant in turn."""
    out = []
    for i, text in enumerate(words):
        role = "user" if i % 2 == 0 else "assistant"
        stamp = (start + timedelta(days=20 * i)).isoformat().replace("+00:00", "Z")
        message = (
            {"role": role, "content": text}
            if role == "user"
            else {"id": f"m{i}", "role": role, "content": [{"type": "text", "text": text}]}
        )
        out.append(line({"type": role, "uuid": f"{sid}-{i}", "sessionId": sid, "timestamp": stamp, "message": message}))
    return b"".join(out)


@pytest.fixture
def archive(db):
    """Three sessions over two providers and two devices, each with 'okapi' events over ~3 months: two
    shipped through the ingest, one written with the ORM."""
    for device, sid in (("laptop", "s-laptop"), ("desk", "s-desk")):
        data = session_file(sid, [f"the okapi {sid} note {i}" for i in range(5)], DAY)
        ingest_files(device, [FileChunk("claude", f"/h/.claude/projects/-w/{sid}.jsonl", data)])
    codex = Session.objects.create(provider="codex", provider_session_id="s-codex", device="desk")
    for i in range(5):
        Event.objects.create(
            session=codex,
            ordinal=i,
            key=f"c{i}",
            kind="message",
            role="user",
            text=f"the okapi s-codex note {i}",
            timestamp=DAY + timedelta(days=20 * i),
        )


def expected(word: str, f: Filters) -> set[int]:
    """The events containing ``word`` that pass ``f``, checked on the rows."""
    events = Event.objects.filter(text__icontains=word)
    for field, value in (("session__provider", f.provider), ("session__device", f.device), ("role", f.role)):
        if value:
            events = events.filter(**{field: value})
    if f.since:
        events = events.filter(timestamp__gte=f.since)
    if f.until:
        events = events.filter(timestamp__lt=f.until)
    return set(events.values_list("id", flat=True))


def found(word: str, f: Filters) -> set[int]:
    hits = search(word, f, limit=200)["hits"]
    assert len(hits) < 200
    return {h["event_id"] for h in hits}


def lexemes(event_id: int) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT unnest(tsvector_to_array(search)) FROM timeline_event WHERE id = %s", [event_id])
        return {word for (word,) in cursor.fetchall() if word.startswith("#")}


def test_it_filters_by_provider_and_device_with_the_same_hits_as_checking_the_sessions(archive, monkeypatch):
    import timeline.search as ts

    assert len(expected("okapi", Filters())) == 15
    since, until = DAY + timedelta(days=10), DAY + timedelta(days=70)  # parts of 3 buckets
    combos = list(
        itertools.product(
            (None, "claude", "codex", "gemini"),
            (None, "laptop", "desk", "phone"),
            (None, "user"),
            ((None, None), (since, None), (since, until)),
        )
    )
    for per_row in (False, True):
        if per_row:  # the date range checked per row instead of as bucket lexemes: the same hits
            monkeypatch.setattr(ts, "PG_FACET_BUCKETS", 0)
        for provider, device, role, (start, end) in combos:
            f = Filters(provider=provider, device=device, role=role, since=start, until=end)
            assert found("okapi", f) == expected("okapi", f), f
    if connection.vendor == "postgresql":
        assert search("the", Filters(provider="claude"))["hits"] == []  # stop words only: nothing, not every event
        event = Event.objects.select_related("session").filter(session__provider_session_id="s-laptop").first()
        bucket = int(event.timestamp.timestamp() // ts.BUCKET_SECONDS)
        assert {
            "#p:claude",
            "#d:laptop",
            f"#pm:{bucket}:claude",
            f"#dm:{bucket}:laptop",
            f"#b:{event.id >> ts.PG_BLOCK_BITS}",
            f"#s:{event.session_id}",
        } <= lexemes(event.id)
    for spelled in ("#p:claude", "#d:laptop", "#b:0"):  # a query spelling a lexeme searches its words only
        assert search(spelled)["hits"] == [], spelled


def test_it_follows_a_session_whose_device_or_provider_changes(archive):
    laptop = Session.objects.get(provider_session_id="s-laptop")
    ids = set(Event.objects.filter(session=laptop).values_list("id", flat=True))
    Session.objects.filter(id=laptop.id).update(device="phone")  # one SQL UPDATE, as the ingest writes sessions
    assert found("okapi", Filters(device="phone")) == ids
    assert found("okapi", Filters(device="laptop")) == set()
    laptop.refresh_from_db()
    laptop.provider = "gemini"
    laptop.save()
    assert found("okapi", Filters(provider="gemini", device="phone")) == ids
    assert found("okapi", Filters(provider="claude")) == expected("okapi", Filters(provider="claude"))

    # a session written without a device, its events, then the device: the events follow
    bare = Session.objects.create(provider="claude", provider_session_id="bare")
    event = Event.objects.create(session=bare, ordinal=0, key="b0", kind="message", role="user", text="an okapi")
    assert event.id in found("okapi", Filters(provider="claude"))
    assert event.id not in found("okapi", Filters(device="desk"))
    bare.device = "desk"
    bare.save()
    assert event.id in found("okapi", Filters(device="desk", provider="claude"))
    # an event moved to another session takes that session's lexemes
    Event.objects.filter(id=event.id).update(session=laptop, ordinal=99)
    assert event.id in found("okapi", Filters(provider="gemini", device="phone"))


def test_it_ranks_the_same_newest_matches_block_by_block_or_at_once(db, monkeypatch):
    """Postgres ranks the newest PG_RANK_CANDIDATES matches; it may look for them in the newest id blocks
    first, one block at a time, and the rest at once: the candidates are the same whichever way."""
    import timeline.search as ts

    session = Session.objects.create(provider="claude", provider_session_id="blocks", device="desk")
    other = Session.objects.create(provider="codex", provider_session_id="other", device="desk")
    block = 1 << ts.PG_BLOCK_BITS
    ids = [5, block - 1, block, block + 7, 2 * block + 3, 3 * block, 3 * block + 1, 3 * block + 2]
    for n, event_id in enumerate(ids):  # explicit ids: events spread over four blocks
        Event.objects.create(
            id=event_id,
            session=session if n % 4 else other,
            ordinal=n,
            key=f"k{n}",
            kind="message",
            role="user",
            text="okapi " * (1 + n % 3) + f"note {n}",
        )
    claude = sorted((i for n, i in enumerate(ids) if n % 4), reverse=True)
    everything = sorted(ids, reverse=True)
    postgres = connection.vendor == "postgresql"
    for cap, cost, f in itertools.product(
        (1, 2, 3, 5, 100),
        (-(10**12), ts.PG_BLOCK_COST, 10**12),
        (Filters(), Filters(provider="claude"), Filters(device="desk", role="user")),
    ):
        monkeypatch.setattr(ts, "PG_RANK_CANDIDATES", cap)
        monkeypatch.setattr(ts, "PG_BLOCK_COST", cost)  # always one block more / as the costs say / never
        pool = claude if f.provider else everything
        newest = set(pool[:cap]) if postgres else set(pool)
        hits = search("okapi", f, limit=50)["hits"]
        assert {h["event_id"] for h in hits} == newest, (cap, cost, f)
        scores = [h["score"] for h in hits]
        assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
        if postgres:  # ties newest first
            ranked = [(-h["score"], -h["event_id"]) for h in hits]
            assert ranked == sorted(ranked)
        page = search("okapi", f, limit=2, offset=1)
        assert [h["event_id"] for h in page["hits"]] == [h["event_id"] for h in hits[1:3]]
        assert page["has_more"] == (len(hits) > 3)


@pytest.mark.django_db(transaction=True)
def test_it_fills_the_lexemes_of_events_stored_before_the_migration():
    if connection.vendor != "postgresql":
        pytest.skip("the migration only changes Postgres")
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate([BEFORE])
        apps = MigrationExecutor(connection).loader.project_state([BEFORE]).apps
        session_m, event_m = apps.get_model("timeline", "Session"), apps.get_model("timeline", "Event")
        session = session_m.objects.create(provider="codex", provider_session_id="old", device="attic")
        event = event_m.objects.create(
            session=session, ordinal=0, key="k", kind="message", role="user", text="a capybara", timestamp=DAY
        )
        MigrationExecutor(connection).migrate(latest)
        bucket = int(DAY.timestamp() // 2592000)
        assert {
            "#p:codex",
            "#d:attic",
            f"#pm:{bucket}:codex",
            f"#dm:{bucket}:attic",
            "#b:0",
            f"#s:{session.id}",
            "#r:user",
            "#k:message",
            f"#m:{bucket}",
        } <= lexemes(event.id)
        assert found("capybara", Filters(provider="codex", device="attic")) == {event.id}
        assert found("capybara", Filters(device="attic", since=DAY, until=DAY + timedelta(days=1))) == {event.id}
        assert found("capybara", Filters(provider="claude")) == set()
        # the same words as the generated column of migration 0004 held: ranked and highlighted
        hit = search("capybara")["hits"][0]
        assert hit["score"] > 0 and "<mark>capybara</mark>" in hit["snippet"]
    finally:
        MigrationExecutor(connection).migrate(latest)
