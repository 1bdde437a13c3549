"""Run every bench and print one table: figure | target | result.

    python bench/run.py                   # everything, full sizes (~20 minutes on 2 cores)
    python bench/run.py --quick           # smaller ingest (100 MB) and search (100,000 events) archives
    python bench/run.py --smoke           # every bench at a tiny size: does it still run? (CI, ~3 minutes)
    python bench/run.py --only startup,ws # a subset (names: see BENCHES)
    DATABASE_URL=postgresql://user@host:port/db python bench/run.py   # fresh databases on that server

Targets live in bench/targets.py. A bench that fails puts a FAILED row in the table and
the others still run; the exit status is 1 if any failed. ``--smoke`` is for CI: it proves
every bench still runs against today's code (a bench nobody runs rots: bench/search.py once
wrote rows its own way and broke when the schema moved on). Its figures mean nothing and
no target is judged. Ingest runs on SQLite only (its baseline is sqlite3); with
DATABASE_URL it is left out.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

import targets
from _common import database_kind, table

QUICK = "--quick" in sys.argv
SMOKE = "--smoke" in sys.argv


def size(full, quick=None, smoke=None):
    """The bench's size for this mode."""
    if SMOKE and smoke is not None:
        return smoke
    return quick if QUICK and quick is not None else full


HERE = Path(__file__).resolve().parent


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
    return (
        f"{os.cpu_count()} cores ({model or platform.machine()}){memory}, "
        f"Linux {platform.release()}, Python {platform.python_version()}, database {database_kind()}"
    )


def load() -> str:
    return "load average " + " / ".join(f"{v:.1f}" for v in os.getloadavg()) + " (1 / 5 / 15 min)"


# --- one function per bench: prints its own details, returns table rows


def bench_startup():
    import startup

    return startup.rows(startup.measure(size(5, smoke=1)))


def bench_idle():
    import idle_memory

    return idle_memory.rows(idle_memory.measure(size(10.0, smoke=2.0)))


def bench_commis():
    import importlib.util

    # by file: the name "commis" is the Django app (the repository root comes first on sys.path)
    spec = importlib.util.spec_from_file_location("bench_commis", HERE / "commis.py")
    commis = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(commis)
    return commis.rows(commis.measure(size(20, smoke=2)))


def bench_commis_memory():
    import commis_backends

    plan = (("claude", 5), ("agent", 5), ("claude", 20), ("agent", 20))
    return commis_backends.rows(commis_backends.measure(size(plan, smoke=(("claude", 1), ("agent", 1)))))


def bench_ws():
    import ws_latency

    return ws_latency.rows(ws_latency.measure(size(20, smoke=3), clients=size(50, smoke=3)))


def bench_session_list():
    import session_list

    return session_list.rows(session_list.measure(*size((10, 4, 20), smoke=(2, 1, 1))))


def bench_oikos():
    import oikos_chat

    return oikos_chat.rows(oikos_chat.measure(size(30, smoke=2)))


def bench_ingest():
    import ingest

    if database_kind() != "sqlite":
        return [("ingest through the HTTP API", f"> {targets.INGEST_EVENTS_S:,} events/s", "not run (SQLite only)")]
    return ingest.rows(ingest.measure(size(1024, 100, smoke=2)))


