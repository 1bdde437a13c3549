"""Commis jobs through a real ``zerg serve``: CLI, queue, cancel, a killed worker cluster, the API."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.commis_helpers import commis_env, job, running_count, spawn, wait_file, wait_status, workspace_of
from tests.procs import ZergServer, create_token, http_json, run_zerg, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("commis-serve")
    with commis_env(base / "home", ZERG_MAX_CONCURRENT="2") as env:
        srv = ZergServer(env, log_dir=base / "logs")
        try:
            srv.start()
            srv.wait_worker()
            yield srv
        finally:
            srv.close()


def test_spawn_runs_and_logs(server):
    env = server.env
    created = spawn(env, "echo hello from commis; sleep 0.5; echo bye")
    assert created["status"] == "queued" and created["backend"] == "shell" and isinstance(created["id"], int)
    done = wait_status(env, created["id"], ["succeeded", "failed"], timeout=30)
    assert done["status"] == "succeeded", done
    logs = run_zerg(["logs", str(created["id"])], env)
    assert "hello from commis" in logs.stdout and "bye" in logs.stdout
    follow = run_zerg(["logs", "-f", str(created["id"])], env, timeout=30)
    assert follow.returncode == 0 and "bye" in follow.stdout
    listed = json.loads(run_zerg(["jobs", "--json"], env).stdout)
    assert created["id"] in [j["id"] for j in listed]


def test_spawn_wait_exit_code(server):
    ok = run_zerg(["spawn", "true", "--wait", "--json"], server.env, timeout=60)
    assert ok.returncode == 0 and json.loads(ok.stdout)["status"] == "succeeded"
    bad = run_zerg(["spawn", "exit 4", "--wait", "--json"], server.env, timeout=60)
    assert bad.returncode == 1 and json.loads(bad.stdout)["exit_code"] == 4


def test_cancel_from_cli_kills_group(server):
    env = server.env
    created = spawn(env, "bash -c 'trap \"\" TERM; echo $$ > child.pid; while :; do sleep 0.2; done' & wait")
    wait_status(env, created["id"], ["running"], timeout=30)
    pid = int(wait_file(workspace_of(env, created["id"]) / "child.pid"))
    done = run_zerg(["cancel", str(created["id"]), "--json"], env)
    assert done.returncode == 0, done.stderr
    final = wait_status(env, created["id"], ["cancelled", "failed", "succeeded"], timeout=20)
    assert final["status"] == "cancelled"
    wait_for(
        lambda: not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2],
        10,
        message="the SIGTERM-ignoring child to die",
    )


def test_full_queue_waits_and_finishes(server):
    env = server.env
    ids = [spawn(env, "sleep 1.5")["id"] for _ in range(5)]
    peak = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        peak = max(peak, running_count(env))
        states = [job(env, i)["status"] for i in ids]
        if all(s == "succeeded" for s in states):
            break
        time.sleep(0.1)
    assert all(job(env, i)["status"] == "succeeded" for i in ids)
    assert 1 <= peak <= 2  # max_concurrent


def test_killed_worker_cluster_job_is_reclaimed(server):
    env = server.env
    created = spawn(
        env,
        "echo start $ZERG_JOB_LEASE >> runs; for i in 1 2 3 4 5 6; do sleep 0.5; done; "
        "echo end $ZERG_JOB_LEASE >> runs",
    )
    wait_status(env, created["id"], ["running"], timeout=30)
    wait_file(workspace_of(env, created["id"]) / "runs")
    worker = server.worker_child()
    assert worker is not None
    os.kill(worker.pid, signal.SIGKILL)
    final = wait_status(env, created["id"], ["succeeded", "failed"], timeout=90)
    assert final["status"] == "succeeded" and final["attempts"] >= 2, final
    runs = (workspace_of(env, created["id"]) / "runs").read_text().split("\n")
    starts = [line.split()[1] for line in runs if line.startswith("start")]
    ends = [line.split()[1] for line in runs if line.startswith("end")]
    assert len(starts) >= 2 and ends == [starts[-1]]  # the killed attempt never finished
    server.wait_worker()


def test_api_and_remote_cli(server):
    env = server.env
    token = create_token(env)
    status, body = http_json(server.url + "/api/commis/jobs", "POST", token, {"task": "echo via api; echo x > f.txt"})
    assert status == 200, body
    job_id = body["id"]
    wait_status(env, job_id, ["succeeded"], timeout=30)
    status, detail = http_json(f"{server.url}/api/commis/jobs/{job_id}", token=token)
    assert status == 200 and detail["status"] == "succeeded" and detail["origin"] == "api"
    status, listing = http_json(f"{server.url}/api/commis/jobs?status=succeeded&backend=shell", token=token)
    assert job_id in [j["id"] for j in listing["jobs"]] and listing["slots"]["max"] == 2
    assert http_json(server.url + "/api/commis/jobs")[0] == 401  # no anonymous access
    remote = {k: v for k, v in env.items() if k not in ("ZERG_HOME", "DATABASE_URL")}
    remote["ZERG_HOME"] = env["ZERG_HOME"] + "-elsewhere"
    out = run_zerg(["logs", str(job_id), "--server", server.url, "--token", token], remote)
    assert out.returncode == 0 and "via api" in out.stdout, out.stderr
    out = run_zerg(
        ["spawn", "echo remote", "--wait", "--json", "--server", server.url, "--token", token], remote, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "succeeded"


async def test_progress_reaches_websocket(server):
    import asyncio

    from tests.procs import ws_connect, ws_subscribe, ws_wait_event

    token = await asyncio.to_thread(create_token, server.env)
    ws = await ws_connect(server, token)
    try:
        await ws_subscribe(ws, topics=["commis"])
        created = await asyncio.to_thread(spawn, server.env, "echo one; sleep 0.3; echo two")
        done = await ws_wait_event(
            ws,
            lambda e: (
                e["topic"] == "commis"
                and e["payload"].get("job") == created["id"]
                and e["payload"]["status"] == "succeeded"
            ),
            timeout=30,
        )
        assert done["kind"] == "commis.status"
    finally:
        await ws.close()
    # a client that comes later replays the job's topic from the start: its output lines in order
    ws = await ws_connect(server, token)
    try:
        await ws.send(json.dumps({"type": "subscribe", "topics": [f"commis:{created['id']}"], "after": 0}))
        texts, kinds = [], []
        async with asyncio.timeout(10):
            while True:
                message = json.loads(await ws.recv())
                if message["type"] == "subscribed":
                    break
                kinds.append(message["event"]["kind"])
                if message["event"]["kind"] == "commis.output":
                    texts += [item["text"] for item in message["event"]["payload"]["events"]]
        assert texts == ["one", "two"]
        assert kinds[0] == "commis.status" and kinds[-1] == "commis.status"
    finally:
        await ws.close()


def test_it_leaves_no_orphan_when_a_standalone_worker_is_killed_with_sigkill(tmp_path):
    """``zerg worker`` without a ``zerg serve`` above it (an extra machine): a kill -9 takes its
    sentinel, workers, monitor, pusher and the running job's processes with it."""
    import subprocess

    from tests.procs import REPO, kill_procs, snapshot, wait_gone, zerg_command

    with commis_env(tmp_path / "home", ZERG_MAX_CONCURRENT="2") as env:
        created = spawn(env, "sleep 300")  # the CLI migrates the new database
        with open(tmp_path / "worker.log", "wb") as log:
            worker = subprocess.Popen(
                zerg_command("worker"), env=env, cwd=REPO, stdout=log, stderr=log, stdin=subprocess.DEVNULL
            )
        procs = []
        try:
            wait_status(env, created["id"], ["running"], timeout=60)
            procs = wait_for(
                lambda: (found := snapshot(worker.pid)) and any("sleep 300" in p.cmdline for p in found) and found,
                30,
                message="the job's sleep under the cluster",
            )
            assert len(procs) >= 5  # sentinel, 2 workers, monitor, pusher, and the job's process
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(10)
            left = wait_gone(procs, timeout=15)
            assert not left, f"orphans: {left}"
        finally:
            worker.kill()
            kill_procs(procs)
