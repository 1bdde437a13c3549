"""Cheaper writes, same guarantees.

- Drop the single-column indexes on ``timeline_event.session_id`` and
  ``timeline_fileline.file_id``: the unique indexes (session_id, key), (session_id, ordinal)
  and (file_id, generation, offset) start with those columns and serve the same lookups.
  Done with plain DROP INDEX (the state change is the fields' ``db_index=False``), so SQLite
  does not rebuild the tables. Drop ``event_timestamp`` and ``event_tool`` too: search checks
  those columns per full-text match, and nothing else reads events by them.
- SQLite: a covering index ``timeline_event_filter`` (id, session_id, kind, role, tool_name,
  timestamp). Search checks its filters for every full-text match; read from the table, each
  check walks the row's overflow pages (large texts come before those columns), read from this
  index it is one small b-tree probe. Ids only grow, so keeping it costs an append per event.
- SQLite: the insert trigger steps aside while ``timeline_fts_deferred`` holds a row. The
  ingest puts one there inside its transaction, inserts the request's events, indexes them
  all with one ``INSERT INTO timeline_event_fts ... SELECT`` from the view, and deletes the
  row before it commits (so no other connection ever sees it; a rollback removes it too).
  An FTS5 insert made by a trigger runs as its own statement, and FTS5 writes its pending
  terms out at every statement boundary of that kind: one tiny index segment per event, and
  merges to match. One statement per request indexes the same text about 2.5 times faster.
  Every other writer (admin, Oikos, tests) still goes through the trigger.
- Cap what the full-text index reads of each field (the full text stays stored, and the raw
  line keeps every byte): text 20,000 characters, tool input and tool output 4,000 each.
  Huge tool outputs (file dumps, logs) were most of the indexing work of an ingest and
  little of what anyone searches for. SQLite: the FTS5 table's external content becomes a
  view that applies the caps, so the triggers, 'rebuild' and snippet() all see the same
  capped columns (an FTS5 'delete' must be given exactly what was indexed). Postgres: the
  generated tsvector column is recreated with the same caps.
- SQLite: a fifth FTS5 column, ``facets``, holds one token per filterable event attribute
  that never changes after the insert: ``zzs<session id>``, and ``zzr``/``zzk``/``zzt`` +
  the hex of role, kind and tool name (no one searches for such words; search keeps a
  query that contains one off that column). Search turns those filters (and session filters, through
  the ids of the sessions they select) into full-text terms, so FTS5 intersects them with
  the words inside its own doclists instead of the database probing a row per match.
"""

import django.db.models.deletion
from django.db import migrations, models

TEXT_CAP, TOOL_CAP = 20000, 4000
COLUMNS = "text, tool_name, tool_input, tool_output, facets"


def facets(row: str = "") -> str:
    """The ``facets`` column (see timeline.search.facet): zzs<session id>, zzr/zzk/zzt + hex of role, kind, tool."""
    return (
        f"'zzs' || {row}session_id || ' zzr' || lower(hex({row}role)) || ' zzk' || lower(hex({row}kind)) "
        f"|| ' zzt' || lower(hex({row}tool_name))"
    )


def capped(row: str = "") -> str:
    return (
        f"substr({row}text, 1, {TEXT_CAP}), {row}tool_name, substr({row}tool_input, 1, {TOOL_CAP}), "
        f"substr({row}tool_output, 1, {TOOL_CAP}), {facets(row)}"
    )


CAPPED_OLD, CAPPED_NEW = capped("old."), capped("new.")

