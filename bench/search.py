"""Search latency on an archive of N events (default 1,000,000), SQLite FTS5 or Postgres.

    python bench/search.py [EVENTS] [QUERIES] [--keep DIR]   # defaults 1000000 200

``--keep DIR`` builds the archive in DIR/zerg.db (with DATABASE_URL: in the database named
DIR on that server, created if missing) and keeps it; a later run with the same DIR and
EVENTS reuses it (migrating it first) and only runs the queries.

Builds the archive in a fresh ZERG_HOME (or a fresh Postgres database when DATABASE_URL
is set): the schema from the migrations, 600 sessions over 3 providers, 8 projects, 3
devices, 6 branches and a year of dates, and events whose texts, tool names, inputs and
outputs are the fixtures' parsed events (capped at 1,500 characters a field) with a few
words from the fixtures' vocabulary mixed in so no two events are alike. Rows go in with
executemany; the search index is maintained by the database as on ingest.

Then QUERIES two-word queries (pairs of words that occur together in a fixture event, both
from the vocabulary's middle band: words in 0.1 %..5 % of events) with filters (provider + project, device + a 90-day range,
provider + role, or a tool name), sorted by relevance, through ``timeline.search.search``
(the SQL the API runs; the HTTP layer is not in the figure). Prints the load average and p50 / p95 / max, once
on the archive as built and once after the index maintenance the daily job does (SQLite:
FTS5 'optimize', merging the index segments; Postgres: the GIN pending list merged and the
tables analysed). A reused ``--keep`` archive is already maintained.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit, urlunsplit

from _common import REPO, base_env, percentile, scratch, server_env, table

FIXTURES = REPO.parent / "shared" / "fixtures"
CAP = 1500


def fixture_events():
    from agents_ingest.parsers import parse_bytes

    out = []
    for provider, pattern in (("claude", "claude/**/*.jsonl"), ("codex", "codex/*.jsonl")):
        for path in sorted(FIXTURES.glob(pattern)):
            events, _ = parse_bytes(provider, path.read_bytes(), str(path))
            out += [e for e in events if e.kind in ("message", "thinking", "tool_call", "tool_result")]
    return out


@contextlib.contextmanager
def kept_env(root, keep: str):
    """Env for a kept archive: ZERG_HOME=keep on SQLite, or the database ``keep`` on DATABASE_URL's server."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        yield base_env(keep)
        return
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [keep]).fetchone():
            conn.execute(f'CREATE DATABASE "{keep}"')
    yield base_env(root / "home", DATABASE_URL=urlunsplit(parts._replace(path="/" + keep)))


