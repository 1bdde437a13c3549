"""``zerg backup`` / ``zerg restore`` against a real ``zerg serve`` writing meanwhile.

Backup is a SQLite feature, so these tests run on SQLite in both suite passes (their
env has no DATABASE_URL); on Postgres the commands must point at pg_dump instead.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from tests.procs import ZergServer, base_env, create_token, http_json, run_zerg

pytestmark = pytest.mark.slow


def rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def job_ids(path: Path) -> set[int]:
    return {row[0] for row in rows(path, "SELECT id FROM commis_job")}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_checkpoints(home: Path, marker: str) -> None:
    """A stand-in for the agent backend's checkpoints.db (any SQLite file is copied the same way)."""
    conn = sqlite3.connect(home / "checkpoints.db")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS checkpoints (thread TEXT)")
    conn.execute("INSERT INTO checkpoints VALUES (?)", (marker,))
    conn.commit()
    conn.close()


class JobWriter(threading.Thread):
    """Spawns shell jobs through the API as fast as the server acknowledges them."""

    def __init__(self, server: ZergServer, token: str):
        super().__init__(daemon=True)
        self.server, self.token = server, token
        self.acked: list[int] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            status, body = http_json(
                self.server.url + "/api/commis/jobs",
                "POST",
                self.token,
                {"task": "echo backed up", "backend": "shell"},
                timeout=30,
            )
            if status == 200:
                self.acked.append(body["id"])
            else:
                self.errors.append(f"{status} {body}")


@pytest.fixture
def sqlite_env(tmp_path):
    return base_env(tmp_path / "home")


def init_home(env) -> Path:
    """A home with a migrated database and no server (`zerg status` migrates, then says it is down)."""
    run_zerg(["status"], env)
    database = Path(env["ZERG_HOME"]) / "zerg.db"
    assert database.exists()
    return database


def test_it_backs_up_a_busy_server_and_restores_it(sqlite_env, tmp_path):
    home = Path(sqlite_env["ZERG_HOME"])
    backup = tmp_path / "backups" / "zerg-backup.db"
    backup.parent.mkdir()
    server = ZergServer(sqlite_env, log_dir=tmp_path / "logs1")
    try:
        server.start()
        server.wait_worker()
        make_checkpoints(home, "from before the backup")
        token = create_token(sqlite_env)
        status, key = http_json(server.url + "/api/push/key", "GET", token)  # makes the VAPID key pair
        assert status == 200 and (home / "vapid_private.pem").exists(), key
        writer = JobWriter(server, token)
        writer.start()
        try:
            while len(writer.acked) < 5 and not writer.errors:  # the writer is up and writing
                threading.Event().wait(0.05)
            acknowledged = list(writer.acked)
            done = run_zerg(["backup", str(backup)], sqlite_env)
            after = len(writer.acked) + 3  # a few rows surely written after the backup
            deadline = time.monotonic() + 60
            while len(writer.acked) < after and not writer.errors and time.monotonic() < deadline:
                threading.Event().wait(0.05)
        finally:
            writer.stop.set()
            writer.join(60)
        assert not writer.errors, writer.errors
        assert done.returncode == 0, done.stderr
        assert str(backup) in done.stdout

        assert rows(backup, "PRAGMA integrity_check") == [("ok",)]
        assert rows(backup, "PRAGMA journal_mode") == [("delete",)]  # one self-contained file
        assert set(acknowledged) <= job_ids(backup)
        saved_checkpoints = backup.with_name("zerg-backup.checkpoints.db")
        assert rows(saved_checkpoints, "SELECT thread FROM checkpoints") == [("from before the backup",)]
        assert not [p.name for p in backup.parent.iterdir() if ".tmp-" in p.name]
        # the server's keys travel with it, private
        for name in ("secret_key", "vapid_private.pem"):
            saved = backup.with_name(f"zerg-backup.{name}")
            assert saved.read_bytes() == (home / name).read_bytes() and saved.stat().st_mode & 0o077 == 0

        # No restore under a running server, and the live database is left alone.
        refused = run_zerg(["restore", str(backup)], sqlite_env)
        assert refused.returncode == 1
        assert "zerg serve is already running" in refused.stderr and "stop it before restoring" in refused.stderr
        assert not list(home.glob("*.before-restore-*"))
    finally:
        server.close()

    database = home / "zerg.db"
    later = job_ids(database) - job_ids(backup)  # acknowledged after the backup began
    assert later, "the writer kept writing while the backup ran"
    make_checkpoints(home, "from after the backup")
    vapid = (home / "vapid_private.pem").read_bytes()
    (home / "vapid_private.pem").write_bytes(b"a key made after the backup")  # as on a new machine
    for job_id in later:  # a workspace of a job the backup does not know
        (home / "workspaces" / str(job_id)).mkdir(parents=True, exist_ok=True)

    restored = run_zerg(["restore", str(backup)], sqlite_env)
    assert restored.returncode == 0, restored.stderr
    assert job_ids(database) == job_ids(backup)
    assert rows(database, "PRAGMA integrity_check") == [("ok",)]
    assert not Path(f"{database}-wal").exists() and not Path(f"{database}-shm").exists()
    [aside] = home.glob("zerg.db.before-restore-*")
    assert later <= job_ids(aside)  # nothing is lost: the newer database is kept aside
    assert rows(home / "checkpoints.db", "SELECT thread FROM checkpoints") == [("from before the backup",)]
    [old_checkpoints] = home.glob("checkpoints.db.before-restore-*")
    assert ("from after the backup",) in rows(old_checkpoints, "SELECT thread FROM checkpoints")
    assert (home / "vapid_private.pem").read_bytes() == vapid and "vapid_private.pem restored" in restored.stdout
    [old_key] = home.glob("vapid_private.pem.before-restore-*")
    assert old_key.read_bytes() == b"a key made after the backup"
    [old_workspaces] = home.glob("workspaces.before-restore-*")
    assert {int(p.name) for p in old_workspaces.iterdir()} == later
    assert not any((home / "workspaces" / str(job_id)).exists() for job_id in later)

    # The restored home serves again, and a new job runs.
    server = ZergServer(sqlite_env, log_dir=tmp_path / "logs2")
    try:
        server.start()
        server.wait_worker()
        ran = run_zerg(["spawn", "echo after restore", "--wait", "--json"], sqlite_env, timeout=60)
        assert ran.returncode == 0, ran.stdout + ran.stderr
    finally:
        server.close()


