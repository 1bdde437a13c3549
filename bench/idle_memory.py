"""Idle memory of ``zerg serve`` and everything it started, as PSS.

Starts a server on a fresh home, waits until the worker is alive plus SETTLE seconds,
then sums PSS (``/proc/PID/smaps_rollup``: shared pages split among the processes
sharing them, so forked workers are not counted twice) over the serve process and all
its descendants.

It also checks that the idle server never imported the heavy LLM stacks (langgraph,
langchain, anthropic, openai). Python modules are not memory-mapped files, so
``/proc/PID/maps`` cannot tell; instead the server runs with ``PYTHONPROFILEIMPORTTIME=1``,
which makes every process (the worker cluster inherits the variable) log each import to
stderr, and the bench searches that log. The flag costs import time, not memory.

    python bench/idle_memory.py [SETTLE_SECONDS] [--no-import-log]
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import targets  # noqa: E402
from _common import running_server, scratch, server_env

TARGET_MB = targets.IDLE_PSS_MB
CEILING_MB = targets.IDLE_PSS_CEILING_MB
HEAVY = ("langgraph", "langchain", "langchain_core", "anthropic", "openai")


def kb(pid: int, field: str, source: str = "smaps_rollup") -> int:
    text = Path(f"/proc/{pid}/{source}").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) if match else 0


def tree(root: int) -> list[tuple[int, int]]:
    """(pid, depth) for root and its descendants, parents first."""
    from tests.procs import _stat, all_pids

    children: dict[int, list[int]] = {}
    for pid in all_pids():
        info = _stat(pid)
        if info:
            children.setdefault(info[1], []).append(pid)
    found, todo = [], [(root, 0)]
    while todo:
        pid, depth = todo.pop(0)
        found.append((pid, depth))
        todo.extend((child, depth + 1) for child in sorted(children.get(pid, [])))
    return found


ROLES = {
    0: "zerg serve (daphne, tailer, supervisor)",
    1: "worker cluster (zerg worker --supervised)",
    2: "django-q sentinel",
}


def heavy_imports(import_log: str) -> list[str]:
    found = set()
    for line in import_log.splitlines():
        if line.startswith("import time:"):
            module = line.rsplit("|", 1)[-1].strip()
            if module.split(".")[0] in HEAVY:
                found.add(module.split(".")[0])
    return sorted(found)


def measure(settle: float = 10.0, verbose: bool = True, import_log: bool = True) -> dict:
    extra = {"PYTHONPROFILEIMPORTTIME": "1"} if import_log else {}
    with scratch() as root, server_env(root, **extra) as env:
        with running_server(root, env) as server:
            server.wait_healthy(timeout=60)
            server.wait_worker(timeout=60)
            time.sleep(settle)
            rows = []
            for pid, depth in tree(server.pid):
                try:
                    rows.append((pid, depth, kb(pid, "Pss"), kb(pid, "Rss")))
                except (FileNotFoundError, ProcessLookupError):
                    continue
            log = server.stderr()
    total_pss = sum(r[2] for r in rows) / 1024
    total_rss = sum(r[3] for r in rows) / 1024
    heavy = heavy_imports(log)
    imports_seen = log.count("import time:")
    if verbose:
        print(f"{'pid':>8}  {'PSS MB':>7}  {'RSS MB':>7}  process")
        for pid, depth, pss, rss in rows:
            role = ROLES.get(depth, "django-q worker / monitor / pusher")
            print(f"{pid:>8}  {pss / 1024:7.1f}  {rss / 1024:7.1f}  {'  ' * depth}{role}")
        print(f"{'total':>8}  {total_pss:7.1f}  {total_rss:7.1f}  {len(rows)} processes")
        print(f"imports logged: {imports_seen}; heavy LLM modules imported: {', '.join(heavy) or 'none'}")
    return {
        "pss_mb": total_pss,
        "rss_mb": total_rss,
        "processes": len(rows),
        "heavy": heavy,
        "imports_seen": imports_seen,
    }


def rows(result: dict) -> list[tuple]:
    pss = result["pss_mb"]
    verdict = "" if pss < TARGET_MB else ("  (over target)" if pss < CEILING_MB else "  (OVER CEILING)")
    heavy = ", ".join(result["heavy"]) if result["heavy"] else "none"
    if not result["imports_seen"]:
        heavy = "unknown (no import log)"
    return [
        (
            f"idle memory, PSS of serve + all {result['processes']} processes",
            f"< {TARGET_MB} MB (ceiling {CEILING_MB})",
            f"{pss:.0f} MB{verdict}",
        ),
        ("heavy LLM modules (langgraph, anthropic...) imported at idle", "none", heavy),
    ]


def main() -> None:
    from _common import table

    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    settle = float(args[0]) if args else 10.0
    print(f"zerg serve idle memory (worker alive + {settle:.0f} s)")
    result = measure(settle, import_log="--no-import-log" not in sys.argv)
    print(table(rows(result), ("figure", "target", "result")))


if __name__ == "__main__":
    main()
