"""Full-text search over posts: SQLite FTS5 (external content, kept by triggers) or a
Postgres stored tsvector column with a GIN index -- the Timeline's scheme (timeline
migration 0002), for forum_post.text."""

from django.db import migrations

SQLITE_UP = [
    """CREATE VIRTUAL TABLE forum_post_fts USING fts5(
        text, content='forum_post', content_rowid='id', tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER forum_post_fts_ai AFTER INSERT ON forum_post BEGIN
        INSERT INTO forum_post_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    """CREATE TRIGGER forum_post_fts_ad AFTER DELETE ON forum_post BEGIN
        INSERT INTO forum_post_fts(forum_post_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END""",
    """CREATE TRIGGER forum_post_fts_au AFTER UPDATE OF text ON forum_post BEGIN
        INSERT INTO forum_post_fts(forum_post_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO forum_post_fts(rowid, text) VALUES (new.id, new.text);
    END""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS forum_post_fts_au",
    "DROP TRIGGER IF EXISTS forum_post_fts_ad",
    "DROP TRIGGER IF EXISTS forum_post_fts_ai",
    "DROP TABLE IF EXISTS forum_post_fts",
]
# Capped before to_tsvector: a tsvector holds at most 1 MB.
POSTGRES_UP = [
    """ALTER TABLE forum_post ADD COLUMN search tsvector GENERATED ALWAYS AS (
        to_tsvector('english'::regconfig, left(text, 200000))) STORED""",
    "CREATE INDEX forum_post_search ON forum_post USING GIN (search)",
]
POSTGRES_DOWN = ["DROP INDEX IF EXISTS forum_post_search", "ALTER TABLE forum_post DROP COLUMN IF EXISTS search"]


def run(statements_by_vendor):
    def apply(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("forum", "0001_initial")]

    operations = [
        migrations.RunPython(
            run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
            run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN}),
        )
    ]
