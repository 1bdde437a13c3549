"""Search latency on an archive of N events (default 1,000,000), SQLite FTS5 or Postgres.

    python bench/search.py [EVENTS] [QUERIES] [--keep DIR]   # defaults 1000000 200

``--keep DIR`` builds the archive in DIR/zerg.db (with DATABASE_URL: in the database named
DIR on that server, created if missing) and keeps it; a later run with the same DIR and
EVENTS reuses it (migrating it first) and only runs the queries.

Builds the archive in a fresh ZERG_HOME (or a fresh Postgres database when DATABASE_URL
is set): the schema from the migrations, then 600 sessions over 3 providers, 8 projects, 3
devices, 6 branches and a year of dates, shipped through the product's own ingest
(``agents_ingest.ingest.ingest_files``, requests of about 4 MiB per device, as the Shipper
sends them; bench/sessions.py writes each session in its provider's format). Events are the
fixtures' parsed events (capped at 1,500 characters a field) with a few words from the
fixtures' vocabulary mixed in so no two events are alike; the search index is maintained
as on any ingest. Gemini documents name no working directory, so Gemini sessions have no
project, as in the product.

The parsers add events of their own (Codex's two meta records per session, Gemini's tool call
beside each result), so the archive holds about 10 % more events than EVENTS templates drawn;
the table gives the real count.

Then QUERIES two-word queries (pairs of words that occur together in a fixture event, both
from the vocabulary's middle band: words in 0.1 %..5 % of events) with filters (provider +
project, device + a 90-day range, provider + role, or a tool name), sorted by relevance, through
``timeline.search.search`` (the SQL the API runs; the HTTP layer is not in the figure). Prints
the load average and p50 / p95 / max, once on the archive as built and once after the index
maintenance the daily job does (SQLite: FTS5 'optimize', merging the index segments; Postgres:
the GIN pending list merged and the tables analysed). A reused ``--keep`` archive is already maintained.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from _common import REPO, base_env, percentile, scratch, server_env, table
from sessions import Spec, session_file

FIXTURES = REPO.parent / "shared" / "fixtures"
CAP = 1500
SESSIONS = 600
BATCH_BYTES = 4 * 1024 * 1024  # a Shipper request


def fixture_events():
    from agents_ingest.parsers import parse_bytes

    out = []
    for provider, pattern in (("claude", "claude/**/*.jsonl"), ("codex", "codex/*.jsonl")):
        for path in sorted(FIXTURES.glob(pattern)):
            events, _ = parse_bytes(provider, path.read_bytes(), str(path))
            out += [e for e in events if e.kind in ("message", "thinking", "tool_call", "tool_result")]
    for e in out:
        e.text, e.tool_input, e.tool_output = e.text[:CAP], e.tool_input[:CAP], e.tool_output[:CAP]
    return out


def build(total: int, samples: list, words: list, rng: random.Random, facets: tuple, start_day: datetime) -> int:
    """SESSIONS sessions of ``total`` events in all, shipped through the product's ingest as a
    Shipper ships them: each device's files in requests of about BATCH_BYTES."""
    from agents_ingest.ingest import FileChunk, ingest_files

    providers, projects, devices, branches = facets
    per_session = total // SESSIONS if total else 0
    pending: dict[str, list] = {d: [] for d in devices}
    size = dict.fromkeys(devices, 0)
    stored = 0

    def ship(device: str) -> int:
        chunks, pending[device], size[device] = pending[device], [], 0
        return ingest_files(device, chunks)["events_stored"] if chunks else 0

    for i in range(SESSIONS if per_session else 0):
        events = [
            (samples[rng.randrange(len(samples))], " ".join(rng.choice(words) for _ in range(3)))
            for _ in range(per_session)
        ]
        spec = Spec(
            providers[i % 3],
            i,
            projects[i % 8],
            branches[i % 6],
            start_day + timedelta(days=i * 365 / SESSIONS),
            events,
        )
        path, data = session_file(spec)
        device = devices[i % 3]
        pending[device].append(FileChunk(provider=spec.provider, path=path, data=data, git={"branch": spec.branch}))
        size[device] += len(data)
        if size[device] >= BATCH_BYTES:
            before = stored
            stored += ship(device)
            if stored // 100_000 > before // 100_000:
                print(f"  {stored} events", file=sys.stderr)
    for device in devices:
        stored += ship(device)
    return stored


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
        del args[at : at + 2]
    total = int(args[0]) if args else 1_000_000
    queries = int(args[1]) if len(args) > 1 else 200
    rng = random.Random(7)
    with scratch() as root, kept_env(root, keep) if keep else server_env(root) as env:
        os.environ.update(env)
        os.environ["DJANGO_SETTINGS_MODULE"] = "zerg_site.settings"
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        from timeline.search import Filters, search

        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM timeline_event")
            reuse = bool(keep) and cursor.fetchone()[0] >= total - SESSIONS
        samples = fixture_events()
        vocab = Counter()
        for e in samples:
            vocab.update(set(re.findall(r"[a-z]{4,12}", (e.text + " " + e.tool_input).lower())))
        words = [w for w, _ in vocab.most_common(3000)]
        providers, projects = ["claude", "codex", "gemini"], [f"project{i}" for i in range(8)]
        devices, branches = ["laptop", "desktop", "server"], ["main", "dev", "feature/a", "feature/b", "fix", "master"]
        start_day = datetime(2025, 11, 1, tzinfo=UTC)
        built = time.perf_counter()
        build(total if not reuse else 0, samples, words, rng, (providers, projects, devices, branches), start_day)
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
    for label, (latencies, by_kind, _) in (
        ("as built", built_run),
        (f"after index maintenance ({maintenance_s:.0f} s)", maintained_run),
    ):
        rows += [
            (
                f"{label}: p50 / p95 / max",
                f"{percentile(latencies, 50):.1f} / {percentile(latencies, 95):.1f} / {max(latencies):.1f} ms",
            ),
            *[
                (
                    f"{label}: p50 / p95, filter {name}",
                    f"{percentile(by_kind[k], 50):.1f} / {percentile(by_kind[k], 95):.1f} ms",
                )
                for k, name in enumerate(names)
                if k in by_kind
            ],
        ]
    print(table(rows, ("figure", "value")))


if __name__ == "__main__":
    main()
