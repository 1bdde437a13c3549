"""The source-line archive in compressed chunks instead of a row per line.

``RawLine`` (one content-addressed row per distinct line) and ``FileLine`` (file,
generation, offset -> line) become ``SourceChunk``: runs of a file generation's complete
lines, up to 1 MiB, zstd-compressed (``timeline.chunks``). Events name their chunk
(``Event.chunk``) instead of their raw line. Two rows and two index entries per line were
half of an ingest's writes, and the archive took more room than the JSONL it held; chunks
compress ~5x.

Existing archives are converted: each file generation's contiguous lines become chunks;
lines stored beyond a gap (never acknowledged) and lines that only events still named
(a Gemini document rewritten in place) become ``superseded`` chunks, kept but not exported.

SQLite cannot drop a foreign-key column in place, so removing ``Event.line`` rebuilds
timeline_event (a copy of the table: minutes for millions of events); the full-text
triggers, the view FTS5 reads and the covering filter index of migration 0003 are dropped
before and recreated after (the FTS5 index itself is untouched: event ids are kept), with
``timeline_fts_pending`` for the background indexer (see ``sqlite_objects``).
Reversible: the reverse indexes what is pending and splits chunks back into lines.
"""

import hashlib
from importlib import import_module

import django.db.models.deletion
from django.db import migrations, models

CHUNK_BYTES = 1 << 20  # timeline.chunks.CHUNK_BYTES when this was written
PAGE = 2000


def _compress(data: bytes) -> bytes:
    import zstandard  # here: a fresh database (nothing to convert) must not load it into the server

    return zstandard.ZstdCompressor(level=3).compress(data)


