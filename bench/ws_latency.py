"""Worker -> WebSocket latency: ``POST /api/system/ping`` until its ``worker.pong`` arrives.

The ping is queued for the django-q2 cluster (ORM broker, polled), a worker publishes
the pong into the event log, and the server's tailer pushes it to the WebSocket. One
warm-up ping, then N pings one after the other; p50 / p95 / max.
With CLIENTS connected clients (all subscribed to "system"), a ping's latency is until
the last of them has its pong.

    python bench/ws_latency.py [N] [CLIENTS]     # defaults 20 pings, 50 clients
"""

from __future__ import annotations

import asyncio
import sys
import time

import targets  # noqa: E402
from _common import percentile, running_server, scratch, server_env

from tests.procs import create_token, http_json, ws_connect, ws_subscribe, ws_wait_event

TARGET = targets.WS_LATENCY_S


async def pings(server, token: str, count: int, clients: int = 1) -> list[float]:
    sockets = [await ws_connect(server, token) for _ in range(clients)]
    try:
        for ws in sockets:
            await ws_subscribe(ws, topics=["system"], after=0)
        latencies = []
        for _ in range(count + 1):
            sent = time.monotonic()
            status, body = await asyncio.to_thread(http_json, server.url + "/api/system/ping", "POST", token)
            if status != 200:
                raise RuntimeError(f"ping answered {status}: {body}")
            task_id = body["task_id"]
            await asyncio.gather(
                *(
                    ws_wait_event(
                        ws,
                        lambda e, task_id=task_id: (
                            e["kind"] == "worker.pong" and e["payload"].get("task_id") == task_id
                        ),
                        timeout=30,
                    )
                    for ws in sockets
                )
            )
            latencies.append(time.monotonic() - sent)
        return latencies[1:]  # the first one warms the worker up
    finally:
        for ws in sockets:
            await ws.close()


def measure(count: int = 20, verbose: bool = True, clients: int = 50) -> dict:
    with scratch() as root, server_env(root) as env:
        token = create_token(env)
        with running_server(root, env) as server:
            server.wait_healthy(timeout=60)
            server.wait_worker(timeout=60)
            latencies = asyncio.run(pings(server, token, count, clients))
    result = {
        "count": count,
        "clients": clients,
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

    n, c = result["count"], result.get("clients", 1)
    on = f"on all {c} WebSockets" if c > 1 else "on WebSocket"
    return [
        (f"ping -> worker.pong {on}, p50 of {n}", f"< {TARGET:.0f} s", verdict(result["p50"])),
        (f"ping -> worker.pong {on}, p95 of {n}", f"< {TARGET:.0f} s", verdict(result["p95"])),
        (f"ping -> worker.pong {on}, max of {n}", "-", f"{result['max'] * 1000:.0f} ms"),
    ]


def main() -> None:
    from _common import table

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    print(f"worker -> WebSocket latency, {count} pings, {clients} clients")
    print(table(rows(measure(count, clients=clients)), ("figure", "target", "result")))


if __name__ == "__main__":
    main()