def test_it_refuses_to_overwrite_or_write_where_it_cannot(sqlite_env, tmp_path):
    nothing = run_zerg(["backup", str(tmp_path / "early.db")], sqlite_env)
    assert nothing.returncode == 1 and "nothing to back up" in nothing.stderr
    init_home(sqlite_env)

    existing = tmp_path / "existing.db"
    existing.write_text("keep me")
    refused = run_zerg(["backup", str(existing)], sqlite_env)
    assert refused.returncode == 1 and "already exists; pass --force" in refused.stderr
    assert existing.read_text() == "keep me"
    forced = run_zerg(["backup", "--force", str(existing)], sqlite_env)
    assert forced.returncode == 0, forced.stderr
    assert rows(existing, "PRAGMA integrity_check") == [("ok",)]

    missing_dir = run_zerg(["backup", str(tmp_path / "no-such-dir" / "x.db")], sqlite_env)
    assert missing_dir.returncode == 1 and "does not exist" in missing_dir.stderr
    a_dir = run_zerg(["backup", str(tmp_path)], sqlite_env)
    assert a_dir.returncode == 1 and "is a directory" in a_dir.stderr
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        denied = run_zerg(["backup", str(locked / "x.db")], sqlite_env)
        assert denied.returncode == 1 and "no permission" in denied.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if ".tmp-" in p.name) == []


def test_it_refuses_to_restore_what_is_not_a_sound_zerg_database(sqlite_env, tmp_path):
    database = init_home(sqlite_env)
    before = digest(database)
    text = tmp_path / "notes.db"
    text.write_text("not a database at all\n" * 100)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE foo (x)")
    conn.commit()
    conn.close()
    damaged = tmp_path / "damaged.db"
    assert run_zerg(["backup", str(damaged)], sqlite_env).returncode == 0
    data = bytearray(damaged.read_bytes())
    page = 4096
    data[page * 2 : page * 6] = b"\xa5" * (page * 4)  # overwrite b-tree pages, keep the header
    damaged.write_bytes(bytes(data))

    cases = [
        (tmp_path / "absent.db", "does not exist"),
        (text, "not a SQLite database"),
        (other, "not a Zerg database"),
        (damaged, "damaged.db"),
    ]
    for path, message in cases:
        done = run_zerg(["restore", str(path)], sqlite_env)
        assert done.returncode == 1, (path, done.stdout)
        assert message in done.stderr, (path, done.stderr)
    assert digest(database) == before
    assert not list(Path(sqlite_env["ZERG_HOME"]).glob("*before-restore*"))


def test_it_points_to_pg_dump_on_postgres(tmp_path):
    url = os.environ.get("DATABASE_URL") or "postgresql://zerg:secret@127.0.0.1:9/zerg"
    env = base_env(tmp_path / "home", DATABASE_URL=url)
    for command in ("backup", "restore"):
        done = run_zerg([command, str(tmp_path / "x.db")], env)
        assert done.returncode == 2, done.stderr
        assert "pg_dump" in done.stderr and "secret" not in done.stderr
    assert not (tmp_path / "x.db").exists()
