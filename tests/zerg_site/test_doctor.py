"""``zerg doctor``: all green on a healthy home, and a failure with a fix for each problem we can provoke."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from pathlib import Path

import pytest
from django.conf import settings

from tests.procs import REPO, ZergServer, run_zerg
from zerg_site.cli import doctor

FAKE_BIN = REPO / "tests" / "fakes" / "bin"


def doctor_env(env: dict, **extra) -> dict:
    """The fake claude/codex on PATH and an LLM key: what a fully set-up server has."""
    return {**env, "PATH": f"{FAKE_BIN}{os.pathsep}{env.get('PATH', '')}", "ANTHROPIC_API_KEY": "sk-ant-test", **extra}


@pytest.mark.slow
def test_it_passes_on_a_healthy_home(zerg_env, tmp_path):
    server = ZergServer(zerg_env, log_dir=tmp_path / "logs")
    try:
        server.start()
        server.wait_worker()
        done = run_zerg(["doctor", "--json"], doctor_env(zerg_env))
        report = json.loads(done.stdout)
        assert done.returncode == 0, done.stdout
        statuses = {check["name"]: check["status"] for check in report["checks"]}
        wal = "skip" if "DATABASE_URL" in zerg_env else "ok"
        assert statuses == {
            "versions": "ok",
            "database": "ok",
            "migrations": "ok",
            "wal": wal,
            "disk": "ok",
            "worker": "ok",
            "git": "ok",
            "claude": "ok",
            "codex": "ok",
            "model": "ok",
            "secret_key": "ok",
            "home": "ok",
            "file_modes": "ok",
            "push_key": "ok",
        }
        assert report["ok"] is True
        human = run_zerg(["doctor"], doctor_env(zerg_env))
        assert human.returncode == 0 and "all checks passed" in human.stdout and "fix:" not in human.stdout
    finally:
        server.close()


@pytest.mark.slow
def test_it_exits_1_and_says_what_to_fix_without_a_server(zerg_env):
    run_zerg(["status"], zerg_env)  # a migrated database, no server running
    done = run_zerg(["doctor"], {**zerg_env, "ANTHROPIC_API_KEY": ""})
    assert done.returncode == 1, done.stdout
    lines = done.stdout.splitlines()
    worker = next(i for i, line in enumerate(lines) if line.split()[:2] == ["FAIL", "worker"])
    assert "zerg serve" in lines[worker + 1] and "fix:" in lines[worker + 1]
    assert any(line.split()[:2] == ["FAIL", "model"] for line in lines)
    assert "some checks failed" in done.stdout


def config(**changes):
    return dataclasses.replace(settings.ZERG, **changes)


def test_it_fails_the_worker_check_without_a_live_worker(db):
    from zerg_site.models import ProcessHeartbeat

    assert doctor.check_worker(settings.ZERG).status == doctor.FAIL
    ProcessHeartbeat.objects.create(kind=ProcessHeartbeat.WORKER, name="w1", host="here", pid=os.getpid())
    assert doctor.check_worker(settings.ZERG).status == doctor.OK


def test_it_fails_without_a_model(db):
    check = doctor.check_model(config(anthropic_api_key="", openai_api_key="", openai_base_url=""))
    assert check.status == doctor.FAIL and "anthropic_api_key" in check.fix
    assert doctor.check_model(config(anthropic_api_key="", openai_base_url="http://127.0.0.1:11434/v1")).status == "ok"


def test_it_fails_a_readable_or_missing_secret_key(tmp_path):
    cfg = config(home=tmp_path)
    assert doctor.check_secret_key(cfg).status == doctor.FAIL
    key = tmp_path / "secret_key"
    key.write_text("x")
    key.chmod(0o644)
    check = doctor.check_secret_key(cfg)
    assert check.status == doctor.FAIL and check.fix == f"chmod 600 {key}"
    key.chmod(0o600)
    assert doctor.check_secret_key(cfg).status == doctor.OK


def test_it_fails_without_git_and_warns_without_agent_clis(db, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory
    monkeypatch.delenv("ZERG_CLAUDE_BIN", raising=False)
    monkeypatch.delenv("ZERG_CODEX_BIN", raising=False)
    checks = {check.name: check for check in doctor.check_clis(settings.ZERG)}
    assert checks["git"].status == doctor.FAIL and "install git" in checks["git"].fix
    assert checks["claude"].status == checks["codex"].status == doctor.WARN
    monkeypatch.setenv("PATH", f"{FAKE_BIN}{os.pathsep}/usr/bin{os.pathsep}/bin")
    assert {c.name: c.status for c in doctor.check_clis(settings.ZERG)} == {"git": "ok", "claude": "ok", "codex": "ok"}


def test_it_fails_low_disk_space(monkeypatch, tmp_path):
    assert doctor.check_disk(config(home=tmp_path)).status == doctor.OK
    monkeypatch.setattr(doctor, "MIN_FREE_BYTES", 1 << 62)  # more than any disk has
    check = doctor.check_disk(config(home=tmp_path))
    assert check.status == doctor.FAIL and "prune_workspaces" in check.fix


def sqlite_config(path: Path):
    return config(database_url=f"sqlite://{path}", home=path.parent)


def test_it_fails_a_missing_or_damaged_database(tmp_path):
    path = tmp_path / "zerg.db"
    assert doctor.check_database(sqlite_config(path)).status == doctor.FAIL
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [(f"row {i}" * 20,) for i in range(3000)])
    conn.execute("CREATE INDEX t_x ON t (x)")
    conn.commit()
    conn.close()
    assert doctor.check_database(sqlite_config(path)).status == doctor.OK
    data = bytearray(path.read_bytes())
    data[4096 * 3 : 4096 * 8] = b"\x5a" * (4096 * 5)  # overwrite pages, keep the header
    path.write_bytes(bytes(data))
    check = doctor.check_database(sqlite_config(path))
    assert check.status == doctor.FAIL and "zerg restore" in check.fix


def test_it_fails_a_wal_that_checkpoints_do_not_shrink(tmp_path, monkeypatch):
    path = tmp_path / "zerg.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (x TEXT)")
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM t").fetchone()  # a long-lived reader pins the WAL
    for _ in range(200):
        writer.execute("INSERT INTO t VALUES (?)", ("x" * 2000,))
    try:
        assert doctor.check_wal(sqlite_config(path)).status == doctor.OK  # small: fine
        monkeypatch.setattr(doctor, "WAL_BACKLOG_FRAMES", 10)
        check = doctor.check_wal(sqlite_config(path))
        assert check.status == doctor.FAIL and "checkpoint_wal" in check.fix
    finally:
        reader.close()
        writer.close()
    assert doctor.check_wal(config(database_url="postgresql://u@h/db")).status == doctor.SKIP


def test_it_reports_a_crashing_check_as_a_failure(monkeypatch):
    def broken(cfg):
        raise RuntimeError("boom")

    monkeypatch.setattr(doctor, "CHECKS", (broken,))
    [check] = doctor.run_checks(config())
    assert check.status == doctor.FAIL and "boom" in check.detail
