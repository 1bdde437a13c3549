"""Postgres: filter terms (facets) inside the tsvector, so GIN applies the filters.

Search ranked every full-text match that passed its filters, and checked the filters on
the event row: a heap visit per match (and a ts_rank_cd), ~240 ms p95 at 1M events. The
search vector now also holds one position-less lexeme per filterable attribute an event
never changes, as SQLite's ``facets`` column does (migration 0003):

    #s:<session id>   #r:<role>   #k:<kind>   #t:<tool name>   #m:<30-day bucket of the timestamp>

The English parser never emits ``#`` inside a lexeme, so no user word can match one, and
ts_rank_cd (no length normalisation) ranks only the query's words: scores are unchanged.
Search ANDs the filters' lexemes (an OR of session ids for provider / project / device /
branch filters) into the tsquery; GIN intersects the posting lists and only the filtered
matches reach the heap. Everything is immutable, as a generated column requires: the
bucket is the epoch seconds of ``timestamp - 1970-01-01`` (an interval) / 2,592,000.

Recreating the column rewrites timeline_event (once; minutes for millions of events).
SQLite: nothing (it has had its facets since 0003).
"""

from django.db import migrations

TEXT_CAP, TOOL_CAP = 20000, 4000
BUCKET_SECONDS = 2592000  # 30 days; timeline.search.BUCKET_SECONDS must match
WORDS = f"""
        setweight(to_tsvector('english'::regconfig, left(text, {TEXT_CAP})), 'A') ||
        setweight(to_tsvector('simple'::regconfig, tool_name), 'A') ||
        setweight(to_tsvector('english'::regconfig, left(tool_input, {TOOL_CAP})), 'B') ||
        setweight(to_tsvector('english'::regconfig, left(tool_output, {TOOL_CAP})), 'C')"""
FACETS = f"""
        array_to_tsvector(array_remove(ARRAY[
            '#s:' || session_id::text, '#r:' || role, '#k:' || kind, '#t:' || tool_name,
            '#m:' || floor(extract(epoch FROM ("timestamp" - '1970-01-01 00:00:00+00'::timestamptz))
                           / {BUCKET_SECONDS})::bigint::text
        ], NULL))"""


def vector(with_facets: bool) -> list[str]:
    body = WORDS + (" ||" + FACETS if with_facets else "")
    return [
        "DROP INDEX IF EXISTS timeline_event_search",
        "ALTER TABLE timeline_event DROP COLUMN IF EXISTS search",
        f"ALTER TABLE timeline_event ADD COLUMN search tsvector GENERATED ALWAYS AS ({body}\n    ) STORED",
        "CREATE INDEX timeline_event_search ON timeline_event USING GIN (search)",
        "ANALYZE timeline_event",
    ]


def up(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in vector(True):
            schema_editor.execute(sql)


def down(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in vector(False):
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("timeline", "0003_lean_indexes_fts_caps")]

    operations = [migrations.RunPython(up, down)]
