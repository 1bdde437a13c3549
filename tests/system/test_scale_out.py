"""Scale-out on Postgres: two web processes and two worker clusters on one database.

Each process has its own ZERG_HOME (as on separate machines: workspaces are per worker
home) and the same ``secret_key``. Fifty shell jobs are spawned through both web APIs;
every job must run exactly once (one attempt, one run marker, one workspace), and a
WebSocket client on each web process must receive every event of every job: the event
log is the fan-out, each web process tails it on its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.commis_helpers import FAST, query
from tests.procs import (
    REPO,
    ZergServer,
    base_env,
    create_token,
    database_env,
    http_json,
    wait_for,
    ws_connect,
    ws_subscribe,
    zerg_command,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="scale-out (several web processes and worker clusters on one database) needs Postgres",
    ),
]

JOBS = 50


class Listener(threading.Thread):
    """A WebSocket client on one web process, subscribed to everything, collecting events."""

    def __init__(self, server: ZergServer, token: str):
        super().__init__(daemon=True)
        self.server, self.token = server, token
        self.events: list[dict] = []
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self.listen())
        except BaseException as exc:  # reported by the test
            self.error = exc
            self.ready.set()

    async def listen(self) -> None:
        ws = await ws_connect(self.server, self.token)
        try:
            await ws_subscribe(ws, ["*"], after=0)
            self.ready.set()
            while not self.stop.is_set():
                try:
                    async with asyncio.timeout(0.3):
                        message = json.loads(await ws.recv())
                except TimeoutError:
                    continue
                if message.get("type") == "event":
                    self.events.append(message["event"])
        finally:
            await ws.close()

    def job_event_ids(self) -> set[int]:
        return {e["id"] for e in list(self.events) if e["topic"].startswith("commis:")}


def test_it_runs_each_job_once_and_delivers_every_event_to_both_web_processes(tmp_path):
    with database_env() as db:
        homes = {name: tmp_path / name for name in ("web1", "web2", "worker1", "worker2")}
        envs = {name: base_env(home, **FAST, **db, ZERG_MAX_CONCURRENT="3") for name, home in homes.items()}
        marks = tmp_path / "runs.txt"
        webs = [ZergServer(envs[n], log_dir=tmp_path / f"{n}-logs", args=["--no-worker"]) for n in ("web1", "web2")]
        workers: list[subprocess.Popen] = []
        listeners: list[Listener] = []
        try:
            webs[0].start()  # the first one migrates the shared database and writes its secret_key
            for name in ("web2", "worker1", "worker2"):  # the secret that must be shared
                homes[name].mkdir(parents=True)
                shutil.copy(homes["web1"] / "secret_key", homes[name] / "secret_key")
            webs[1].start()
            for name in ("worker1", "worker2"):
                log = open(tmp_path / f"{name}.log", "wb")
                workers.append(
                    subprocess.Popen(
                        zerg_command("worker"),
                        env=envs[name],
                        cwd=REPO,
                        stdout=log,
                        stderr=log,
                        stdin=subprocess.DEVNULL,
                    )
                )
                log.close()
            wait_for(
                lambda: (
                    query(
                        envs["web1"],
                        "SELECT COUNT(*) FROM zerg_site_processheartbeat WHERE kind = 'worker' AND stopped_at IS NULL",
                    )[0][0]
                    == 2
                ),
                60,
                interval=0.3,
                message="two live worker clusters",
            )
            token = create_token(envs["web1"])
            listeners = [Listener(web, token) for web in webs]
            for listener in listeners:
                listener.start()
                assert listener.ready.wait(30) and listener.error is None, listener.error

            def spawn(i: int) -> int:
                web = webs[i % 2]
                status, body = http_json(
                    web.url + "/api/commis/jobs",
                    "POST",
                    token,
                    {"task": f'echo "$ZERG_JOB_ID" >> {marks}; echo job {i}'},
                    timeout=30,
                )
                assert status == 200, (status, body)
                return body["id"]

            with ThreadPoolExecutor(8) as pool:
                ids = list(pool.map(spawn, range(JOBS)))
            assert len(set(ids)) == JOBS

            def finished():
                rows = query(envs["web1"], "SELECT status FROM commis_job WHERE id = ANY(%s)", (ids,))
                return all(r[0] in ("succeeded", "failed", "cancelled") for r in rows)

            wait_for(finished, 60, interval=0.5, message=f"{JOBS} jobs finished")
            rows = query(envs["web1"], "SELECT id, status, attempts, worker FROM commis_job WHERE id = ANY(%s)", (ids,))
            assert {r[1] for r in rows} == {"succeeded"}, rows
            assert {r[2] for r in rows} == {1}, [r for r in rows if r[2] != 1]  # no second attempt
            by_worker = Counter(r[3] for r in rows)
            assert len(by_worker) == 2, by_worker  # both clusters took jobs
            assert Counter(int(line) for line in marks.read_text().split()) == Counter(ids)  # each ran once
            for job_id in ids:  # one workspace, on the worker machine that ran it
                found = [n for n in ("worker1", "worker2") if (homes[n] / "workspaces" / str(job_id)).is_dir()]
                assert len(found) == 1, (job_id, found)

            expected = {
                r[0]
                for r in query(
                    envs["web1"],
                    "SELECT id FROM zerg_site_event WHERE topic = ANY(%s)",
                    ([f"commis:{i}" for i in ids],),
                )
            }
            assert len(expected) >= 2 * JOBS  # at least queued and a final status per job
            for listener in listeners:
                try:
                    wait_for(
                        lambda listener=listener: listener.job_event_ids() >= expected,
                        20,
                        interval=0.2,
                        message=f"every job event on {listener.server.url}",
                    )
                except TimeoutError:
                    missing = sorted(expected - listener.job_event_ids())
                    raise AssertionError(
                        f"{len(missing)} events never reached {listener.server.url}: {missing[:20]}"
                    ) from None
                counts = Counter(e["id"] for e in listener.events)
                assert max(counts.values()) == 1  # and none twice
                late, top = 0, 0
                for event in listener.events:
                    late += event["id"] < top
                    top = max(top, event["id"])
                print(f"{listener.server.url}: {len(listener.events)} events, {late} after a larger id (gap re-check)")
        finally:
            for listener in listeners:
                listener.stop.set()
            for listener in listeners:
                listener.join(5)
            for proc in workers:
                proc.send_signal(signal.SIGTERM)
            for proc in workers:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for web in webs:
                web.close()
