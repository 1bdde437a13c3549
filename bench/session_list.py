"""Requests per second of the session list API (``GET /api/timeline/sessions``).

    python bench/session_list.py [SECONDS] [THREADS] [SIZE_MB]   # defaults 10 s, 4 threads, 20 MB

A real ``zerg serve`` (fresh home; SQLite, or Postgres with DATABASE_URL) gets SIZE_MB of
replicated fixture sessions through the ingest API (bench/ingest.py's batches), then
THREADS client threads, each with its own keep-alive connection and an API token, ask for
the first page (50 sessions, newest first, with subagent counts) as fast as they are
answered for SECONDS. The client threads share the machine with the server (and, on 2
cores, the GIL of one client process): the figure is a floor.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time

from _common import percentile, running_server, scratch, server_env, table
from ingest import batches, encode, post

from tests.procs import create_token, run_zerg

PATH = "/api/timeline/sessions?limit=50"


def hammer(port: int, token: str, until: float, latencies: list, errors: list) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    while time.monotonic() < until:
        t0 = time.monotonic()
        try:
            conn.request("GET", PATH, headers=headers)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            errors.append(repr(exc))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        if response.status != 200 or b'"sessions"' not in body:
            errors.append(f"{response.status}: {body[:200]!r}")
            continue
        latencies.append(time.monotonic() - t0)
    conn.close()


def measure(seconds: float = 10, threads: int = 4, size_mb: float = 20, verbose: bool = True) -> dict:
    with scratch() as root, server_env(root) as env, running_server(root, env) as server:
        server.wait_healthy()
        device = json.loads(run_zerg(["token", "create", "--json", "--device", "bench"], env).stdout)["token"]
        sessions = 0
        for batch, _ in batches(int(size_mb * 1024 * 1024)):
            post(server.url + "/api/agents/ingest", device, *encode(batch))
        token = create_token(env)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("GET", PATH, headers={"Authorization": f"Bearer {token}"})
        sessions = json.loads(conn.getresponse().read())["total"]
        conn.close()
        latencies: list[float] = []
        errors: list[str] = []
        until = time.monotonic() + seconds
        workers = [
            threading.Thread(target=hammer, args=(server.port, token, until, latencies, errors)) for _ in range(threads)
        ]
        started = time.monotonic()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.monotonic() - started
    result = {
        "rps": len(latencies) / elapsed,
        "requests": len(latencies),
        "errors": len(errors),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "sessions": sessions,
        "threads": threads,
        "seconds": seconds,
    }
    if verbose:
        print(
            f"  {len(latencies)} requests in {elapsed:.1f} s over {sessions} top-level sessions; "
            f"{len(errors)} errors{': ' + errors[0] if errors else ''}",
            flush=True,
        )
    return result


def rows(r: dict) -> list[tuple]:
    errors = f", {r['errors']} ERRORS" if r["errors"] else ""
    return [
        (
            f"session list API (GET /api/timeline/sessions, page of 50 of {r['sessions']}), "
            f"{r['threads']} keep-alive clients for {r['seconds']:.0f} s",
            "-",
            f"{r['rps']:.0f} requests/s (p50 {r['p50'] * 1000:.0f} ms, p95 {r['p95'] * 1000:.0f} ms{errors})",
        )
    ]


def main() -> None:
    args = [float(a) for a in sys.argv[1:]]
    seconds, threads, size_mb = (args + [10, 4, 20][len(args) :])[:3]
    print(table(rows(measure(seconds, int(threads), size_mb)), ("figure", "target", "result")))


if __name__ == "__main__":
    main()
