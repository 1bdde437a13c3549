"""Commis queue figures with the shell backend on a real ``zerg serve``.

    python bench/commis.py [N]      # N latency samples (default 20), 5*N jobs for throughput

- spawn -> running latency with an idle worker: N jobs spawned one after the other
  through the API, each waited for; ``started_at - created_at`` from the job rows.
- jobs/s: 5*N trivial jobs (``true``) spawned at once through the API, from the first
  POST to the last job finished.
- PSS of the zerg processes (serve + cluster + workers) with five active jobs
  (``sleep``), excluding the jobs' own processes.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime

import targets
from _common import percentile, running_server, scratch, server_env, table
from idle_memory import kb, tree

from tests.procs import cmdline, create_token, http_json


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def _wait(server, token, job_id, statuses=("succeeded", "failed", "cancelled", "timed_out"), timeout=60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, job = http_json(f"{server.url}/api/commis/jobs/{job_id}", token=token)
        if job["status"] in statuses:
            return job
        time.sleep(0.02)
    raise TimeoutError(f"job {job_id} stuck in {job['status']}")


def measure(count: int = 20, verbose: bool = True) -> dict:
    with scratch() as root, server_env(root, ZERG_MAX_CONCURRENT="5") as env:
        with running_server(root, env) as server:
            server.wait_healthy()
            server.wait_worker()
            token = create_token(env)
            spawn = lambda task: http_json(server.url + "/api/commis/jobs", "POST", token, {"task": task})[1]  # noqa: E731
            _wait(server, token, spawn("true")["id"])  # warm-up
            time.sleep(1)
            latencies = []
            for _ in range(count):
                job = _wait(server, token, spawn("true")["id"])
                latencies.append(_ts(job["started_at"]) - _ts(job["created_at"]))
                time.sleep(0.2)
            total = 5 * count
            started = time.monotonic()
            ids = [spawn("true")["id"] for _ in range(total)]
            for job_id in ids:
                _wait(server, token, job_id, timeout=300)
            throughput = total / (time.monotonic() - started)

            sleepers = [spawn("sleep 60")["id"] for _ in range(5)]
            for job_id in sleepers:
                _wait(server, token, job_id, statuses=("running",))
            time.sleep(3)
            zerg_pss = jobs_pss = 0
            for pid, _ in tree(server.pid):
                try:
                    pss = kb(pid, "Pss")
                except OSError:
                    continue
                if "zerg_site" in cmdline(pid) or "qcluster" in cmdline(pid) or pid == server.pid:
                    zerg_pss += pss
                else:
                    jobs_pss += pss
            for job_id in sleepers:
                http_json(f"{server.url}/api/commis/jobs/{job_id}/cancel", "POST", token)
    result = {
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "max": max(latencies),
        "throughput": throughput,
        "total": total,
        "zerg_pss_mb": zerg_pss / 1024,
        "jobs_pss_mb": jobs_pss / 1024,
    }
    if verbose:
        print(f"latencies (s): {', '.join(f'{v:.3f}' for v in latencies)}", file=sys.stderr)
    return result


def rows(result: dict) -> list[tuple]:
    return [
        ("commis spawn -> running, idle worker, p50", "-", f"{result['p50'] * 1000:.0f} ms"),
        (
            "commis spawn -> running, idle worker, p95",
            f"< {targets.SPAWN_RUNNING_P95_S:.0f} s",
            f"{result['p95'] * 1000:.0f} ms" + targets.verdict(result["p95"] < targets.SPAWN_RUNNING_P95_S),
        ),
        (
            f"commis throughput, {result['total']} trivial shell jobs, 5 slots",
            "-",
            f"{result['throughput']:.1f} jobs/s",
        ),
        (
            "PSS of zerg processes with 5 running shell jobs (jobs' own processes excluded)",
            f"< {targets.COMMIS_PSS_MB} MB",
            f"{result['zerg_pss_mb']:.0f} MB (+{result['jobs_pss_mb']:.0f} MB bash/sleep)",
        ),
    ]


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    print(table(rows(measure(count)), ("figure", "target", "result")))


if __name__ == "__main__":
    main()
