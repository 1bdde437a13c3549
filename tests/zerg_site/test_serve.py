"""`zerg serve` as a real process: what it prints, its worker, events, signals, supervision.

These tests talk to real processes over HTTP, WebSocket and the CLI; they never touch
the test database (no `db` fixture). On Postgres each test gets its own database.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import pytest

from tests.procs import (
    ZergServer,
    create_token,
    free_port,
    http_json,
    run_zerg,
    wait_for,
    wait_gone,
    ws_connect,
    ws_subscribe,
    ws_wait_event,
)

pytestmark = pytest.mark.slow


def zerg_status(env) -> dict:
    done = run_zerg(["status", "--json"], env)
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


def ping_round_trip(server: ZergServer, token: str, timeout: float = 15) -> dict:
    """POST /api/system/ping, then find its worker.pong in the event log over HTTP."""
    status, body = http_json(server.url + "/api/system/ping", method="POST", token=token)
    assert status == 200, body
    task_id = body["task_id"]

    def pong():
        status, page = http_json(server.url + "/api/events?topic=system&limit=50", token=token)
        assert status == 200, page
        for event in page["events"]:
            if event["kind"] == "worker.pong" and event["payload"].get("task_id") == task_id:
                return event
        return None

    return wait_for(pong, timeout, interval=0.2, message=f"worker.pong for {task_id}\n{server.output()}")


def test_it_prints_where_it_runs_and_its_worker_comes_alive(zerg_server, zerg_env):
    out = zerg_server.stdout()
    assert f"Zerg is running at http://127.0.0.1:{zerg_server.port}" in out
    assert "  database: " in out
    if "DATABASE_URL" in zerg_env:
        assert "database: postgresql://" in out
    else:
        assert f"database: sqlite:{zerg_env['ZERG_HOME']}/zerg.db" in out
    assert "  commis slots: 5" in out
    link = zerg_server.login_link
    assert link and link.startswith(f"http://127.0.0.1:{zerg_server.port}/"), out
    assert "Press Ctrl+C to stop." in out

    health = zerg_server.wait_worker(timeout=20)
    assert health["status"] == "ok"
    assert health["database"] == ("postgresql" if "DATABASE_URL" in zerg_env else "sqlite")

    status = zerg_status(zerg_env)
    assert status["server"]["alive"] is True
    assert status["server"]["pid"] == zerg_server.pid
    assert status["worker_alive"] is True
    assert any(w["alive"] for w in status["workers"])


def test_it_delivers_an_event_published_by_a_worker_to_a_websocket_client(zerg_server, zerg_env):
    zerg_server.wait_worker(timeout=20)
    token = create_token(zerg_env)

    async def scenario():
        ws = await ws_connect(zerg_server, token)
        try:
            await ws_subscribe(ws, topics=["*"], after=0)
            sent = time.monotonic()
            status, body = await asyncio.to_thread(http_json, zerg_server.url + "/api/system/ping", "POST", token)
            assert status == 200, body
            event = await ws_wait_event(
                ws,
                lambda e: e["kind"] == "worker.pong" and e["payload"].get("task_id") == body["task_id"],
                timeout=10,
            )
            return event, time.monotonic() - sent
        finally:
            await ws.close()

    event, latency = asyncio.run(scenario())
    print(f"ping -> worker.pong over WebSocket: {latency * 1000:.0f} ms")
    assert event["topic"] == "system"
    worker_pids = {p.pid for p in zerg_server.descendants()}
    assert event["payload"]["worker_pid"] in worker_pids


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_it_stops_on_a_signal_and_leaves_no_process_behind(zerg_server, zerg_env, sig):
    zerg_server.wait_worker(timeout=20)
    before = zerg_server.descendants()
    assert any("worker --supervised" in p.cmdline for p in before), before

    code = zerg_server.stop(sig, timeout=40)

    assert code is not None
    survivors = wait_gone(before, timeout=20)
    assert not survivors, f"left behind: {survivors}\n{zerg_server.output()}"
    assert "Traceback" not in zerg_server.stderr(), zerg_server.output()

    # A clean stop closes every heartbeat; a cluster that had to be SIGKILLed leaves its
    # worker row open (the supervisor's last resort after its 20 s grace period).
    status = zerg_status(zerg_env)
    assert status["server"]["alive"] is False
    assert status["workers"] == [], (
        f"the worker cluster did not shut down cleanly and was killed: {status['workers']}\n{zerg_server.output()}"
    )


def test_it_leaves_no_orphan_when_killed_with_sigkill(zerg_server):
    zerg_server.wait_worker(timeout=20)
    before = zerg_server.descendants()
    assert len(before) >= 2, before  # the cluster child and at least its sentinel

    zerg_server.proc.kill()
    zerg_server.proc.wait(10)

    survivors = wait_gone(before, timeout=20)
    assert not survivors, f"orphans after kill -9: {survivors}"


def test_it_restarts_a_worker_cluster_that_was_killed(zerg_server, zerg_env):
    zerg_server.wait_worker(timeout=20)
    token = create_token(zerg_env)
    child = zerg_server.worker_child()
    assert child is not None, zerg_server.descendants()
    group = [p for p in zerg_server.descendants() if os.getpgid(p.pid) == child.pid]

    os.killpg(child.pid, signal.SIGKILL)
    assert not wait_gone(group, timeout=20)

    def new_worker():
        status, body = http_json(zerg_server.url + "/api/system/status", token=token)
        assert status == 200, body
        return [w for w in body["workers"] if w["alive"] and w["pid"] != child.pid]

    fresh = wait_for(new_worker, 30, interval=0.25, message=f"a new worker\n{zerg_server.output()}")
    replacement = zerg_server.worker_child()
    assert replacement is not None and replacement.pid == fresh[0]["pid"]
    assert "restarting" in zerg_server.stderr()

    pong = ping_round_trip(zerg_server, token)
    assert pong["payload"]["worker_pid"] != child.pid


def test_it_refuses_a_second_server_or_a_busy_port_and_keeps_the_first(zerg_server, zerg_env, tmp_path):
    second = run_zerg(["serve", "--host", "127.0.0.1", "--port", str(free_port())], zerg_env, timeout=60)
    assert second.returncode != 0
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "already running" in lines[0], second.stderr
    assert str(zerg_server.pid) in lines[0]

    other = dict(zerg_env, ZERG_HOME=str(tmp_path / "other-home"))
    busy = run_zerg(["serve", "--host", "127.0.0.1", "--port", str(zerg_server.port)], other, timeout=60)
    assert busy.returncode != 0
    lines = busy.stderr.strip().splitlines()
    assert len(lines) == 1 and "already in use" in lines[0], busy.stderr
    assert str(zerg_server.port) in lines[0]

    assert zerg_server.proc.poll() is None
    assert zerg_server.health() is not None
    assert zerg_server.wait_worker(timeout=20)["status"] == "ok"
