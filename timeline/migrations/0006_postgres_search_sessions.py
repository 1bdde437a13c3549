"""Postgres: the event's session's provider and device as lexemes of the search vector too.

After migration 0004 the provider and device filters (a few hundred sessions each: too many
for an OR of ``#s:`` lexemes) were still checked per match: one heap visit per word match
(p95 ~160 ms at 1M events). A session's provider never changes and its device is set when
the session is created, so they can live in the event's vector like its role or tool:

    #p:<provider>   #d:<device>     (beside 0004's #s: #r: #k: #t: #m:)
    #pm:<bucket>:<provider>   #dm:<bucket>:<device>   (per 30-day bucket: a device + date range
                                                     filter is one short posting list a month)
    #b:<id >> 16>   (the event's id block: search looks for the newest matches block by block)

A generated column cannot read another table, so ``search`` becomes a plain column that a
BEFORE INSERT / UPDATE trigger fills: the same words and facets as 0004's expression plus
the session's lexemes, read from the session row. Writers insert events as before (no
column to fill). If a session's provider or device does change (an admin edit, a session
created without a device and given one later), a trigger on timeline_session recomputes
its events' vectors, so search never disagrees with the session row.

Existing rows: the column keeps its vector and gains the session lexemes in one rewrite
(``ALTER COLUMN ... TYPE ... USING``: a fresh table file, the GIN index rebuilt; ~1 min per
million events), without re-parsing any text.
SQLite: nothing (its facets column, migration 0003, gets session ids from search).
"""

from django.db import migrations

TEXT_CAP, TOOL_CAP = 20000, 4000  # as migration 0003 / 0004
BUCKET_SECONDS = 2592000  # timeline.search.BUCKET_SECONDS
BLOCK_BITS = 16  # timeline.search.PG_BLOCK_BITS: '#b:' blocks of 65,536 event ids

# 0004's generated expression, on NEW.
WORDS = f"""
        setweight(to_tsvector('english'::regconfig, left(NEW.text, {TEXT_CAP})), 'A') ||
        setweight(to_tsvector('simple'::regconfig, NEW.tool_name), 'A') ||
        setweight(to_tsvector('english'::regconfig, left(NEW.tool_input, {TOOL_CAP})), 'B') ||
        setweight(to_tsvector('english'::regconfig, left(NEW.tool_output, {TOOL_CAP})), 'C')"""
FACETS = f"""
        array_to_tsvector(array_remove(ARRAY[
            '#s:' || NEW.session_id::text, '#r:' || NEW.role, '#k:' || NEW.kind, '#t:' || NEW.tool_name,
            '#m:' || floor(extract(epoch FROM (NEW."timestamp" - '1970-01-01 00:00:00+00'::timestamptz))
                           / {BUCKET_SECONDS})::bigint::text
        ], NULL))"""

# An event's lexemes that depend on more than its own text columns: its session's provider and
# device (alone and per 30-day bucket) and its id block. '' (no lexemes) for a missing session.
LEXEMES = f"""CREATE OR REPLACE FUNCTION timeline_event_lexemes(sid bigint, eid bigint, ts timestamptz)
       RETURNS tsvector LANGUAGE sql STABLE PARALLEL SAFE AS $$
           SELECT array_to_tsvector(array_remove(ARRAY[
                      '#b:' || (eid >> {BLOCK_BITS})::text,
                      '#p:' || nullif(s.provider, ''), '#d:' || nullif(s.device, ''),
                      '#pm:' || b.m || ':' || nullif(s.provider, ''), '#dm:' || b.m || ':' || nullif(s.device, '')
                  ], NULL))
           FROM (SELECT floor(extract(epoch FROM (ts - '1970-01-01 00:00:00+00'::timestamptz))
                              / {BUCKET_SECONDS})::bigint::text AS m) b
           LEFT JOIN timeline_session s ON s.id = sid
       $$"""

UP = [
    LEXEMES,
    f"""CREATE OR REPLACE FUNCTION timeline_event_search() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           NEW.search := {WORDS} ||
               {FACETS} ||
               timeline_event_lexemes(NEW.session_id, NEW.id, NEW."timestamp");
           RETURN NEW;
       END $$""",
    """CREATE OR REPLACE FUNCTION timeline_session_search() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           UPDATE timeline_event SET search = NULL WHERE session_id = NEW.id;  -- the trigger above refills it
           RETURN NULL;
       END $$""",
    "ALTER TABLE timeline_event ALTER COLUMN search DROP EXPRESSION",
    # One rewrite: each row keeps its vector (no text is parsed again) plus the new lexemes; the GIN
    # index is rebuilt.
    "ALTER TABLE timeline_event ALTER COLUMN search TYPE tsvector"
    ' USING search || timeline_event_lexemes(session_id, id, "timestamp")',
    """CREATE TRIGGER timeline_event_search BEFORE INSERT OR UPDATE OF
           text, tool_name, tool_input, tool_output, id, session_id, role, kind, "timestamp", search
       ON timeline_event FOR EACH ROW EXECUTE FUNCTION timeline_event_search()""",
    """CREATE TRIGGER timeline_session_search AFTER UPDATE OF provider, device ON timeline_session
       FOR EACH ROW WHEN (OLD.provider IS DISTINCT FROM NEW.provider OR OLD.device IS DISTINCT FROM NEW.device)
       EXECUTE FUNCTION timeline_session_search()""",
    "ANALYZE timeline_event",
]

DOWN = [
    "DROP TRIGGER IF EXISTS timeline_session_search ON timeline_session",
    "DROP TRIGGER IF EXISTS timeline_event_search ON timeline_event",
    "DROP FUNCTION IF EXISTS timeline_session_search()",
    "DROP FUNCTION IF EXISTS timeline_event_search()",
    "DROP FUNCTION IF EXISTS timeline_event_lexemes(bigint, bigint, timestamptz)",
    # back to 0004's generated column (a rewrite)
    "DROP INDEX IF EXISTS timeline_event_search",
    "ALTER TABLE timeline_event DROP COLUMN IF EXISTS search",
    "ALTER TABLE timeline_event ADD COLUMN search tsvector GENERATED ALWAYS AS ("
    + (WORDS + " ||" + FACETS).replace("NEW.", "")
    + "\n    ) STORED",
    "CREATE INDEX timeline_event_search ON timeline_event USING GIN (search)",
    "ANALYZE timeline_event",
]


def run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("timeline", "0005_source_chunks")]

    operations = [migrations.RunPython(run(UP), run(DOWN))]