def main() -> None:
    args = sys.argv[1:]
    keep = None
    if "--keep" in args:
        at = args.index("--keep")
        keep = args[at + 1]
        del args[at:at + 2]
    total = int(args[0]) if args else 1_000_000
    queries = int(args[1]) if len(args) > 1 else 200
    rng = random.Random(7)
    with scratch() as root, (kept_env(root, keep) if keep else server_env(root)) as env:
        os.environ.update(env)
        os.environ["DJANGO_SETTINGS_MODULE"] = "zerg_site.settings"
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection, transaction

        from timeline.search import Filters, search

        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM timeline_event")
            reuse = bool(keep) and cursor.fetchone()[0] >= total - 600
        samples = fixture_events()
        vocab = Counter()
        for e in samples:
            vocab.update(set(re.findall(r"[a-z]{4,12}", (e.text + " " + e.tool_input).lower())))
        words = [w for w, _ in vocab.most_common(3000)]
        providers, projects = ["claude", "codex", "gemini"], [f"project{i}" for i in range(8)]
        devices, branches = ["laptop", "desktop", "server"], ["main", "dev", "feature/a", "feature/b", "fix", "master"]
        start_day = datetime(2025, 11, 1, tzinfo=timezone.utc)
        sessions = []
        with connection.cursor() as cursor:
            for i in range(0 if reuse else 600):
                row = (providers[i % 3], f"bench-{i}", projects[i % 8], devices[i % 3], branches[i % 6],
                       start_day + timedelta(days=i * 365 / 600))
                sessions.append(row)
            cursor.executemany(
                "INSERT INTO timeline_session (provider, provider_session_id, project, cwd, device, git_remote,"
                " git_branch, git_commit, title, model, version, started_at, ended_at, input_tokens, output_tokens,"
                " cache_read_tokens, cache_creation_tokens, event_count, malformed_count, unknown_count,"
                " created_at, updated_at) VALUES (%s, %s, %s, '', %s, '', %s, '', '', '', '', %s, %s,"
                " 0, 0, 0, 0, 0, 0, 0, %s, %s)",
                [(p, sid, proj, dev, br, connection.ops.adapt_datetimefield_value(t),
                  connection.ops.adapt_datetimefield_value(t), connection.ops.adapt_datetimefield_value(t),
                  connection.ops.adapt_datetimefield_value(t)) for p, sid, proj, dev, br, t in sessions])
            cursor.execute("SELECT id, started_at FROM timeline_session ORDER BY id")
            session_rows = cursor.fetchall()
        per_session = total // len(session_rows)
        sql = ("INSERT INTO timeline_event (session_id, ordinal, key, kind, role, record_type, text, tool_name,"
               " tool_input, tool_output, tool_call_id, message_id, usage, model, timestamp, uuid, parent_uuid,"
               " is_sidechain, chunk_id, \"offset\") VALUES"
               " (%s, %s, %s, %s, %s, '', %s, %s, %s, %s, '', '', NULL, '', %s, '', '', %s, NULL, NULL)")
        built = time.perf_counter()
        n = 0
        for sid, started in ([] if reuse else session_rows):
            if isinstance(started, str):
                started = datetime.fromisoformat(started)
            rows = []
            for k in range(per_session):
                e = samples[rng.randrange(len(samples))]
                extra = " ".join(rng.choice(words) for _ in range(3))
                ts = connection.ops.adapt_datetimefield_value(started + timedelta(seconds=k * 7))
                rows.append((sid, k, f"k{k}", e.kind, e.role or "assistant", (e.text[:CAP] + " " + extra).strip(),
                             e.tool_name, e.tool_input[:CAP], e.tool_output[:CAP], ts, False))
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(sql, rows)
                cursor.execute("UPDATE timeline_session SET event_count = %s WHERE id = %s", [len(rows), sid])
            n += len(rows)
            if n % 100_000 < per_session:
                print(f"  {n} events, {time.perf_counter() - built:.0f} s", file=sys.stderr)
        build_s = time.perf_counter() - built

        # the middle band of the vocabulary: selective enough to be a real search, common enough to hit
        doc_freq = Counter()
        for e in samples:
            doc_freq.update(set(re.findall(r"[a-z]{4,12}", (e.text + " " + e.tool_input).lower())))
        band = [w for w, c in doc_freq.items() if 0.001 * len(samples) <= c <= 0.05 * len(samples)]
        tools = [t for t, _ in Counter(e.tool_name for e in samples if e.tool_name).most_common(5)]
        band_set = set(band)
        pairs = []  # two band words that occur together in some event, so most queries have hits
        for e in samples:
            found = sorted(band_set.intersection(re.findall(r"[a-z]{4,12}", (e.text + " " + e.tool_input).lower())))
            if len(found) >= 2:
                pairs.append(found)
        rng = random.Random(11)  # the queries do not depend on whether the archive was built now
        workload = []
        for i in range(queries):
            pair = rng.choice(pairs)
            q = " ".join(rng.sample(pair, 2))
            kind = i % 4
            if kind == 0:
                f = Filters(provider=rng.choice(providers), project=rng.choice(projects))
            elif kind == 1:
                since = start_day + timedelta(days=rng.randrange(0, 270))
                f = Filters(device=rng.choice(devices), since=since, until=since + timedelta(days=90))
            elif kind == 2:
                f = Filters(provider=rng.choice(providers), role="assistant")
            else:
                f = Filters(tool=rng.choice(tools))
            workload.append((kind, q, f))

        def run():
            latencies, by_kind, hits = [], {}, 0
            for kind, q, f in workload:
                t0 = time.perf_counter()
                result = search(q, f, sort="relevance", limit=20)
                latencies.append((time.perf_counter() - t0) * 1000)
                by_kind.setdefault(kind, []).append(latencies[-1])
                hits += bool(result["hits"])
            return latencies, by_kind, hits

        loads = [os.getloadavg()[0]]
        built_run = run()
        loads.append(os.getloadavg()[0])
        # Then as the daily maintenance leaves it: FTS5 segments merged / GIN pending list merged
        # and the table analysed.
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("INSERT INTO timeline_event_fts(timeline_event_fts) VALUES ('optimize')")
            else:
                cursor.execute("SELECT gin_clean_pending_list('timeline_event_search'::regclass)")
                cursor.execute("ANALYZE timeline_event")
                cursor.execute("ANALYZE timeline_session")
        maintenance_s = time.perf_counter() - t0
        maintained_run = run()
        loads.append(os.getloadavg()[0])
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM timeline_event")
            count = cursor.fetchone()[0]
        size = ""
        if connection.vendor == "sqlite":
            db = connection.settings_dict["NAME"]
            size = f"{sum(os.path.getsize(p) for p in (db, db + '-wal') if os.path.exists(p)) / 1e6:.0f} MB"
    names = ("provider + project", "device + 90 days", "provider + role", "tool name")
    rows = [
        ("database", connection.vendor + (f" ({size})" if size else "")),
        ("events in the archive", f"{count:,} " + ("(reused)" if reuse else f"(built in {build_s:.0f} s)")),
        ("queries (two words + filters, relevance)", f"{queries}, {built_run[2]} with hits"),
        ("load average (1 min) before / between / after the runs", " / ".join(f"{x:.2f}" for x in loads)),
    ]
    for label, (latencies, by_kind, _) in (("as built", built_run),
                                           (f"after index maintenance ({maintenance_s:.0f} s)", maintained_run)):
        rows += [
            (f"{label}: p50 / p95 / max", f"{percentile(latencies, 50):.1f} / {percentile(latencies, 95):.1f} / "
                                          f"{max(latencies):.1f} ms"),
            *[(f"{label}: p50 / p95, filter {name}",
               f"{percentile(by_kind[k], 50):.1f} / {percentile(by_kind[k], 95):.1f} ms")
              for k, name in enumerate(names) if k in by_kind],
        ]
    print(table(rows, ("figure", "value")))


if __name__ == "__main__":
    main()
