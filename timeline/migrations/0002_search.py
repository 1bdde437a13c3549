"""Full-text search over events: SQLite FTS5 (external content, kept by triggers) or a
Postgres stored tsvector column with a GIN index. Both index text, tool name, tool
input and tool output, and both are maintained by the database on every insert,
update and delete."""

from django.db import migrations

SQLITE_UP = [
    """CREATE VIRTUAL TABLE timeline_event_fts USING fts5(
        text, tool_name, tool_input, tool_output,
        content='timeline_event', content_rowid='id', tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER timeline_event_fts_ai AFTER INSERT ON timeline_event BEGIN
        INSERT INTO timeline_event_fts(rowid, text, tool_name, tool_input, tool_output)
        VALUES (new.id, new.text, new.tool_name, new.tool_input, new.tool_output);
    END""",
    """CREATE TRIGGER timeline_event_fts_ad AFTER DELETE ON timeline_event BEGIN
        INSERT INTO timeline_event_fts(timeline_event_fts, rowid, text, tool_name, tool_input, tool_output)
        VALUES ('delete', old.id, old.text, old.tool_name, old.tool_input, old.tool_output);
    END""",
    """CREATE TRIGGER timeline_event_fts_au AFTER UPDATE OF text, tool_name, tool_input, tool_output
        ON timeline_event BEGIN
        INSERT INTO timeline_event_fts(timeline_event_fts, rowid, text, tool_name, tool_input, tool_output)
        VALUES ('delete', old.id, old.text, old.tool_name, old.tool_input, old.tool_output);
        INSERT INTO timeline_event_fts(rowid, text, tool_name, tool_input, tool_output)
        VALUES (new.id, new.text, new.tool_name, new.tool_input, new.tool_output);
    END""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS timeline_event_fts_au",
    "DROP TRIGGER IF EXISTS timeline_event_fts_ad",
    "DROP TRIGGER IF EXISTS timeline_event_fts_ai",
    "DROP TABLE IF EXISTS timeline_event_fts",
]
# Each field is capped before to_tsvector: a tsvector holds at most 1 MB.
POSTGRES_UP = [
    """ALTER TABLE timeline_event ADD COLUMN search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, left(text, 100000)), 'A') ||
        setweight(to_tsvector('simple'::regconfig, tool_name), 'A') ||
        setweight(to_tsvector('english'::regconfig, left(tool_input, 50000)), 'B') ||
        setweight(to_tsvector('english'::regconfig, left(tool_output, 50000)), 'C')
    ) STORED""",
    "CREATE INDEX timeline_event_search ON timeline_event USING GIN (search)",
]
POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS timeline_event_search",
    "ALTER TABLE timeline_event DROP COLUMN IF EXISTS search",
]


def run(statements_by_vendor):
    def apply(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("timeline", "0001_initial")]

    operations = [
        migrations.RunPython(
            run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
            run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN}),
        )
    ]
