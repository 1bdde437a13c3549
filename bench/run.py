"""Run every bench and print one table: figure | target | result.

    python bench/run.py            # SQLite in a temporary ZERG_HOME
    DATABASE_URL=postgresql://user@host:port/db python bench/run.py   # fresh databases on that server
"""

from __future__ import annotations

import os
import platform
import sys

from _common import database_kind, table

import idle_memory
import startup
import ws_latency
import oikos_chat


def machine() -> str:
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.1f} GB RAM"
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores ({model or platform.machine()}){memory}, "
            f"Linux {platform.release()}, Python {platform.python_version()}, database {database_kind()}")


def main() -> None:
    print(f"machine: {machine()}\n")
    rows = []
    print("startup (5 fresh homes, then 5 launches on one existing home)")
    rows += startup.rows(startup.measure(5))
    print("\nidle memory (worker alive + 10 s)")
    rows += idle_memory.rows(idle_memory.measure(10.0))
    print("\nworker -> WebSocket latency (20 pings)")
    rows += ws_latency.rows(ws_latency.measure(20))
    print("\nOikos: message -> first streamed token (30 turns), active-turn memory")
    rows += oikos_chat.rows(oikos_chat.measure(30))
    print()
    print(table(rows, ("figure", "target", "result")))


if __name__ == "__main__":
    sys.exit(main())
