"""``kill -9`` at a random (seeded) moment while commis jobs (shell and fake-CLI), an ingest
stream and an Oikos chat turn are running: of the worker cluster alone (``zerg serve``
must restart it by itself), of the web process alone, and of both. After the restart
nothing acknowledged is lost (ingest batches that got 200, jobs that were created,
messages that were posted), every job reaches a final state and every turn completes."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from agents_ingest.wire import BATCH_TYPE
from tests.commis_helpers import FAST, query, wait_status
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.ingest_batch import batch_body
from tests.procs import ZergServer, base_env, create_token, database_env, descendants, http_json, run_zerg, wait_for

pytestmark = pytest.mark.slow

SEED = 8
BIN = Path(__file__).resolve().parents[1] / "fakes" / "bin"
FINAL = ("succeeded", "failed", "cancelled", "timed_out")


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def env(tmp_path, fake):
    with database_env() as overrides:
        yield base_env(
            tmp_path / "home",
            **FAST,
            **overrides,
            ANTHROPIC_API_KEY="test",
            ANTHROPIC_BASE_URL=fake.url,
            ZERG_CLAUDE_BIN=str(BIN / "claude"),
            FAKE_CLI_SLEEP="1.5",
        )


def post(url, body: bytes, token, timeout=10, content_type="application/json") -> tuple[int, dict | None]:
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", content_type)
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {"raw": raw.decode(errors="replace")[:2000]}


class Load:
    """Clients that keep going across the kill, like the Shipper and the SPA do: they retry
    what was not acknowledged and remember only what was."""

    def __init__(self, server: ZergServer, token: str, device_token: str):
        self.server, self.token, self.device_token = server, token, device_token
        self.stop = threading.Event()
        self.jobs: list[int] = []  # ids the API returned: acknowledged
        self.data = b""  # the "laptop" file, growing
        self.acked = 0  # the highest acked_offset a 200 returned
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._ingest, self._spawn)]

    def start(self):
        for thread in self.threads:
            thread.start()

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def _ingest(self):
        n = 0
        while not self.stop.is_set():
            for _ in range(5):
                n += 1
                self.data += json.dumps(
                    {
                        "type": "user",
                        "sessionId": "kill-session",
                        "uuid": f"u{n}",
                        "timestamp": "2026-11-26T12:00:00Z",
                        "message": {"role": "user", "content": f"line {n} " + "x" * 200},
                    }
                ).encode()
                self.data += b"\n"
            body = batch_body(
                {
                    "device": "laptop",
                    "files": [
                        {
                            "provider": "claude",
                            "path": "/laptop/kill-session.jsonl",
                            "offset": self.acked,
                            "data": self.data[self.acked :].decode(),
                        }
                    ],
                },
                "identity",
            )
            try:
                status, reply = post(
                    self.server.url + "/api/agents/ingest", body, self.device_token, content_type=BATCH_TYPE
                )
            except OSError:
                status, reply = 0, None
            if status == 200:
                self.acked = max(self.acked, reply["files"][0]["acked_offset"])
            elif status not in (0, 502, 503):
                self.errors.append(f"ingest answered {status}")
            time.sleep(0.1)

    def _spawn(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            body = (
                {"task": f"sleep 1; echo shell-{n}", "backend": "shell"}
                if n % 2
                else {"task": f"fake claude task {n}", "backend": "claude"}
            )
            try:
                status, reply = http_json(self.server.url + "/api/commis/jobs", "POST", token=self.token, body=body)
            except OSError:
                status, reply = 0, None
            if status == 200:
                self.jobs.append(reply["id"])
            elif status not in (0, 502, 503):
                self.errors.append(f"spawn answered {status}: {reply}")
            time.sleep(0.7)


def worker_tree(server: ZergServer) -> list[int]:
    child = server.worker_child()
    assert child is not None, server.output()[-3000:]
    return [child.pid, *descendants(child.pid)]


def kill(server: ZergServer, target: str, env, tmp_path, rng) -> ZergServer:
    """kill -9 ``target``; return the server that runs afterwards (the same one, or a restart)."""
    if target == "worker":
        old = worker_tree(server)
        for pid in old:
            # a job's process may end between the listing and the kill: already gone is as good
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        # serve itself brings a new cluster up, without a restart of serve
        wait_for(lambda: (c := server.worker_child()) and c.pid not in old, 30, message="a new worker cluster")
        assert server.proc.poll() is None
        return server
    if target == "web":
        server.descendants()  # remember them for teardown
        os.kill(server.pid, signal.SIGKILL)
        server.proc.wait(10)
    else:
        server.kill()
    time.sleep(rng.uniform(0.0, 1.5))  # clients keep knocking on a dead port for a while
    return ZergServer(env, log_dir=tmp_path / f"after-{target}", port=server.port).start()


def test_it_loses_nothing_acknowledged_when_killed_at_random_moments(env, fake, tmp_path):
    """One system under load through three kills in a row: the worker cluster, the web
    process, both; each at a seeded random moment, each with a chat turn in flight."""
    rng = random.Random(SEED)
    server = ZergServer(env, log_dir=tmp_path / "first")
    servers = [server]
    load = None
    try:
        server.start()
        server.wait_worker()
        token = create_token(env)
        made = run_zerg(["token", "create", "--device", "laptop", "--json"], env)
        assert made.returncode == 0, made.stderr
        load = Load(server, token, json.loads(made.stdout)["token"])
        load.start()
        turns = []
        for target in ("worker", "web", "both"):
            # a chat turn whose model call may be cut off by the kill (then asked again)
            fake.reply_text(f"first answer ({target})", delay=rng.uniform(0.5, 3.0))
            status, thread = http_json(server.url + "/api/oikos/threads", "POST", token=token, body={})
            assert status == 200, thread
            status, posted = http_json(
                f"{server.url}/api/oikos/threads/{thread['id']}/messages",
                "POST",
                token=token,
                body={"text": f"are you there? {target}"},
            )
            assert status == 202, posted
            turns.append((thread["id"], posted["turn"]["id"], f"are you there? {target}"))
            time.sleep(rng.uniform(0.5, 3.0))  # the random point
            server = kill(server, target, env, tmp_path, rng)
            if server not in servers:
                servers.append(server)
                load.server = server
            server.wait_worker()
        time.sleep(1)  # the load goes on against the restarted server
        load.finish()
        assert not load.errors, load.errors

        # every acknowledged job exists and ends
        assert len(load.jobs) > 3
        for job_id in load.jobs:
            job = wait_status(env, job_id, FINAL, timeout=90)
            if job["status"] != "succeeded":
                assert job["summary"], job

        # every acknowledged ingest byte is stored, byte for byte
        size = query(env, "SELECT size FROM timeline_sourcefile WHERE path = ?", ("/laptop/kill-session.jsonl",))
        assert size and size[0][0] >= load.acked > 0
        request = urllib.request.Request(f"{server.url}/api/timeline/sessions/kill-session/export")
        request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            exported = response.read()
        assert exported == load.data[: len(exported)] and len(exported) >= load.acked

        # each posted message is there once and its turn completes
        for thread_id, turn_id, text in turns:

            def turn_done(thread_id=thread_id):
                _, detail = http_json(f"{server.url}/api/oikos/threads/{thread_id}", token=token)
                return detail and detail["turn"]["status"] in ("done", "failed") and detail

            detail = wait_for(turn_done, 60, interval=0.2, message=f"the chat turn of thread {thread_id} to end")
            assert detail["turn"]["id"] == turn_id and detail["turn"]["status"] == "done", detail["turn"]
            assert [m["text"] for m in detail["messages"] if m["role"] == "owner"] == [text]
            assert detail["messages"][-1]["role"] == "assistant"
    finally:
        if load is not None:
            load.finish()
        for s in servers:
            s.close()
