"""Helpers for commis tests that run a real ``zerg serve`` (no Django imports)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path

from tests.procs import base_env, database_env, run_zerg, wait_for

FAST = {"ZERG_HEARTBEAT_INTERVAL": "0.5", "ZERG_STALE_THRESHOLD": "4"}


@contextlib.contextmanager
def commis_env(home: Path, **extra: str):
    with database_env() as overrides:
        yield base_env(home, **FAST, **overrides, **extra)


def query(env: dict, sql: str, params=()) -> list[tuple]:
    """Read the server's database directly (SQLite file or Postgres)."""
    url = env.get("DATABASE_URL")
    if url:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            return list(conn.execute(sql.replace("?", "%s"), params).fetchall())
    conn = sqlite3.connect(Path(env["ZERG_HOME"]) / "zerg.db", timeout=20)
    try:
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()


def spawn(env: dict, task: str, *args: str) -> dict:
    done = run_zerg(["spawn", task, "--json", *args], env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def job(env: dict, job_id: int) -> dict:
    cols = [
        "id",
        "status",
        "attempts",
        "exit_code",
        "summary",
        "workspace",
        "artifacts_dir",
        "worker",
        "started_at",
        "created_at",
    ]
    row = query(env, f"SELECT {', '.join(cols)} FROM commis_job WHERE id = ?", (job_id,))[0]
    return dict(zip(cols, row, strict=True))


def wait_status(env: dict, job_id: int, statuses, timeout: float = 60) -> dict:
    return wait_for(
        lambda: (j := job(env, job_id))["status"] in statuses and j,
        timeout,
        interval=0.1,
        message=f"job {job_id} in {statuses}",
    )


def running_count(env: dict) -> int:
    return query(env, "SELECT COUNT(*) FROM commis_job WHERE status = 'running'")[0][0]


def workspace_of(env: dict, job_id: int) -> Path:
    return Path(env["ZERG_HOME"]) / "workspaces" / str(job_id) / "work"


def wait_file(path: Path, timeout: float = 30) -> str:
    return wait_for(lambda: path.exists() and path.read_text(), timeout, message=str(path))


def now() -> float:
    return time.time()