def bench_search():
    """bench/search.py in a child process (it sets up Django in-process); its table is parsed."""
    events = size(1_000_000, 100_000, smoke=3_000)
    done = subprocess.run(
        [sys.executable, str(HERE / "search.py"), str(events), str(size(200, smoke=20))],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    print(done.stdout[-3000:], done.stderr[-2000:] if done.returncode else "", flush=True)
    if done.returncode:
        raise RuntimeError(f"bench/search.py exited with {done.returncode}")
    found = {}
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2:
            found[cells[0]] = cells[1]
    archive = (found.get("events in the archive") or f"{events:,}").split(" (")[0]
    quick = f" ({'SMOKE' if SMOKE else 'QUICK'}; target is for 1M)" if events < 1_000_000 else ""
    rows = []
    for label, value in found.items():
        if re.match(r"(as built|after index maintenance[^:]*): p50 / p95 / max$", label):
            numbers = re.findall(r"[\d.]+", value)
            p95 = float(numbers[1]) if len(numbers) > 1 else float("inf")
            when = "as built" if label.startswith("as built") else "after index maintenance"
            rows.append(
                (
                    f"search p50 / p95, {archive} events, two words + filters, {when}{quick}",
                    f"p95 < {targets.SEARCH_P95_MS} ms",
                    value.rsplit(" / ", 1)[0] + " ms" + targets.verdict(p95 < targets.SEARCH_P95_MS),
                )
            )
    return rows or [("search p50 / p95", f"p95 < {targets.SEARCH_P95_MS} ms", "no figures found in its output")]


BENCHES = [  # (name, title, function)
    ("startup", "startup (5 fresh homes, then 5 launches on one existing home)", bench_startup),
    ("idle", "idle memory (worker alive + 10 s)", bench_idle),
    ("commis", "commis spawn -> running (20 jobs) and throughput (100 trivial jobs)", bench_commis),
    ("commis_memory", "memory with 5 and 20 active commis (fake claude CLI, agent with fake LLM)", bench_commis_memory),
    ("ws", "worker -> WebSocket latency (20 pings, 50 clients)", bench_ws),
    ("session_list", "session list API requests/s", bench_session_list),
    ("oikos", "Oikos: message -> first streamed token (30 turns), active-turn memory", bench_oikos),
    ("ingest", "ingest through the HTTP API" + size(" (1 GB)", " (quick: 100 MB)", " (smoke: 2 MB)"), bench_ingest),
    ("search", "search at " + size("1,000,000 events", "100,000 events (quick)", "3,000 events (smoke)"), bench_search),
]


def bench_pwa():
    import pwa

    return pwa.rows(pwa.measure(size(5, smoke=1)))


BENCHES.append(("pwa", "phone: dashboard first-load bytes and time to usable on slow 4G (Chromium)", bench_pwa))


def bench_spend():
    """bench/spend_api.py in a child process (it sets up Django in-process); its p50 / p95 row is parsed."""
    sessions = size(100_000, 10_000, smoke=300)
    done = subprocess.run(
        [sys.executable, str(HERE / "spend_api.py"), str(sessions), str(size(60, smoke=10))],
        check=False,
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    print(done.stdout[-3000:], done.stderr[-2000:] if done.returncode else "", flush=True)
    if done.returncode:
        raise RuntimeError(f"bench/spend_api.py exited with {done.returncode}")
    found = re.search(r"p50 / p95 / max\s*\|\s*([\d.]+) / ([\d.]+) / ([\d.]+)", done.stdout)
    label = f"spend API p50 / p95, {sessions:,} sessions, {sessions * 10:,} events" + (
        "" if sessions >= 100_000 else f" ({'SMOKE' if SMOKE else 'QUICK'}; target is for 100,000)"
    )
    if not found:
        return [(label, f"p95 < {targets.SPEND_P95_MS} ms", "no figures found in its output")]
    p95 = float(found.group(2))
    return [
        (
            label,
            f"p95 < {targets.SPEND_P95_MS} ms",
            f"{found.group(1)} / {p95:.1f} ms" + targets.verdict(p95 < targets.SPEND_P95_MS),
        )
    ]


BENCHES.append(
    (
        "spend",
        "spend API at "
        + size("100,000 sessions / 1,000,000 events", "10,000 sessions (quick)", "300 sessions (smoke)"),
        bench_spend,
    )
)


def main() -> int:
    only = None
    for i, arg in enumerate(sys.argv):
        if arg == "--only" and i + 1 < len(sys.argv):
            only = set(sys.argv[i + 1].split(","))
    print(f"machine: {machine()}\nat start: {load()}\n", flush=True)
    rows, failed = [], 0
    started = time.monotonic()
    for name, title, function in BENCHES:
        if only and name not in only:
            continue
        print(f"\n== {name}: {title}  [{load()}]", flush=True)
        t0 = time.monotonic()
        try:
            rows += function()
        except Exception as exc:
            traceback.print_exc()
            failed += 1
            rows.append((f"{name}: {title}", "-", f"FAILED: {str(exc).splitlines()[0][:100] if str(exc) else exc!r}"))
        print(f"   ({time.monotonic() - t0:.0f} s)", flush=True)
    print(
        f"\nmachine: {machine()}\nat the end: {load()}; {time.monotonic() - started:.0f} s in all"
        + size("", "; QUICK mode", "; SMOKE mode: tiny sizes, the figures and verdicts mean nothing")
        + "\n"
    )
    print(table(rows, ("figure", "target", "result")))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
