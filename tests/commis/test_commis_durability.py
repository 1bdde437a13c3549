"""Durability: ``kill -9`` every zerg process mid-run, start again: every job finishes, once at a time.

Each job appends ``<lease> <event> <time>`` lines to a file in its workspace every
second; a job's attempts must not overlap in time. Events written before the kill
must all still be there after.
"""

from __future__ import annotations

import pytest

from tests.commis_helpers import commis_env, job, query, spawn, wait_for, workspace_of
from tests.procs import ZergServer, kill_procs, wait_gone

pytestmark = pytest.mark.slow

SCRIPT = (
    'echo "$ZERG_JOB_LEASE start $(date +%s.%N)" >> marks; '
    'for i in 1 2 3 4 5 6; do echo "tick $i"; echo "$ZERG_JOB_LEASE tick $(date +%s.%N)" >> marks; sleep 1; done; '
    'echo "$ZERG_JOB_LEASE end $(date +%s.%N)" >> marks'
)


def attempts_of(marks: str) -> dict[str, list[tuple[str, float]]]:
    runs: dict[str, list[tuple[str, float]]] = {}
    for line in marks.splitlines():
        parts = line.split()
        if len(parts) == 3:
            runs.setdefault(parts[0], []).append((parts[1], float(parts[2])))
    return runs


def test_kill9_everything_and_restart(tmp_path):
    with commis_env(tmp_path / "home", ZERG_MAX_CONCURRENT="3") as env:
        first = ZergServer(env, log_dir=tmp_path / "logs1")
        second = ZergServer(env, log_dir=tmp_path / "logs2")
        try:
            first.start()
            first.wait_worker()
            ids = [spawn(env, SCRIPT)["id"] for _ in range(4)]  # 3 run, 1 waits in the queue
            # mid-run: every running job has ticked at least twice
            wait_for(
                lambda: (
                    sum(
                        1
                        for i in ids
                        if (workspace_of(env, i) / "marks").exists()
                        and (workspace_of(env, i) / "marks").read_text().count(" tick ") >= 2
                    )
                    >= 3
                ),
                60,
                message="three jobs mid-run",
            )
            running_before = {i for i in ids if job(env, i)["status"] == "running"}
            assert len(running_before) == 3
            # on a loaded machine a fast job may end and the queued one start just now: it can be
            # killed before its first mark, and then only its second attempt leaves marks
            marked_before = {i for i in running_before if (workspace_of(env, i) / "marks").exists()}
            events_before = query(env, "SELECT id, topic, kind FROM zerg_site_event ORDER BY id")

            procs = first.descendants()
            kill_procs(procs)
            first.proc.kill()
            first.proc.wait(10)
            assert wait_gone(procs, timeout=10) == []

            second.start()
            second.wait_worker()
            finals = [
                wait_for(
                    lambda i=i: (j := job(env, i))["status"] not in ("queued", "running") and j,
                    120,
                    message=f"job {i} to finish",
                )
                for i in ids
            ]
        finally:
            first.close()
            second.close()
            output = second.output()

        assert [j["status"] for j in finals] == ["succeeded"] * 4, (finals, output)
        for final in finals:
            if final["id"] in running_before:
                assert final["attempts"] >= 2, final
            else:
                assert final["attempts"] >= 1

        for i in ids:
            runs = attempts_of((workspace_of(env, i) / "marks").read_text())
            spans = sorted((min(t for _, t in marks), max(t for _, t in marks), lease) for lease, marks in runs.items())
            for (_, end, a), (start, _, b) in zip(spans, spans[1:], strict=False):
                assert end < start, f"job {i}: attempts {a} and {b} overlapped"
            finished = [lease for lease, marks in runs.items() if any(kind == "end" for kind, _ in marks)]
            assert len(finished) == 1, f"job {i} completed {len(finished)} times"
            if i in marked_before:
                assert len(runs) >= 2

        events_after = query(env, "SELECT id, topic, kind FROM zerg_site_event ORDER BY id")
        last_before = events_before[-1][0]
        assert [e for e in events_after if e[0] <= last_before] == events_before
        statuses = query(env, "SELECT payload FROM zerg_site_event WHERE kind = 'commis.status' AND topic = 'commis'")
        assert len(statuses) > len(ids) * 3


def test_graceful_stop_hands_jobs_back_and_restart_finishes_them(tmp_path):
    import signal
    import time

    with commis_env(tmp_path / "home") as env:
        first = ZergServer(env, log_dir=tmp_path / "logs1")
        second = ZergServer(env, log_dir=tmp_path / "logs2")
        try:
            first.start()
            first.wait_worker()
            job_id = spawn(env, SCRIPT)["id"]
            wait_for(lambda: (workspace_of(env, job_id) / "marks").exists(), 30, message="the job to start")
            started = time.monotonic()
            assert first.stop(signal.SIGTERM, timeout=30) == 0
            took = time.monotonic() - started
            assert job(env, job_id)["status"] == "queued"
            second.start()
            final = wait_for(
                lambda: (j := job(env, job_id))["status"] not in ("queued", "running") and j,
                60,
                message="the job to finish",
            )
        finally:
            first.close()
            second.close()
        assert final["status"] == "succeeded" and final["attempts"] == 2, final
        assert took < 10  # not the job's remaining run time, nor the 20 s kill timeout
        runs = attempts_of((workspace_of(env, job_id) / "marks").read_text())
        assert len(runs) == 2
