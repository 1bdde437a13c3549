"""Ingest throughput through the HTTP API into SQLite, and the ratio to a bare executemany.

    python bench/ingest.py [SIZE_MB]    # default 1024

Replicates the fixtures (Claude Code, Claude CLI, Codex) to SIZE_MB of JSONL: copy k of a
file gets its own path and session id, and every line gets a ``"_c": k`` field so no two
lines are alike (as in real history; repeats would compress for free). A real ``zerg serve``
(fresh ZERG_HOME, synchronous=FULL) receives batches of about 4 MiB from one client, one
request at a time, encoded as the Shipper encodes them (``agents_ingest.wire``: zstd batches).
The figure is events stored / the sum of request round-trip times (building and compressing
the batches is the client's work and is not counted). The server leaves
full-text indexing to its background indexer (``timeline.indexer``), which works while the
next request is parsed and while the client prepares it: the bench also prints how long
after the last answer the search index is complete.

Then the bare baseline: the rows the server stored (archive chunks, events) are read back
and inserted with ``sqlite3.executemany`` into an empty database with the same schema
(indexes, FTS5 index), same pragmas, one transaction per request-sized batch, the FTS5
index fed the way the server feeds it (one INSERT ... SELECT per transaction). Its rows are
ready-made (already compressed, parsed, encoded): it is the floor the schema and
durability set, not something the HTTP path could reach.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import sys
import time
import urllib.request
from pathlib import Path

import targets
from _common import REPO, running_server, scratch, server_env, table  # noqa: F401

from agents_ingest import wire
from tests.procs import run_zerg

FIXTURES = REPO.parent / "shared" / "fixtures"
BATCH_BYTES = 4 * 1024 * 1024
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def sources():
    out = [("claude", p) for p in sorted((FIXTURES / "claude").rglob("*.jsonl"))]
    out += [("claude", p) for p in sorted((FIXTURES / "claude-cli").glob("*.jsonl"))]
    out += [("codex", p) for p in sorted((FIXTURES / "codex").glob("*.jsonl"))]
    return [(prov, p, p.read_bytes()) for prov, p in out if p.stat().st_size]


def replica(k: int, provider: str, path: Path, data: bytes) -> tuple[str, bytes]:
    tag = f"{k:06x}".encode()

    def retag(match):  # a per-copy session id: the last 6 hex digits carry the copy number
        return match.group(0)[:-6] + tag

    if provider == "codex":
        data = UUID.sub(retag, data)
    lines = [b'{"_c":%d,' % k + line[1:] if line.startswith(b"{") else line for line in data.splitlines(keepends=True)]
    stem = path.stem
    new_stem = UUID.sub(retag, stem.encode()).decode() if UUID.search(stem.encode()) else f"{stem}-{k:06x}"
    rel = path.relative_to(FIXTURES).parent
    return f"/bench/{k}/{rel}/{new_stem}{path.suffix}", b"".join(lines)


def batches(size_bytes: int):
    files = sources()
    total, k = 0, 0
    batch, used = [], 0
    while total < size_bytes:
        for provider, path, data in files:
            new_path, new_data = replica(k, provider, path, data)
            batch.append(
                (
                    {
                        "provider": provider,
                        "path": new_path,
                        "generation": 0,
                        "offset": 0,
                        "git": None,
                        "parent_session": None,
                    },
                    new_data,
                )
            )
            used += len(new_data)
            total += len(new_data)
            if used >= BATCH_BYTES:
                yield batch, used
                batch, used = [], 0
        k += 1
    if batch:
        yield batch, used


def encode(batch: list[tuple[dict, bytes]]) -> tuple[bytes, dict]:
    """The body and headers the Shipper would send for this batch."""
    return wire.encode_batch("bench", batch), {"Content-Type": wire.BATCH_TYPE, "Content-Encoding": "zstd"}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post(url: str, token: str, body: bytes, headers: dict) -> dict:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Authorization": f"Bearer {token}", **headers}
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def bare_executemany(source_db: Path, target_db: Path, batches_count: int) -> tuple[float, int]:
    src = sqlite3.connect(source_db)
    # The Timeline's schema only (other apps' tables play no part), without FTS5's shadow tables
    # (creating the virtual table makes them).
    objects = src.execute(
        "SELECT name, type, sql FROM sqlite_master WHERE sql IS NOT NULL "
        "AND tbl_name LIKE 'timeline%' "
        "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END"
    ).fetchall()
    virtual = [name for name, _, sql in objects if sql.upper().startswith("CREATE VIRTUAL TABLE")]
    shadow = {f"{v}_{suffix}" for v in virtual for suffix in ("data", "idx", "docsize", "config", "content")}
    dst = sqlite3.connect(target_db, isolation_level=None)
    dst.execute("PRAGMA journal_mode=WAL")
    dst.execute("PRAGMA synchronous=FULL")
    dst.execute("PRAGMA foreign_keys=ON")
    for name, _, sql in objects:
        if name not in shadow:
            dst.execute(sql)
    # the rows the server stored, read back whole (so reading is not timed)
    data = {}
    for name in ("timeline_session", "timeline_sourcefile", "timeline_sourcechunk", "timeline_event"):
        cursor = src.execute(f"SELECT * FROM {name} ORDER BY id")
        columns = [d[0] for d in cursor.description]
        data[name] = (columns, cursor.fetchall())
    events = len(data["timeline_event"][1])
    start = time.perf_counter()
    dst.execute("PRAGMA defer_foreign_keys=ON")
    for name in ("timeline_session", "timeline_sourcefile"):
        columns, rows = data[name]
        dst.execute("BEGIN IMMEDIATE")
        dst.executemany(f"INSERT INTO {name} ({','.join(columns)}) VALUES ({','.join('?' * len(columns))})", rows)
        dst.execute("COMMIT")
    # One transaction per request-sized slice of archive chunks, with the events that point into
    # that slice (as the server writes them).
    raw_cols, raw_rows = data["timeline_sourcechunk"]
    parts = max(1, batches_count)
    bounds = [raw_rows[min(len(raw_rows) - 1, (i + 1) * len(raw_rows) // parts - 1)][0] for i in range(parts)]
    groups = {name: [[] for _ in range(parts)] for name in ("timeline_event",)}
    import bisect

    for name in groups:
        columns, rows = data[name]
        at = columns.index("chunk_id")
        for row in rows:
            groups[name][min(parts - 1, bisect.bisect_left(bounds, row[at] or 0))].append(row)
    deferred = dst.execute("SELECT 1 FROM sqlite_master WHERE name = 'timeline_fts_deferred'").fetchone()
    fts_columns = ", ".join(r[1] for r in dst.execute("PRAGMA table_info(timeline_event_fts_src)") if r[1] != "id")
    for i in range(parts):
        dst.execute("BEGIN IMMEDIATE")
        if deferred:  # index the slice's events in one statement, as the server does (timeline migration 0003)
            since = dst.execute("SELECT coalesce(max(id), 0) FROM timeline_event").fetchone()[0]
            dst.execute("INSERT INTO timeline_fts_deferred (since) VALUES (?)", (since,))
        chunk = raw_rows[i * len(raw_rows) // parts : (i + 1) * len(raw_rows) // parts]
        dst.executemany(
            f"INSERT INTO timeline_sourcechunk ({','.join(raw_cols)}) VALUES ({','.join('?' * len(raw_cols))})", chunk
        )
        for name in ("timeline_event",):
            columns = data[name][0]
            dst.executemany(
                f"INSERT INTO {name} ({','.join(columns)}) VALUES ({','.join('?' * len(columns))})", groups[name][i]
            )
        if deferred:
            dst.execute(
                f"INSERT INTO timeline_event_fts (rowid, {fts_columns}) "
                f"SELECT id, {fts_columns} FROM timeline_event_fts_src WHERE id > ?",
                (since,),
            )
            dst.execute("DELETE FROM timeline_fts_deferred")
        dst.execute("COMMIT")
    elapsed = time.perf_counter() - start
    return elapsed, events


def measure(size_mb: float = 1024, verbose: bool = True) -> dict:
    with scratch() as root, server_env(root) as env, running_server(root, env) as server:
        if env.get("DATABASE_URL"):
            raise SystemExit("bench/ingest.py measures SQLite (its bare baseline is sqlite3): unset DATABASE_URL")
        server.wait_healthy()
        done = run_zerg(["token", "create", "--json", "--device", "bench"], env)
        token = json.loads(done.stdout)["token"]
        url = server.url + "/api/agents/ingest"
        sent = events = lines = requests = 0
        spent = 0.0
        cpu_before = cpu_seconds(server.pid)
        wall = time.perf_counter()
        for batch, used in batches(int(size_mb * 1024 * 1024)):
            body, headers = encode(batch)
            t0 = time.perf_counter()
            answer = post(url, token, body, headers)
            spent += time.perf_counter() - t0
            sent += used
            events += answer["events_stored"]
            lines += answer["lines_stored"]
            requests += 1
            if verbose and requests % 25 == 0:
                print(f"  {sent / 1e6:.0f} MB, {events} events, {events / spent:.0f} events/s", file=sys.stderr)
        db = Path(env["ZERG_HOME"]) / "zerg.db"
        # The server indexes each request's events for search in a background thread (timeline.indexer):
        # how long after the last answer is everything indexed?
        last_answer = time.perf_counter()
        check = sqlite3.connect(db, timeout=60)
        while check.execute("SELECT count(*) FROM timeline_fts_pending").fetchone()[0]:
            time.sleep(0.02)
        check.close()
        drained = time.perf_counter() - last_answer
        server_cpu = cpu_seconds(server.pid) - cpu_before
        wall = time.perf_counter() - wall
        db_size = db.stat().st_size + sum(p.stat().st_size for p in db.parent.glob("zerg.db-*"))
        bare_s, bare_events = bare_executemany(db, root / "bare.db", requests)
    return {
        "format": "zstd batches",
        "sent": sent,
        "requests": requests,
        "lines": lines,
        "events": events,
        "spent": spent,
        "wall": wall,
        "drained": drained,
        "server_cpu": server_cpu,
        "bare_s": bare_s,
        "bare_events": bare_events,
        "db_size": db_size,
        "http_eps": events / spent,
        "bare_eps": bare_events / bare_s,
    }


def rows(r: dict) -> list[tuple]:
    """Rows for bench/run.py's table (figure, target, result)."""
    mb = f"{r['sent'] / 1e6:.0f} MB of JSONL, {r['events']:,} events"
    small = "" if r["sent"] >= 1e9 else " (QUICK: the target is for >= 1 GB)"
    return [
        (
            f"ingest through the HTTP API, {mb}{small}",
            f"> {targets.INGEST_EVENTS_S:,} events/s",
            f"{r['http_eps']:,.0f} events/s" + targets.verdict(r["http_eps"] > targets.INGEST_EVENTS_S),
        ),
        ("ingest: search index complete after the last answer (background indexer)", "-", f"{r['drained']:.2f} s"),
        (
            "ingest: server CPU per event, all threads (20,000/s on 2 cores: <= 100 us)",
            "-",
            f"{1e6 * r['server_cpu'] / r['events']:.0f} us",
        ),
        (
            "ingest: bare executemany of the same rows / ratio HTTP to bare",
            "-",
            f"{r['bare_eps']:,.0f} events/s / {r['http_eps'] / r['bare_eps']:.2f}",
        ),
    ]


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    size_mb = float(args[0]) if args else 1024
    r = measure(size_mb)
    sent, spent = r["sent"], r["spent"]
    print(
        table(
            [
                ("JSONL shipped", f"{sent / 1e6:.0f} MB in {r['requests']} requests ({r['format']})"),
                ("lines / events stored", f"{r['lines']} / {r['events']}"),
                ("ingest through HTTP (server time)", f"{r['http_eps']:,.0f} events/s ({sent / 1e6 / spent:.1f} MB/s)"),
                ("wall time incl. client batching", f"{r['wall']:.0f} s"),
                ("search index complete after the last answer", f"{r['drained']:.2f} s"),
                # what the whole ingest costs the server, all threads (parse, store, compress, index): on 2
                # cores, 20,000 events/s leaves at most 100 us of CPU per event, however it is spread
                (
                    "server CPU per event (all threads, incl. indexing)",
                    f"{1e6 * r['server_cpu'] / r['events']:.0f} us ({r['server_cpu']:.1f} s)",
                ),
                ("bare executemany, same rows and schema", f"{r['bare_eps']:,.0f} events/s ({r['bare_s']:.1f} s)"),
                ("ratio HTTP / bare", f"{r['http_eps'] / r['bare_eps']:.2f}"),
                ("database size", f"{r['db_size'] / 1e6:.0f} MB"),
            ],
            ("figure", "value"),
        )
    )


if __name__ == "__main__":
    main()
