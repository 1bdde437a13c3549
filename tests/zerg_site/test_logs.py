"""Logs: ``zerg serve`` and its worker cluster write $ZERG_HOME/logs/zerg.log, rotated without losing lines."""

from __future__ import annotations

import logging
import multiprocessing
import re
from pathlib import Path

import pytest

from tests.procs import ZergServer
from zerg_site.maintenance import LOG_FILE_NAME, SharedRotatingFileHandler, log_to_file


@pytest.mark.slow
def test_it_writes_the_server_and_worker_log_into_zerg_home(zerg_env, tmp_path):
    server = ZergServer(zerg_env, log_dir=tmp_path / "serve-logs")
    try:
        server.start()
        worker = server.wait_worker() and server.worker_child()
        assert worker is not None
    finally:
        server.close()
    text = (Path(zerg_env["ZERG_HOME"]) / "logs" / LOG_FILE_NAME).read_text()
    pids = {int(m) for m in re.findall(r"^\S+ \S+ (\d+) ", text, re.M)}
    assert server.pid in pids, text  # the server: it created the maintenance schedules
    assert re.search(rf"^\S+ \S+ {server.pid} INFO zerg.maintenance: created maintenance schedules", text, re.M)
    assert re.search(r"INFO django-q: Q Cluster \S+ starting", text), text  # the worker cluster
    assert "Q Cluster" not in server.stderr()  # INFO goes to the file only; stderr keeps warnings


def test_it_logs_to_the_file_only_from_long_running_commands(monkeypatch):
    monkeypatch.delenv("ZERG_LOG_FILE", raising=False)
    assert log_to_file(["zerg", "serve"]) and log_to_file(["zerg", "worker", "--supervised"])
    assert log_to_file(["manage.py", "qcluster"])
    assert not log_to_file(["zerg", "status"]) and not log_to_file(["pytest"])
    monkeypatch.setenv("ZERG_LOG_FILE", "1")
    assert log_to_file(["zerg", "status"])


def write_lines(path: str, name: str, count: int, max_bytes: int, backups: int) -> None:
    handler = SharedRotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(f"test.rotation.{name}")
    logger.propagate = False
    logger.addHandler(handler)
    for n in range(count):
        logger.warning("%s line %04d %s", name, n, "x" * 40)
    handler.close()


def run_writers(path: Path, writers: int, count: int, max_bytes: int, backups: int) -> None:
    context = multiprocessing.get_context("fork")  # as django-q2 forks its workers
    procs = [
        context.Process(target=write_lines, args=(str(path), f"p{i}", count, max_bytes, backups))
        for i in range(writers)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0


def test_it_rotates_one_file_shared_by_several_processes_without_losing_lines(tmp_path):
    path = tmp_path / LOG_FILE_NAME
    run_writers(path, writers=3, count=300, max_bytes=4000, backups=500)
    files = sorted(tmp_path.glob(LOG_FILE_NAME + "*"))
    logs = [f for f in files if not f.name.endswith(".lock")]
    assert len(logs) > 10  # it did rotate, many times
    lines = [line for f in logs for line in f.read_text().splitlines()]
    expected = {f"p{i} line {n:04d} {'x' * 40}" for i in range(3) for n in range(300)}
    assert sorted(lines) == sorted(expected)  # every line exactly once
    assert all(f.stat().st_size <= 4000 + 200 for f in logs)


def test_it_keeps_only_the_configured_number_of_old_files(tmp_path):
    path = tmp_path / LOG_FILE_NAME
    run_writers(path, writers=2, count=200, max_bytes=2000, backups=2)
    names = sorted(f.name for f in tmp_path.iterdir() if not f.name.endswith(".lock"))
    assert names == [LOG_FILE_NAME, LOG_FILE_NAME + ".1", LOG_FILE_NAME + ".2"]