def _decompress(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdDecompressor().decompress(data)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def lines_to_chunks(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT f.file_id, f.generation, s.session_id FROM timeline_fileline f "
            "JOIN timeline_sourcefile s ON s.id = f.file_id GROUP BY f.file_id, f.generation, s.session_id "
            "ORDER BY f.file_id, f.generation"
        )
        generations = cursor.fetchall()

        def flush(file_id, generation, session_id, run, superseded):
            data = b"".join(bytes(d) for _, _, d in run)
            cursor.execute(
                'INSERT INTO timeline_sourcechunk (file_id, generation, "offset", length, lines, digest, '
                "superseded, data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                [file_id, generation, run[0][0], len(data), len(run), _digest(data), superseded, _compress(data)],
            )
            chunk_id = cursor.fetchone()[0]
            line_ids = sorted({line_id for _, line_id, _ in run})
            for start in range(0, len(line_ids), 500):
                part = line_ids[start : start + 500]
                cursor.execute(
                    f"UPDATE timeline_event SET chunk_id = %s WHERE session_id = %s AND chunk_id IS NULL "
                    f"AND line_id IN ({', '.join(['%s'] * len(part))})",
                    [chunk_id, session_id, *part],
                )

        for file_id, generation, session_id in generations:
            run, size, end, after, gap = [], 0, 0, -1, False
            while True:
                cursor.execute(
                    'SELECT f."offset", f.line_id, r.data FROM timeline_fileline f '
                    "JOIN timeline_rawline r ON r.id = f.line_id "
                    'WHERE f.file_id = %s AND f.generation = %s AND f."offset" > %s '
                    f'ORDER BY f."offset" LIMIT {PAGE}',
                    [file_id, generation, after],
                )
                rows = cursor.fetchall()
                if not rows:
                    break
                for offset, line_id, data in rows:
                    if run and (offset != end or size + len(data) > CHUNK_BYTES):
                        flush(file_id, generation, session_id, run, gap)
                        run, size = [], 0
                    if offset != end:
                        gap = True  # everything after a gap was never acknowledged
                    run.append((offset, line_id, data))
                    size += len(data)
                    end = offset + len(data)
                after = rows[-1][0]
            if run:
                flush(file_id, generation, session_id, run, gap)

        # Lines that only events name (not at any position of their session's files): kept, superseded.
        cursor.execute(
            'SELECT e.line_id, e.session_id, min(e."offset") FROM timeline_event e '
            "WHERE e.line_id IS NOT NULL AND e.chunk_id IS NULL GROUP BY e.line_id, e.session_id"
        )
        for line_id, session_id, offset in cursor.fetchall():
            cursor.execute(
                "SELECT id, generation FROM timeline_sourcefile WHERE session_id = %s ORDER BY id", [session_id]
            )
            found = cursor.fetchone()
            if found is None:
                continue
            cursor.execute("SELECT data FROM timeline_rawline WHERE id = %s", [line_id])
            data = bytes(cursor.fetchone()[0])
            cursor.execute(
                'INSERT INTO timeline_sourcechunk (file_id, generation, "offset", length, lines, digest, '
                "superseded, data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                [found[0], found[1], offset or 0, len(data), 1, _digest(data), True, _compress(data)],
            )
            chunk_id = cursor.fetchone()[0]
            cursor.execute(
                "UPDATE timeline_event SET chunk_id = %s WHERE session_id = %s AND line_id = %s",
                [chunk_id, session_id, line_id],
            )


def chunks_to_lines(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("CREATE INDEX timeline_event_chunk_tmp ON timeline_event (chunk_id)")
        cursor.execute("SELECT c.id FROM timeline_sourcechunk c ORDER BY c.id")
        for (chunk_id,) in cursor.fetchall():
            cursor.execute(
                'SELECT c.file_id, c.generation, c."offset", c.superseded, c.data, f.provider '
                "FROM timeline_sourcechunk c JOIN timeline_sourcefile f ON f.id = c.file_id "
                "WHERE c.id = %s",
                [chunk_id],
            )
            file_id, generation, start, superseded, data, provider = cursor.fetchone()
            data = _decompress(bytes(data))
            if provider == "gemini":
                lines = [(data, start)]
            else:
                lines, at = [], 0
                while at < len(data):
                    end = data.find(b"\n", at)
                    end = len(data) if end < 0 else end + 1
                    lines.append((data[at:end], start + at))
                    at = end
            for line, offset in lines:
                digest = _digest(line)
                cursor.execute(
                    "INSERT INTO timeline_rawline (digest, data) VALUES (%s, %s) ON CONFLICT DO NOTHING", [digest, line]
                )
                cursor.execute("SELECT id FROM timeline_rawline WHERE digest = %s", [digest])
                line_id = cursor.fetchone()[0]
                if not superseded:
                    cursor.execute(
                        'INSERT INTO timeline_fileline (file_id, generation, "offset", line_id) '
                        "VALUES (%s, %s, %s, %s)",
                        [file_id, generation, offset, line_id],
                    )
                if provider == "gemini":
                    cursor.execute("UPDATE timeline_event SET line_id = %s WHERE chunk_id = %s", [line_id, chunk_id])
                else:
                    cursor.execute(
                        'UPDATE timeline_event SET line_id = %s WHERE chunk_id = %s AND "offset" = %s',
                        [line_id, chunk_id, offset],
                    )
        cursor.execute("DROP INDEX timeline_event_chunk_tmp")


# SQLite objects on timeline_event that would not survive its rebuild (migration 0003's).
SQLITE_OBJECTS_DROP = [
    "DROP TRIGGER IF EXISTS timeline_event_fts_au",
    "DROP TRIGGER IF EXISTS timeline_event_fts_ad",
    "DROP TRIGGER IF EXISTS timeline_event_fts_ai",
    "DROP VIEW IF EXISTS timeline_event_fts_src",
    "DROP INDEX IF EXISTS timeline_event_filter",
]


def _m0003():
    return import_module("timeline.migrations.0003_lean_indexes_fts_caps")


def sqlite_objects_0003() -> list[str]:
    keep = ("CREATE VIEW", "CREATE TRIGGER", "CREATE INDEX")
    return [sql for sql in _m0003().SQLITE_UP if sql.lstrip().upper().startswith(keep)]


def sqlite_objects() -> list[str]:
    """0003's objects, plus ``timeline_fts_pending``: id ranges an ingest stored and left to the
    background indexer (``timeline.indexer``). The delete and update triggers leave events in a
    pending range alone: they are not in the index yet, and the indexer reads their current values."""
    m = _m0003()
    pending = "EXISTS (SELECT 1 FROM timeline_fts_pending p WHERE old.id BETWEEN p.start_id AND p.end_id)"
    replaced = ("CREATE TRIGGER timeline_event_fts_ad", "CREATE TRIGGER timeline_event_fts_au")
    return [
        "CREATE TABLE timeline_fts_pending (start_id integer NOT NULL, end_id integer NOT NULL)",
        "CREATE INDEX timeline_fts_pending_range ON timeline_fts_pending (start_id, end_id)",
        *[sql for sql in sqlite_objects_0003() if not sql.lstrip().startswith(replaced)],
        f"""CREATE TRIGGER timeline_event_fts_ad AFTER DELETE ON timeline_event WHEN NOT {pending} BEGIN
        INSERT INTO timeline_event_fts(timeline_event_fts, rowid, {m.COLUMNS})
            VALUES ('delete', old.id, {m.CAPPED_OLD});
    END""",
        f"""CREATE TRIGGER timeline_event_fts_au AFTER UPDATE OF text, tool_name, tool_input, tool_output, session_id,
        role, kind ON timeline_event WHEN NOT {pending} BEGIN
        INSERT INTO timeline_event_fts(timeline_event_fts, rowid, {m.COLUMNS})
            VALUES ('delete', old.id, {m.CAPPED_OLD});
        INSERT INTO timeline_event_fts(rowid, {m.COLUMNS}) VALUES (new.id, {m.CAPPED_NEW});
    END""",
    ]


def drop_0003_objects(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_OBJECTS_DROP:
            schema_editor.execute(sql)


def create_0003_objects(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in sqlite_objects_0003():
            schema_editor.execute(sql)


def create_objects(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in sqlite_objects():
            schema_editor.execute(sql)


def drop_objects(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    columns = _m0003().COLUMNS
    with schema_editor.connection.cursor() as cursor:  # index what is pending before the table goes
        cursor.execute("SELECT start_id, end_id FROM timeline_fts_pending")
        for start, end in cursor.fetchall():
            cursor.execute(
                f"INSERT INTO timeline_event_fts (rowid, {columns}) SELECT id, {columns} "
                "FROM timeline_event_fts_src WHERE id BETWEEN %s AND %s",
                [start, end],
            )
    for sql in SQLITE_OBJECTS_DROP + ["DROP TABLE timeline_fts_pending"]:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("timeline", "0004_postgres_search_facets"),
    ]

    operations = [
        migrations.CreateModel(
            name="SourceChunk",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("generation", models.IntegerField()),
                ("offset", models.BigIntegerField()),
                ("length", models.BigIntegerField(help_text="uncompressed bytes")),
                ("lines", models.IntegerField()),
                ("digest", models.CharField(blank=True, max_length=32)),
                ("superseded", models.BooleanField(default=False)),
                ("data", models.BinaryField()),
                (
                    "file",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="chunks",
                        to="timeline.sourcefile",
                    ),
                ),
            ],
        ),
        migrations.AddConstraint(
            model_name="sourcechunk",
            constraint=models.UniqueConstraint(
                condition=models.Q(("superseded", False)), fields=("file", "generation", "offset"), name="chunk_pos"
            ),
        ),
        migrations.AddField(
            model_name="event",
            name="chunk",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="timeline.sourcechunk",
            ),
        ),
        migrations.RunPython(lines_to_chunks, chunks_to_lines),
        migrations.RunPython(drop_0003_objects, create_0003_objects),
        migrations.RemoveField(
            model_name="event",
            name="line",
        ),
        migrations.RunPython(create_objects, drop_objects),
        migrations.DeleteModel(
            name="FileLine",
        ),
        migrations.DeleteModel(
            name="RawLine",
        ),
    ]
