"""Spend API latency over an archive of N sessions and 10 events each (default 100,000 and 1,000,000).

    python bench/spend_api.py [SESSIONS] [QUERIES] [--keep DIR]   # defaults 100000 60

(Not ``spend.py``: run as a script, its folder comes first on sys.path, and a bench named ``spend``
would shadow the ``spend`` package the server imports.)

Builds a fresh ZERG_HOME (or a fresh Postgres database when DATABASE_URL is set): the schema from
the migrations, then SESSIONS Timeline sessions over a year (3 providers, 12 models, 40 projects,
4 devices; one in 50 of unknown price, one in 40 the server's own commis sessions, which spend
leaves to the jobs), 10 events each with a response's usage, 2,000 Oikos turns and 1,000 commis
jobs, written with the models' ``bulk_create`` (the rows the ingest and the services write; no
SQL of its own against table names). Sessions are written by the ingest in the product; that
path's speed is bench/ingest.py's, and 100,000 sessions through it would take an hour here.

``--keep DIR`` (SQLite only): the ZERG_HOME is DIR/home and is kept; when it already holds the
sessions, the build is skipped and only the migrations not yet applied run (timed), so one archive
measures the same queries before and after a schema change (a full build takes minutes).

Then QUERIES ``GET /api/spend`` through Django's test client as the owner (the whole view: auth,
ninja, the queries, the JSON), cycling over by=day/model/project/source/device and ranges of the
last 30 days, 90 days and the whole year, and prints p50 / p95 / max in ms, the load average, and
the database's plan for the sessions' query of a year by model (an index-only scan is what keeps a
year's ~97,000 session rows from being read one by one from the table).
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import base_env, database_kind, percentile, scratch, server_env, table

BATCH = 5000


def build(sessions: int, rng: random.Random, end: datetime) -> None:
    from commis.models import Job
    from oikos.models import Thread, Turn
    from timeline.models import Event, Session
    from zerg_site.devices import COMMIS_DEVICE

    providers = ["claude", "codex", "gemini"]
    models = [f"model-{i}" for i in range(12)]
    projects = [f"project{i}" for i in range(40)]
    devices = ["laptop", "desktop", "server", COMMIS_DEVICE]
    year = 365 * 24 * 3600
    made = 0
    while made < sessions:
        rows = []
        for i in range(made, min(sessions, made + BATCH)):
            ended = end - timedelta(seconds=rng.randrange(year))
            unknown = i % 50 == 0
            tokens = [rng.randrange(100, 50_000) for _ in range(4)]
            rows.append(
                Session(
                    provider=providers[i % 3],
                    provider_session_id=f"s-{i}",
                    project=rng.choice(projects),
                    device=devices[3] if i % 40 == 0 else rng.choice(devices[:3]),
                    model=rng.choice(models),
                    started_at=ended - timedelta(minutes=rng.randrange(1, 300)),
                    ended_at=ended,
                    input_tokens=tokens[0],
                    output_tokens=tokens[1],
                    cache_read_tokens=tokens[2],
                    cache_creation_tokens=tokens[3],
                    cost_usd=None if unknown else tokens[1] * 15e-6,
                    cost_partial=unknown,
                    event_count=10,
                )
            )
        created = Session.objects.bulk_create(rows, batch_size=1000)
        events = [
            Event(
                session_id=s.id,
                ordinal=n,
                key=f"k{n}",
                kind="message",
                role="assistant",
                text="ok",
                model=s.model,
                timestamp=s.ended_at - timedelta(seconds=10 - n),
                usage={"input_tokens": 10, "output_tokens": 20},
            )
            for s in created
            for n in range(10)
        ]
        Event.objects.bulk_create(events, batch_size=2000)
        made += len(rows)
        print(f"  {made:,} sessions, {made * 10:,} events", file=sys.stderr, flush=True)
    threads = Thread.objects.bulk_create([Thread(title=f"t{i}") for i in range(100)])
    Turn.objects.bulk_create(
        [
            Turn(
                thread=threads[i % 100],
                status="done",
                usage={"input_tokens": 2000, "output_tokens": 300},
                cost_usd=0.01,
                created_at=(when := end - timedelta(seconds=rng.randrange(year))),
                finished_at=when,
            )
            for i in range(2000)
        ],
        batch_size=1000,
    )
    Job.objects.bulk_create(
        [
            Job(
                task="t",
                backend="claude",
                status="succeeded",
                usage={"input_tokens": 5000, "output_tokens": 900},
                cost_usd=0.05,
                options={"model": rng.choice(models)},
                repo_url=f"https://x/{rng.choice(projects)}.git",
                created_at=(when := end - timedelta(seconds=rng.randrange(year))),
                finished_at=when,
            )
            for i in range(1000)
        ],
        batch_size=1000,
    )


def session_plan(client, url: str) -> str:
    """The database's plan for the Timeline sessions' query that ``url`` makes (one line per step)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    sql = next(
        q["sql"]
        for q in captured.captured_queries
        if 'FROM "timeline_session"' in q["sql"] and '"ended_at" >=' in q["sql"]
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN " + sql)
            return "; ".join(row[0].strip() for row in cursor.fetchall() if "Scan" in row[0])
        cursor.execute("EXPLAIN QUERY PLAN " + sql)
        return "; ".join(row[-1] for row in cursor.fetchall())


@contextlib.contextmanager
def kept(path: Path):
    """``(root, env)`` of a ZERG_HOME kept under ``path`` (SQLite: the database is a file in it)."""
    if database_kind() != "sqlite":
        raise SystemExit("--keep works on SQLite only (a Postgres build takes about a minute: build it afresh)")
    path.mkdir(parents=True, exist_ok=True)
    yield path, base_env(path / "home")


def main() -> None:
    args = sys.argv[1:]
    keep = None
    if "--keep" in args:
        at = args.index("--keep")
        keep = Path(args[at + 1]).resolve()
        del args[at : at + 2]
    sessions = int(args[0]) if len(args) > 0 else 100_000
    queries = int(args[1]) if len(args) > 1 else 60
    homes = kept(keep) if keep else contextlib.nullcontext(None)
    with homes as reused, contextlib.ExitStack() as stack:
        if reused:
            root, env = reused
        else:
            root = stack.enter_context(scratch())
            env = stack.enter_context(server_env(root))
        os.environ.update(env)
        os.environ["DJANGO_SETTINGS_MODULE"] = "zerg_site.settings"
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client

        from timeline.models import Session
        from zerg_site.auth.owner import ensure_owner

        t0 = time.perf_counter()
        call_command("migrate", verbosity=0)
        migrate_s = time.perf_counter() - t0
        settings.ALLOWED_HOSTS = ["*"]
        now = datetime.now(UTC)
        built = Session.objects.count()
        if built:  # a kept archive: its dates are relative to when it was built
            now = Session.objects.order_by("-ended_at").values_list("ended_at", flat=True).first()
            sessions = built
        t0 = time.perf_counter()
        if not built:
            build(sessions, random.Random(7), now)
        build_s = time.perf_counter() - t0
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("ANALYZE")
            else:
                cursor.execute("PRAGMA optimize")
        client = Client()
        client.force_login(ensure_owner())
        today = now.date()
        ranges = [
            (today - timedelta(days=29), today),
            (today - timedelta(days=89), today),
            (today - timedelta(days=364), today),
        ]
        bys = ["day", "model", "project", "source", "device"]
        latencies, slowest = [], ("", 0.0)
        loads = [os.getloadavg()[0]]
        for i in range(queries + 5):
            first, last = ranges[i % 3]
            url = f"/api/spend?from={first}&to={last}&by={bys[i % 5]}"
            start = time.perf_counter()
            got = client.get(url)
            ms = (time.perf_counter() - start) * 1000
            assert got.status_code == 200, got.content[:300]
            if i >= 5:  # the first few warm the caches
                latencies.append(ms)
                slowest = max(slowest, (url, ms), key=lambda x: x[1])
        loads.append(os.getloadavg()[0])
        plan = session_plan(client, f"/api/spend?from={ranges[2][0]}&to={ranges[2][1]}&by=model")
        p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
        print(
            table(
                [
                    ("database", connection.vendor),
                    ("sessions / events", f"{sessions:,} / {sessions * 10:,} (+2,000 turns, 1,000 jobs)"),
                    ("build", f"{build_s:.0f} s" if not built else f"kept ({root}); migrate {migrate_s:.1f} s"),
                    ("queries", f"{len(latencies)} (by day/model/project/source/device; 30, 90, 365 days)"),
                    ("p50 / p95 / max", f"{p50:.1f} / {p95:.1f} / {max(latencies):.1f}"),
                    ("slowest", f"{slowest[0]} ({slowest[1]:.1f} ms)"),
                    ("load average", " -> ".join(f"{v:.1f}" for v in loads)),
                    ("sessions' plan (365 days by model)", plan),
                ],
                ("figure", "value"),
            )
        )


if __name__ == "__main__":
    main()
