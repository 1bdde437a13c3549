"""Compact the Timeline's full-text index (scheduled daily by zerg_site.maintenance).

SQLite: FTS5 adds a small b-tree segment per write and merges them lazily; merging them
all makes queries read fewer segments. FTS5's 'optimize' does that in one write
transaction, which on a big index holds the write lock longer than the busy timeout
(ingest would fail with "database is locked"), so by default this runs the bounded
form, ('merge', -N): all segments are eligible, each call writes about N pages in its
own short transaction, repeated until a call does no work. ``--full`` runs 'optimize'.

Postgres: the GIN index's pending list is merged (gin_clean_pending_list) and the
table analysed, the twin of the same housekeeping.
"""

from django.core.management.base import BaseCommand
from django.db import connection

from timeline.indexer import index_pending

FTS_TABLE = "timeline_event_fts"  # timeline/migrations/0002_search.py
PG_TABLE, PG_INDEX = "timeline_event", "timeline_event_search"
MERGE_PAGES = 500  # pages per step: a few MB, well under a second of lock
MAX_STEPS = 100_000


class Command(BaseCommand):
    help = "Merge the Timeline search index's segments (FTS5 on SQLite, GIN on Postgres)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--full",
            action="store_true",
            help="SQLite: one 'optimize' in a single transaction (blocks writers meanwhile)",
        )

    def handle(self, *args, full=False, **options):
        if connection.vendor == "postgresql":
            return self.postgres()
        existing = connection.introspection.table_names()
        if FTS_TABLE not in existing:
            self.stdout.write(f"nothing to do: there is no {FTS_TABLE} table (migrations not applied?)")
            return

        pending = index_pending()  # ranges an ingest left to the background indexer (normally none by now)
        if pending:
            self.stdout.write(f"indexed {pending} pending ingest ranges")
        with connection.cursor() as cursor:
            if full:
                cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')")
                self.stdout.write("search index optimized")
                return
            raw = connection.connection  # sqlite3.Connection: total_changes tells whether a merge did work
            steps = 0
            while steps < MAX_STEPS:
                before = raw.total_changes
                cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('merge', %s)", [-MERGE_PAGES])
                steps += 1
                if raw.total_changes - before < 2:  # FTS5's documented "no work was done"
                    break
        self.stdout.write(f"search index merged in {steps} steps")

    def postgres(self):
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s)", [PG_INDEX])
            if cursor.fetchone()[0] is None:
                self.stdout.write(f"nothing to do: there is no {PG_INDEX} index (migrations not applied?)")
                return
            cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [PG_INDEX])
            pages = cursor.fetchone()[0]
            cursor.execute(f"ANALYZE {PG_TABLE}")
        self.stdout.write(f"search index: {pages} pending pages merged, {PG_TABLE} analysed")
