"""Worker -> WebSocket latency: ``POST /api/system/ping`` until its ``worker.pong`` arrives.

The ping is queued for the django-q2 cluster (ORM broker, polled), a worker publishes
the pong into the event log, and the server's tailer pushes it to the WebSocket. One
warm-up ping, then N pings one after the other; p50 / p95 / max.

    python bench/ws_latency.py [N]
"""

from __future__ import annotations

import asyncio
import sys
import time

from _common import percentile, running_server, scratch, server_env

from tests.procs import create_token, http_json, ws_connect, ws_subscribe, ws_wait_event

TARGET = 1.0


async def pings(server, token: str, count: int) -> list[float]:
    ws = await ws_connect(server, token)
    try:
        await ws_subscribe(ws, topics=["system"], after=0)
        latencies = []
        for _ in range(count + 1):
            sent = time.monotonic()
            status, body = await asyncio.to_thread(http_json, server.url + "/api/system/ping", "POST", token)
            if status != 200:
                raise RuntimeError(f"ping answered {status}: {body}")
            task_id = body["task_id"]
            await ws_wait_event(
                ws, lambda e: e["kind"] == "worker.pong" and e["payload"].get("task_id") == task_id, timeout=30
            )
            latencies.append(time.monotonic() - sent)
        return latencies[1:]  # the first one warms the worker up
    finally:
        await ws.close()


def measure(count: int = 20, verbose: bool = True) -> dict:
    with scratch() as root, server_env(root) as env:
        token = create_token(env)
        with running_server(root, env) as server:
            server.wait_healthy(timeout=60)
            server.wait_worker(timeout=60)
            latencies = asyncio.run(pings(server, token, count))
    result = {
        "count": count,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "max": max(latencies),
    }
    if verbose:
        print("  " + " ".join(f"{v * 1000:.0f}" for v in latencies) + " (ms)")
    return result


def rows(result: dict) -> list[tuple]:
    def verdict(value):
        return f"{value * 1000:.0f} ms" + ("" if value < TARGET else "  (MISSED)")

    n = result["count"]
    return [
        (f"ping -> worker.pong on WebSocket, p50 of {n}", f"< {TARGET:.0f} s", verdict(result["p50"])),
        (f"ping -> worker.pong on WebSocket, p95 of {n}", f"< {TARGET:.0f} s", verdict(result["p95"])),
        (f"ping -> worker.pong on WebSocket, max of {n}", "-", f"{result['max'] * 1000:.0f} ms"),
    ]


def main() -> None:
    from _common import table

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    print(f"worker -> WebSocket latency, {count} pings")
    print(table(rows(measure(count)), ("figure", "target", "result")))


if __name__ == "__main__":
    main()
