"""Oikos turns survive the server: a real ``zerg serve`` is killed (kill -9) in the middle of a
turn and the turn completes after the restart; an interrupt is answered after a restart; a
commis Oikos spawned reports back in the thread. The model is the fake Anthropic server,
reached by the server's own ``anthropic`` SDK through ANTHROPIC_BASE_URL."""

from __future__ import annotations

import pytest

from tests.commis_helpers import FAST, query, spawn, wait_status
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.procs import ZergServer, base_env, create_token, database_env, http_json, wait_for


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def env(tmp_path, fake):
    with database_env() as overrides:
        yield base_env(tmp_path / "home", **FAST, **overrides, ANTHROPIC_API_KEY="test", ANTHROPIC_BASE_URL=fake.url)


def start(env, tmp_path, name) -> ZergServer:
    server = ZergServer(env, log_dir=tmp_path / name)
    server.start()
    return server


class Api:
    def __init__(self, server: ZergServer, token: str):
        self.server, self.token = server, token

    def __call__(self, path, body=None, expect=200):
        status, data = http_json(
            self.server.url + "/api/oikos" + path,
            "POST" if body is not None else "GET",
            token=self.token,
            body=body,
            timeout=10,
        )
        assert status == expect, (status, data, self.server.output()[-3000:])
        return data

    def wait_turn(self, thread_id, statuses, timeout=60):
        def check():
            detail = self(f"/threads/{thread_id}")
            return detail["turn"] and detail["turn"]["status"] in statuses and detail

        try:
            return wait_for(check, timeout, interval=0.2, message=f"a turn in {statuses}")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.server.output()[-4000:]}") from None


def test_it_completes_a_turn_cut_off_by_a_kill_after_restart(env, fake, tmp_path):
    server = start(env, tmp_path, "first")
    servers = [server]
    try:
        api = Api(server, create_token(env))
        # the first model call hangs (the server dies during it); the restarted runner asks again
        fake.reply_text("never delivered", delay=60)
        fake.reply_tool_use(
            "spawn_commis", {"task": "echo hello-from-commis", "backend": "shell"}, text="Spawning it now."
        )
        fake.reply_text("The commis is on its way.")
        thread = api("/threads", {"title": "durable"})
        posted = api(f"/threads/{thread['id']}/messages", {"text": "run echo hello-from-commis"}, expect=202)
        wait_for(lambda: len(fake.message_requests) == 1, 30, message="the first model call")
        assert api(f"/threads/{thread['id']}")["turn"]["status"] == "running"
        # the hanging model call blocks nobody: other threads answer meanwhile
        other = api("/threads", {"title": "meanwhile"})
        assert api(f"/threads/{other['id']}/messages", {"text": "/status"}, expect=202)["turn"]["status"] == "done"
        assert {t["id"] for t in api("/threads")} == {thread["id"], other["id"]}
        server.kill()

        server = start(env, tmp_path, "second")
        servers.append(server)
        api.server = server
        detail = api.wait_turn(thread["id"], ("done", "failed"))
        assert detail["turn"]["id"] == posted["turn"]["id"] and detail["turn"]["status"] == "done", detail["turn"]
        # the quick commis may report back (a system notice) before the turn's last reply
        said = [m for m in detail["messages"] if m["role"] != "system"]
        assert [m["role"] for m in said] == ["owner", "assistant", "tool_call", "tool_result", "assistant"]
        assert said[-1]["text"] == "The commis is on its way."
        # the resumed call sent the same conversation (the owner's message once)
        first, resumed = fake.message_requests[0].body, fake.message_requests[1].body
        assert resumed["messages"] == first["messages"]
        attempts = query(env, "SELECT attempts FROM oikos_turn WHERE id = ?", (posted["turn"]["id"],))[0][0]
        assert attempts == 2

        # the commis it spawned runs in the worker cluster and reports back in the thread
        job_id = said[2]["data"]["job_id"]
        assert job_id and wait_status(env, job_id, ("succeeded",))
        notice = wait_for(
            lambda: [m for m in api(f"/threads/{thread['id']}")["messages"] if m["role"] == "system"],
            60,
            interval=0.2,
            message="the job-finished notice",
        )[0]
        assert f"Commis #{job_id} (shell) succeeded" in notice["text"] and notice["data"]["link"] == f"/commis/{job_id}"
    finally:
        for s in servers:
            s.close()


def test_it_answers_an_interrupt_after_a_restart(env, fake, tmp_path):
    server = start(env, tmp_path, "first")
    servers = [server]
    try:
        api = Api(server, create_token(env))
        job = spawn(env, "sleep 120")
        fake.reply_tool_use("cancel_commis", {"job_id": job["id"]})
        fake.reply_text("Cancelled it.")
        thread = api("/threads", {})
        api(f"/threads/{thread['id']}/messages", {"text": f"cancel job {job['id']}"}, expect=202)
        detail = api.wait_turn(thread["id"], ("waiting", "done", "failed"))
        assert detail["turn"]["status"] == "waiting"
        assert detail["interrupt"]["action"]["tools"][0]["name"] == "cancel_commis"
        turn_id = detail["turn"]["id"]
        server.stop()

        server = start(env, tmp_path, "second")
        servers.append(server)
        api.server = server
        assert api(f"/threads/{thread['id']}")["interrupt"]["turn"] == turn_id  # still asking after the restart
        api(f"/turns/{turn_id}/answer", {"answer": "approve"})
        detail = api.wait_turn(thread["id"], ("done", "failed"))
        assert detail["turn"]["status"] == "done", detail["turn"]
        assert [m for m in detail["messages"] if m["role"] != "system"][-1]["text"] == "Cancelled it."
        assert wait_status(env, job["id"], ("cancelled",))["status"] == "cancelled"
        assert len(fake.message_requests) == 2
    finally:
        for s in servers:
            s.close()
