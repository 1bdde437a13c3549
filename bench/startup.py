"""Seconds from launching ``zerg serve`` to its first 200 from ``/api/health``.

Median of RUNS launches on fresh ZERG_HOMEs (migrations included), then RUNS launches on
one existing, already-migrated home. On fresh homes it also shows when /api/health first
says ``worker_alive`` (not a target: the cluster starts in the background; on an existing
home an earlier run's heartbeat row could answer for it, so it is not shown there).

    python bench/startup.py [RUNS]
"""

from __future__ import annotations

import sys
import time

import targets  # noqa: E402
from _common import median, running_server, scratch, server_env

TARGET = targets.STARTUP_S


def one_launch(root, env) -> tuple[float, float]:
    with running_server(root, env) as server:
        healthy = server.wait_healthy(timeout=60, interval=0.01)
        server.wait_worker(timeout=60)
        worker = time.monotonic() - server.started_at
        time.sleep(0.5)  # let the cluster finish starting before it is stopped
    return healthy, worker


def measure(runs: int = 5, verbose: bool = True) -> dict:
    fresh, fresh_worker = [], []
    for i in range(runs):
        with scratch() as root, server_env(root) as env:
            healthy, worker = one_launch(root, env)
        fresh.append(healthy)
        fresh_worker.append(worker)
        if verbose:
            print(f"  fresh home    run {i + 1}: health {healthy:.2f}s  worker alive {worker:.2f}s", flush=True)
    existing = []
    with scratch() as root, server_env(root) as env:
        one_launch(root, env)  # migrate once
        for i in range(runs):
            healthy, _ = one_launch(root, env)
            existing.append(healthy)
            if verbose:
                print(f"  existing home run {i + 1}: health {healthy:.2f}s", flush=True)
    return {"fresh": median(fresh), "fresh_worker": median(fresh_worker), "existing": median(existing)}


def rows(result: dict) -> list[tuple]:
    def verdict(value):
        return f"{value:.2f} s" + ("" if value < TARGET else "  (MISSED)")

    return [
        ("startup to first /api/health 200, fresh home (median)", f"< {TARGET:.0f} s", verdict(result["fresh"])),
        ("startup to first /api/health 200, existing home (median)", f"< {TARGET:.0f} s", verdict(result["existing"])),
        ("startup to worker_alive in /api/health, fresh home (median)", "-", f"{result['fresh_worker']:.2f} s"),
    ]


def main() -> None:
    from _common import table

    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(f"zerg serve startup, {runs} runs each")
    print(table(rows(measure(runs)), ("figure", "target", "result")))


if __name__ == "__main__":
    main()
