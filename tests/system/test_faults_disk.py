"""The disk filling up, on real small volumes: ``ZERG_HOME`` (database, logs) on a 24 MB tmpfs
and its ``workspaces/`` on a 4 MB tmpfs of its own, both filled to the last byte by a filler
file. Writes fail with a clear error (507 with a message from the API, a readable summary on
a job), the server stays up, and everything works again once the filler is deleted.

Needs root and mount(2) (CAP_SYS_ADMIN): skipped with the reason otherwise. On Postgres the
database lives elsewhere, so there the database half checks that writes simply go on.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
from pathlib import Path

import pytest

from agents_ingest.wire import BATCH_TYPE
from tests.commis_helpers import FAST, wait_status
from tests.ingest_batch import batch_body
from tests.procs import ZergServer, base_env, create_token, database_env, http_json, run_zerg

pytestmark = pytest.mark.slow

FINAL = ("succeeded", "failed", "cancelled", "timed_out")


def mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}): "
            "a disk-full test needs root and CAP_SYS_ADMIN"
        )


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(volume: Path) -> Path:
    """Write a filler file until the volume is full (ENOSPC), then return it."""
    filler = volume / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1):  # big chunks, then the last partial pages
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    with pytest.raises(OSError) as full:
        (volume / "probe").write_bytes(b"x" * 4096)
    assert full.value.errno == errno.ENOSPC
    return filler


@pytest.fixture
def volumes(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    home = tmp_path / "home"
    mount_tmpfs(home, "24m")
    try:
        mount_tmpfs(home / "workspaces", "4m")
        yield home
    finally:
        umount(home / "workspaces")
        umount(home)


@pytest.fixture
def env(volumes):
    with database_env() as overrides:
        yield base_env(volumes, **FAST, **overrides)


def ingest_body(n: int) -> bytes:
    line = (
        json.dumps(
            {
                "type": "user",
                "sessionId": "disk",
                "uuid": f"u{n}",
                "message": {"role": "user", "content": f"message {n} " + "z" * 2000},
            }
        )
        + "\n"
    )
    return batch_body(
        {"device": "laptop", "files": [{"provider": "claude", "path": f"/disk-{n}.jsonl", "data": line * 50}]},
        "identity",
    )


def test_it_fails_writes_clearly_on_a_full_disk_stays_up_and_recovers(env, volumes, tmp_path):
    from tests.system.test_faults_kill import post

    on_sqlite = "DATABASE_URL" not in env
    server = ZergServer(env, log_dir=tmp_path / "serve")  # its stdout/stderr outside the full volume
    try:
        server.start()
        server.wait_worker()
        token = create_token(env)
        made = run_zerg(["token", "create", "--device", "laptop", "--json"], env)
        device = json.loads(made.stdout)["token"]
        status, thread = http_json(
            server.url + "/api/forum/boards/general/threads",
            "POST",
            token=token,
            body={"title": "disk", "text": "before"},
        )
        assert status == 200, thread

        # 1. the workspaces volume is full: a job fails with a readable summary
        filler = fill(volumes / "workspaces")
        status, job = http_json(
            server.url + "/api/commis/jobs",
            "POST",
            token=token,
            body={"task": "echo hello > out.txt; echo done", "backend": "shell"},
        )
        assert status == 200, job
        job = wait_status(env, job["id"], FINAL, timeout=60)
        assert job["status"] == "failed" and "space" in (job["summary"] or "").lower(), job
        filler.unlink()
        status, job = http_json(
            server.url + "/api/commis/jobs", "POST", token=token, body={"task": "echo recovered", "backend": "shell"}
        )
        assert wait_status(env, job["id"], FINAL, timeout=60)["status"] == "succeeded"

        # 2. the database's volume is full: 507 with a message, the server stays up
        filler = fill(volumes)
        writes = {
            "ingest": lambda n: post(
                server.url + "/api/agents/ingest", ingest_body(n), device, content_type=BATCH_TYPE
            ),
            "forum post": lambda n: http_json(
                f"{server.url}/api/forum/threads/{thread['id']}/posts",
                "POST",
                token=token,
                body={"text": f"post {n} " + "p" * 5000},
            ),
            "spawn": lambda n: http_json(
                server.url + "/api/commis/jobs", "POST", token=token, body={"task": f"echo {n}", "backend": "shell"}
            ),
        }
        for name, write in writes.items():
            answers = [write(n) for n in range(3)]
            for status, body in answers:
                if on_sqlite:
                    assert status == 507, (name, status, body, server.stderr()[-3000:])
                    assert "disk" in body["detail"].lower() or "space" in body["detail"].lower(), body
                else:
                    assert status == 200, (name, status, body)
        assert server.proc.poll() is None
        status, _ = http_json(server.url + "/api/commis/jobs", token=token)
        assert status == 200  # reads still work
        assert "Internal Server Error" not in server.stderr(), server.stderr()[-4000:]

        # 3. space returns: writes work again, without a restart
        filler.unlink()
        for name, write in writes.items():
            status, body = write(100)
            assert status == 200, (name, status, body, server.stderr()[-3000:])
        status, job = http_json(
            server.url + "/api/commis/jobs", "POST", token=token, body={"task": "echo after", "backend": "shell"}
        )
        assert wait_status(env, job["id"], FINAL, timeout=60)["status"] == "succeeded"
        assert server.health()["status"] == "ok"
    finally:
        server.close()