SQLITE_UP = [
    "DROP TRIGGER IF EXISTS timeline_event_fts_au",
    "DROP TRIGGER IF EXISTS timeline_event_fts_ad",
    "DROP TRIGGER IF EXISTS timeline_event_fts_ai",
    "DROP TABLE IF EXISTS timeline_event_fts",
    f"""CREATE VIEW timeline_event_fts_src (id, {COLUMNS}) AS SELECT id, {capped()} FROM timeline_event""",
    f"""CREATE VIRTUAL TABLE timeline_event_fts USING fts5(
        {COLUMNS}, content='timeline_event_fts_src', content_rowid='id', tokenize='unicode61 remove_diacritics 2')""",
    "CREATE TABLE timeline_fts_deferred (since integer NOT NULL)",
    f"""CREATE TRIGGER timeline_event_fts_ai AFTER INSERT ON timeline_event
        WHEN NOT EXISTS (SELECT 1 FROM timeline_fts_deferred) BEGIN
        INSERT INTO timeline_event_fts(rowid, {COLUMNS}) VALUES (new.id, {CAPPED_NEW});
    END""",
    f"""CREATE TRIGGER timeline_event_fts_ad AFTER DELETE ON timeline_event BEGIN
        INSERT INTO timeline_event_fts(timeline_event_fts, rowid, {COLUMNS}) VALUES ('delete', old.id, {CAPPED_OLD});
    END""",
    f"""CREATE TRIGGER timeline_event_fts_au AFTER UPDATE OF text, tool_name, tool_input, tool_output, session_id,
        role, kind ON timeline_event BEGIN
        INSERT INTO timeline_event_fts(timeline_event_fts, rowid, {COLUMNS}) VALUES ('delete', old.id, {CAPPED_OLD});
        INSERT INTO timeline_event_fts(rowid, {COLUMNS}) VALUES (new.id, {CAPPED_NEW});
    END""",
    "INSERT INTO timeline_event_fts(timeline_event_fts) VALUES ('rebuild')",
    "CREATE INDEX timeline_event_filter ON timeline_event (id, session_id, kind, role, tool_name, timestamp)",
]
POSTGRES_UP = [
    "DROP INDEX IF EXISTS timeline_event_search",
    "ALTER TABLE timeline_event DROP COLUMN IF EXISTS search",
    f"""ALTER TABLE timeline_event ADD COLUMN search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, left(text, {TEXT_CAP})), 'A') ||
        setweight(to_tsvector('simple'::regconfig, tool_name), 'A') ||
        setweight(to_tsvector('english'::regconfig, left(tool_input, {TOOL_CAP})), 'B') ||
        setweight(to_tsvector('english'::regconfig, left(tool_output, {TOOL_CAP})), 'C')
    ) STORED""",
    "CREATE INDEX timeline_event_search ON timeline_event USING GIN (search)",
]


def drop_single_column_indexes(apps, schema_editor):
    for model_name, column in (("Event", "session_id"), ("FileLine", "file_id")):
        model = apps.get_model("timeline", model_name)
        for name in schema_editor._constraint_names(model, [column], index=True, unique=False, primary_key=False):
            schema_editor.execute(schema_editor._delete_index_sql(model, name))


def recreate_single_column_indexes(apps, schema_editor):
    for model_name, field_name in (("Event", "session"), ("FileLine", "file")):
        model = apps.get_model("timeline", model_name)
        field = model._meta.get_field(field_name)
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))


def search_up(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for sql in {"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}.get(vendor, []):
        schema_editor.execute(sql)


def search_down(apps, schema_editor):
    from importlib import import_module

    previous = import_module("timeline.migrations.0002_search")
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for sql in [
            "DROP INDEX IF EXISTS timeline_event_filter",
            "DROP TABLE IF EXISTS timeline_fts_deferred",
            "DROP TRIGGER IF EXISTS timeline_event_fts_au",
            "DROP TRIGGER IF EXISTS timeline_event_fts_ad",
            "DROP TRIGGER IF EXISTS timeline_event_fts_ai",
            "DROP TABLE IF EXISTS timeline_event_fts",
            "DROP VIEW IF EXISTS timeline_event_fts_src",
            *previous.SQLITE_UP,
            "INSERT INTO timeline_event_fts(timeline_event_fts) VALUES ('rebuild')",
        ]:
            schema_editor.execute(sql)
    elif vendor == "postgresql":
        for sql in previous.POSTGRES_DOWN + previous.POSTGRES_UP:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("timeline", "0002_search")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="event",
                    name="session",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="timeline.session",
                    ),
                ),
                migrations.AlterField(
                    model_name="fileline",
                    name="file",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="lines",
                        to="timeline.sourcefile",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_single_column_indexes, recreate_single_column_indexes)],
        ),
        migrations.RemoveIndex(model_name="event", name="event_timestamp"),
        migrations.RemoveIndex(model_name="event", name="event_tool"),
        migrations.RunPython(search_up, search_down),
    ]
