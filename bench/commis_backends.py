"""Five concurrent commis jobs per backend (fake ``claude`` CLI, fake ``codex`` CLI, built-in
``agent`` against a fake Anthropic API) on a real ``zerg serve``, and the PSS they cost.

    python bench/commis_backends.py [BACKEND ...]      # default: claude codex agent

For each backend: a fresh ``zerg serve`` (temporary ZERG_HOME, SQLite unless DATABASE_URL
says Postgres, 5 slots), PATH starting with ``tests/fakes/bin`` (the fake CLIs),
``ANTHROPIC_API_KEY=test`` / ``OPENAI_API_KEY=test`` and ``ANTHROPIC_BASE_URL`` at a
:class:`tests.fakes.fake_anthropic.FakeAnthropic` running in this process (not a
descendant of the server, so it is never counted).

- claude / codex: the fake CLIs print their first records (init, a tool call and its
  result) and then sleep ``FAKE_CLI_SLEEP`` (SLEEP_S) seconds before the final result.
- agent: the fake API answers every model call with a ``write_file`` tool call after
  AGENT_DELAY_S seconds, AGENT_STEPS times, then with a final text (~20 s per job); each
  job runs in a child forked from the agent host (``commis.backends.agent_host``, which
  imported anthropic + langgraph once), not in the django-q worker. The host and those
  children are zerg processes and are counted.

Five jobs are spawned at once through ``POST /api/commis/jobs``; once all five are
``running`` and each has written to its log.txt, PSS (``/proc/PID/smaps_rollup``) is
read for ``zerg serve`` and every descendant. Zerg processes (serve, cluster, sentinel,
workers, monitor, pusher) are summed apart from the external CLI processes (a process
that is not a zerg process, and everything below it). Then the jobs are waited for and
their final statuses reported.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.request

import targets
from _common import REPO, running_server, scratch, server_env, table
from idle_memory import kb

from tests.fakes.fake_anthropic import FakeAnthropic, Reply
from tests.procs import _stat, all_pids, cmdline, create_token, http_json

BACKENDS = ("claude", "codex", "agent")
JOBS = 5
SLEEP_S = 25  # fake CLI pause after its first records
AGENT_STEPS = 8  # tool calls per agent job
AGENT_DELAY_S = 2.5  # seconds the fake API waits before each answer
TARGET = "< 500 MB (aim 350)"
FINAL = ("succeeded", "failed", "cancelled", "timed_out")


class SlowAgentAPI(FakeAnthropic):
    """Every call: a write_file tool call after a delay, AGENT_STEPS times, then the final text."""

    def _next_reply(self, body: dict) -> Reply:
        done = sum(
            1
            for m in body.get("messages") or []
            if m.get("role") == "user" and isinstance(m.get("content"), list)
            for b in m["content"]
            if isinstance(b, dict) and b.get("type") == "tool_result"
        )
        if done < AGENT_STEPS:
            step = done + 1
            return Reply(
                content=[
                    {"type": "text", "text": f"Working: step {step} of {AGENT_STEPS}."},
                    {
                        "type": "tool_use",
                        "id": f"toolu_bench{step:02d}{time.monotonic_ns() % 10**9}",
                        "name": "write_file",
                        "input": {"path": f"step{step}.txt", "content": f"step {step}\n" * 20},
                    },
                ],
                stop_reason="tool_use",
                delay=AGENT_DELAY_S,
            )
        return Reply(content=[{"type": "text", "text": "Done: wrote the step files."}], delay=AGENT_DELAY_S)


def is_zerg(pid: int, serve_pid: int) -> bool:
    line = cmdline(pid)
    return (
        pid == serve_pid
        or "zerg_site" in line
        or "qcluster" in line
        or "/bin/zerg " in line + " "
        or "commis.backends.agent" in line
    )


def classify(serve_pid: int) -> list[tuple[int, int, str, str]]:
    """(pid, depth, kind, cmdline) for serve and its descendants; kind "zerg" or "cli"
    (a non-zerg process or anything below one)."""
    children: dict[int, list[int]] = {}
    for pid in all_pids():
        info = _stat(pid)
        if info:
            children.setdefault(info[1], []).append(pid)
    found, todo = [], [(serve_pid, 0, False)]
    while todo:
        pid, depth, under_cli = todo.pop(0)
        cli = under_cli or not is_zerg(pid, serve_pid)
        found.append((pid, depth, "cli" if cli else "zerg", cmdline(pid)))
        todo[:0] = [(child, depth + 1, cli) for child in sorted(children.get(pid, []))]
    return found


def zerg_pss(serve_pid: int) -> int:
    total = 0
    for pid, _, kind, _ in classify(serve_pid):
        if kind == "zerg":
            try:
                total += kb(pid, "Pss")
            except OSError:
                pass
    return total


def log_text(server, token: str, job_id: int) -> str:
    request = urllib.request.Request(f"{server.url}/api/commis/jobs/{job_id}/log")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode("utf-8", "replace")


def progressing(backend: str, log: str) -> bool:
    """Output past the runner's ``=== zerg: attempt ...`` header: for the CLIs their first
    records, for the agent a first tool call (a model call answered and a tool run)."""
    lines = [line for line in log.splitlines() if line.strip() and not line.startswith("=== zerg:")]
    return any(line.startswith("[tool_use]") for line in lines) if backend == "agent" else len(lines) >= 2


def short(line: str, width: int = 90) -> str:
    line = line.replace(str(REPO) + "/", "")
    return line if len(line) <= width else line[: width - 1] + "…"


def run_backend(backend: str, api: FakeAnthropic, jobs: int = JOBS, wait: bool = True) -> dict:
    """``jobs`` at once; with ``wait=False`` they are cancelled once measured (bench/run.py)."""
    extra = {
        "ZERG_MAX_CONCURRENT": str(jobs),
        "PATH": f"{REPO / 'tests' / 'fakes' / 'bin'}:{os.environ.get('PATH', '')}",
        "ANTHROPIC_API_KEY": "test",
        "ANTHROPIC_BASE_URL": api.url,
        "OPENAI_API_KEY": "test",
        "FAKE_CLI_SLEEP": str(SLEEP_S),
    }
    print(f"\n=== {backend}, {jobs} jobs ===", flush=True)
    with scratch() as root, server_env(root, **extra) as env:
        with running_server(root, env) as server:
            server.wait_healthy()
            server.wait_worker()
            token = create_token(env)
            started = time.monotonic()
            ids = []
            for i in range(jobs):
                task = (
                    f"Bench job {i}: write step files." if backend == "agent" else f"Bench job {i}: create greeting.txt"
                )
                status, job = http_json(
                    server.url + "/api/commis/jobs", "POST", token, {"task": task, "backend": backend, "timeout": 300}
                )
                assert status == 200, (status, job)
                ids.append(job["id"])

            # all of them running, each with output in its log
            deadline = time.monotonic() + 120 + 10 * jobs
            running_at = None
            while True:
                states = [http_json(f"{server.url}/api/commis/jobs/{i}", token=token)[1] for i in ids]
                if running_at is None and all(j["status"] == "running" for j in states):
                    running_at = time.monotonic() - started
                logs = [
                    log_text(server, token, i) if j["status"] == "running" else ""
                    for i, j in zip(ids, states, strict=True)
                ]
                if all(j["status"] == "running" for j in states) and all(progressing(backend, t) for t in logs):
                    sizes = [len(t.encode()) for t in logs]
                    break
                finished = [j for j in states if j["status"] in FINAL]
                if finished or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{backend}: not all running with output: "
                        + ", ".join(f"{j['id']} {j['status']} {j['summary']!r}" for j in states)
                    )
                time.sleep(0.2)
            ready = time.monotonic() - started
            time.sleep(2)  # let the worker settle into the jobs (agent: a few model calls in)
            states = [http_json(f"{server.url}/api/commis/jobs/{i}", token=token)[1] for i in ids]
            sizes2 = [len(log_text(server, token, i).encode()) for i in ids]
            print(
                f"all {jobs} running after {running_at:.1f} s, all progressing after {ready:.1f} s; "
                f"log.txt sizes {sizes} -> {sizes2} bytes 2 s later",
                flush=True,
            )

            rows, zerg_kb, cli_kb, n_zerg, n_cli = [], 0, 0, 0, 0
            for pid, depth, kind, line in classify(server.pid):
                try:
                    pss, rss = kb(pid, "Pss"), kb(pid, "Rss")
                except OSError:
                    continue
                if kind == "zerg":
                    zerg_kb += pss
                    n_zerg += 1
                else:
                    cli_kb += pss
                    n_cli += 1
                rows.append((pid, "  " * depth + kind, f"{pss / 1024:.1f}", f"{rss / 1024:.1f}", short(line)))
            rows.append(("", "zerg total", f"{zerg_kb / 1024:.1f}", "", f"{n_zerg} processes"))
            rows.append(("", "cli total", f"{cli_kb / 1024:.1f}", "", f"{n_cli} processes"))
            print(table(rows, ("pid", "kind", "PSS MB", "RSS MB", "cmdline")), flush=True)

            finals = []
            if not wait:
                for job_id in ids:
                    http_json(f"{server.url}/api/commis/jobs/{job_id}/cancel", "POST", token)
            for job_id in ids if wait else []:
                deadline = time.monotonic() + 180
                while True:
                    _, job = http_json(f"{server.url}/api/commis/jobs/{job_id}", token=token)
                    if job["status"] in FINAL or time.monotonic() > deadline:
                        break
                    time.sleep(0.3)
                finals.append(job)
            total = time.monotonic() - started
            if not wait:
                return {
                    "backend": backend,
                    "jobs": jobs,
                    "zerg_mb": zerg_kb / 1024,
                    "cli_mb": cli_kb / 1024,
                    "n_zerg": n_zerg,
                    "n_cli": n_cli,
                    "ready_s": ready,
                    "running_s": running_at,
                }
            for job in finals:
                print(
                    f"job {job['id']}: {job['status']} in {job['elapsed'] or 0:.1f} s, "
                    f"summary {str(job['summary'])[:70]!r}",
                    flush=True,
                )
            print(f"spawn -> last finished: {total:.1f} s", flush=True)
            time.sleep(2)
            after_kb = zerg_pss(server.pid)
            print(f"zerg PSS 2 s after the jobs finished: {after_kb / 1024:.1f} MB", flush=True)
            idle_kb = None
            if backend == "agent":  # the agent host exits once it has had no child for IDLE_EXIT s
                from commis.backends.agent_host import IDLE_EXIT

                deadline = time.monotonic() + IDLE_EXIT + 30
                while time.monotonic() < deadline and any(
                    "commis.backends.agent" in line for _, _, _, line in classify(server.pid)
                ):
                    time.sleep(1)
                idle_kb = zerg_pss(server.pid)
                print(
                    f"zerg PSS once the agent host exited (idle {IDLE_EXIT:.0f} s): {idle_kb / 1024:.1f} MB", flush=True
                )
    return {
        "backend": backend,
        "jobs": jobs,
        "zerg_mb": zerg_kb / 1024,
        "cli_mb": cli_kb / 1024,
        "n_zerg": n_zerg,
        "n_cli": n_cli,
        "statuses": [j["status"] for j in finals],
        "ready_s": ready,
        "running_s": running_at,
        "total_s": total,
        "after_mb": after_kb / 1024,
        "idle_mb": idle_kb / 1024 if idle_kb is not None else None,
    }


def rows(results: list[dict]) -> list[tuple]:
    """Rows for bench/run.py's table: zerg PSS with N active jobs per backend."""
    out = []
    for r in results:
        label = {"claude": "fake claude CLI", "codex": "fake codex CLI", "agent": "agent backend, fake LLM"}
        target = f"< {targets.COMMIS_PSS_MB} MB (aim {targets.COMMIS_PSS_AIM_MB})" if r["jobs"] <= 5 else "-"
        ok = r["jobs"] > 5 or r["zerg_mb"] < targets.COMMIS_PSS_MB
        extra = f" (+{r['cli_mb']:.0f} MB CLI processes)" if r["n_cli"] else ""
        out.append(
            (
                f"zerg PSS with {r['jobs']} active commis, {label.get(r['backend'], r['backend'])}",
                target,
                f"{r['zerg_mb']:.0f} MB{extra}" + targets.verdict(ok),
            )
        )
    return out


def measure(plan=(("claude", 5), ("agent", 5), ("claude", 20), ("agent", 20))) -> list[dict]:
    with SlowAgentAPI() as api:
        return [run_backend(backend, api, jobs, wait=False) for backend, jobs in plan]


def main() -> None:
    backends = sys.argv[1:] or list(BACKENDS)
    results = []
    with SlowAgentAPI() as api:
        for backend in backends:
            results.append(run_backend(backend, api))
    lines = []
    for r in results:
        ok = all(s == "succeeded" for s in r["statuses"])
        lines.append(
            (
                r["backend"],
                f"{r['zerg_mb']:.0f} MB ({r['n_zerg']} processes)",
                f"{r['cli_mb']:.0f} MB ({r['n_cli']} processes)",
                TARGET,
                "yes" if ok else "no: " + ", ".join(r["statuses"]),
            )
        )
    print()
    print(table(lines, ("backend", "zerg PSS with 5 active jobs", "CLI processes PSS", "target", "all 5 succeeded?")))


if __name__ == "__main__":
    main()
