"""A busy database: an ingest stream, 20 commis writing output events and an Oikos chat turn
at once, against one ``zerg serve``. No "database is locked" may reach a user: not in an API
response, not in a job's summary or log, not in the server's output or log files."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from agents_ingest.wire import BATCH_TYPE
from tests.commis_helpers import query, wait_status
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.ingest_batch import batch_body
from tests.procs import ZergServer, base_env, create_token, database_env, http_json, run_zerg, wait_for
from tests.system.test_faults_kill import post

pytestmark = pytest.mark.slow

JOBS = 20
LOCKED = "database is locked"
# each job prints 150 lines over ~3 s: the runner publishes them as commis.output events in batches
TASK = 'for i in $(seq 1 150); do echo "busy line $i of a long run"; sleep 0.02; done'


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def env(tmp_path, fake):
    with database_env() as overrides:
        # The default heartbeat/stale times, not the tests' FAST ones: with 20 jobs on a shared 2-core box a
        # 4 s stale threshold reclaims healthy jobs (the load is what this test is about, not reclaiming).
        yield base_env(
            tmp_path / "home",
            **overrides,
            ANTHROPIC_API_KEY="test",
            ANTHROPIC_BASE_URL=fake.url,
            ZERG_MAX_CONCURRENT=str(JOBS),
        )


def test_it_keeps_database_is_locked_from_users_under_concurrent_load(env, fake, tmp_path):
    server = ZergServer(env, log_dir=tmp_path / "serve")
    responses: list[str] = []
    stop = threading.Event()
    try:
        server.start()
        server.wait_worker()
        token = create_token(env)
        made = run_zerg(["token", "create", "--device", "laptop", "--json"], env)
        assert made.returncode == 0, made.stderr
        device = json.loads(made.stdout)["token"]

        def ingest():
            offset, n, data = 0, 0, b""
            while not stop.is_set():
                for _ in range(20):
                    n += 1
                    data += (
                        json.dumps(
                            {
                                "type": "assistant",
                                "sessionId": "busy",
                                "uuid": f"a{n}",
                                "message": {
                                    "role": "assistant",
                                    "model": "m",
                                    "content": [{"type": "text", "text": f"reply {n} " * 30}],
                                },
                            }
                        ).encode()
                        + b"\n"
                    )
                body = batch_body(
                    {
                        "device": "laptop",
                        "files": [
                            {
                                "provider": "claude",
                                "path": "/busy.jsonl",
                                "offset": offset,
                                "data": data[offset:].decode(),
                            }
                        ],
                    },
                    "identity",
                )
                status, reply = post(
                    server.url + "/api/agents/ingest", body, device, timeout=60, content_type=BATCH_TYPE
                )
                responses.append(f"ingest {status} {json.dumps(reply)}")
                if status == 200:
                    offset = reply["files"][0]["acked_offset"]

        def reads():
            while not stop.is_set():
                for path in ("/api/commis/jobs", "/api/timeline/sessions", "/api/system/status"):
                    status, reply = http_json(server.url + path, token=token, timeout=60)
                    responses.append(f"GET {path} {status} {json.dumps(reply)[:2000]}")

        clients = [threading.Thread(target=f, daemon=True) for f in (ingest, reads)]
        for client in clients:
            client.start()
        job_ids = []
        for _ in range(JOBS):
            status, job = http_json(
                server.url + "/api/commis/jobs",
                "POST",
                token=token,
                timeout=60,
                body={"task": TASK, "backend": "shell"},
            )
            responses.append(f"spawn {status} {json.dumps(job)}")
            assert status == 200, job
            job_ids.append(job["id"])
        fake.reply_tool_use("list_commis", {}, text="Looking.")
        fake.reply_text("All busy.")
        status, thread = http_json(server.url + "/api/oikos/threads", "POST", token=token, body={}, timeout=60)
        status, posted = http_json(
            f"{server.url}/api/oikos/threads/{thread['id']}/messages",
            "POST",
            token=token,
            body={"text": "what runs?"},
            timeout=60,
        )
        responses.append(f"chat {status} {json.dumps(posted)}")
        assert status == 202, posted

        jobs = [
            wait_status(env, job_id, ("succeeded", "failed", "cancelled", "timed_out"), timeout=240)
            for job_id in job_ids
        ]

        def turn_done():
            _, detail = http_json(f"{server.url}/api/oikos/threads/{thread['id']}", token=token, timeout=60)
            return detail and detail["turn"]["status"] in ("done", "failed") and detail

        detail = wait_for(turn_done, 120, interval=0.3, message="the chat turn")
        stop.set()
        for client in clients:
            client.join(60)
        responses.append(json.dumps(detail))

        assert [j["status"] for j in jobs] == ["succeeded"] * JOBS, [(j["id"], j["status"], j["summary"]) for j in jobs]
        assert detail["turn"]["status"] == "done", detail["turn"]
        events = query(env, "SELECT COUNT(*) FROM zerg_site_event WHERE kind = 'commis.output'")[0][0]
        assert events > 0
        refused = [
            r[:300]
            for r in responses
            if r.startswith(("ingest", "GET")) and r.split()[1 if r.startswith("ingest") else 2] != "200"
        ]
        assert not refused, refused[:5]

        home = Path(env["ZERG_HOME"])
        texts = {"responses": "\n".join(responses), "serve output": server.output()}
        texts.update({f"summary of job {j['id']}": j["summary"] or "" for j in jobs})
        for path in [*(home / "logs").rglob("*"), *(home / "workspaces").rglob("log.txt")]:
            if path.is_file():
                texts[str(path)] = path.read_text(errors="replace")
        leaks = {
            where: text[text.lower().index(LOCKED) - 300 :][:800]
            for where, text in texts.items()
            if LOCKED in text.lower()
        }
        assert not leaks, leaks
    finally:
        stop.set()
        server.close()
