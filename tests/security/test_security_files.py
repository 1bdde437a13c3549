"""Security: ZERG_HOME's files against other users of the machine, and key files a full disk cuts short.

Issue 18, items 5 and 8. The attacker of item 5 is another account on the server: with
ZERG_HOME left 0755 it could read zerg.db (live login sessions), its WAL, a backup or a key
file and log in as the owner. Now every zerg command runs with umask 077, tightens what an
older version left loose before it opens anything, and `zerg doctor` says what to chmod.

Item 8 is the disk filling up while a key file is written: create-then-write left a 0-byte
``secret_key`` / ``vapid_private.pem`` and every later start read an empty key. Now a key
appears whole or not at all, and an empty one is a start-up error that says what to do.

The mode tests use SQLite in both suite passes (the files they are about); the start-up
tests also run on Postgres.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from tests.procs import (
    ZergServer,
    base_env,
    create_token,
    free_port,
    http_json,
    run_zerg,
)
from tests.system.test_faults_disk import fill, mount_tmpfs, umount
from tests.zerg_site.test_bad_start import one_line

COPY_BACK = "Copy it back from a backup (`zerg backup` saves it beside the database copy as <name>.{name})"


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@contextlib.contextmanager
def shell_umask():
    """Children start with umask 022, as from a login shell: Zerg must not rely on its caller's umask."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def loose_home(tmp_path: Path) -> Path:
    """A ZERG_HOME the owner made with a plain ``mkdir``: 0755, anyone may look inside."""
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    return home


def make_checkpoints(path: Path) -> None:
    """A stand-in for the agent backend's checkpoints.db (a SQLite file in WAL mode)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS checkpoints (thread TEXT)")
    conn.execute("INSERT INTO checkpoints VALUES ('t1')")
    conn.commit()
    conn.close()


def serve(env: dict) -> subprocess.CompletedProcess:
    return run_zerg(["serve", "--host", "127.0.0.1", "--port", str(free_port())], env, timeout=120)


def unusable(path: Path, what: str, cost: str) -> str:
    return (
        f"zerg: {path.name} in {path.parent} {what}. {COPY_BACK.format(name=path.name)}, "
        f"or delete it to make a new one ({cost})"
    )


# --- item 5: other users of the machine


@pytest.mark.slow
def test_it_keeps_other_users_out_of_a_new_database_in_a_0755_home(tmp_path):
    home = loose_home(tmp_path)
    env = base_env(home)
    with shell_umask():
        server = ZergServer(env, log_dir=tmp_path / "serve-logs").launch()
    try:
        server.wait_healthy()
        token = create_token(env)
        assert http_json(server.url + "/api/push/key", token=token)[0] == 200  # makes vapid_private.pem

        assert mode(home) == 0o700
        for name in ("zerg.db", "zerg.db-wal", "zerg.db-shm", "secret_key", "vapid_private.pem", "locks/serve.lock"):
            assert mode(home / name) == 0o600, name
        for folder in ("logs", "locks", "workspaces"):
            assert mode(home / folder) == 0o700, folder
        logs = list((home / "logs").iterdir())
        assert logs and {mode(path) for path in logs} == {0o600}, logs
    finally:
        server.close()


@pytest.mark.slow
def test_it_takes_back_a_database_an_older_version_left_world_readable(tmp_path):
    home = loose_home(tmp_path)
    env = base_env(home)
    run_zerg(["status"], env)  # migrates, then says no server runs
    make_checkpoints(home / "checkpoints.db")
    for name in ("zerg.db", "secret_key", "checkpoints.db"):  # what an older Zerg left behind
        (home / name).chmod(0o644)
    home.chmod(0o755)

    with shell_umask():
        server = ZergServer(env, log_dir=tmp_path / "serve-logs").launch()
    try:
        server.wait_healthy()
        assert mode(home) == 0o700
        # SQLite gives a new -wal/-shm its database's mode: they are 0600 because zerg.db was fixed first
        for name in ("zerg.db", "zerg.db-wal", "zerg.db-shm", "secret_key", "checkpoints.db"):
            assert mode(home / name) == 0o600, name
    finally:
        server.close()


def test_it_changes_no_mode_through_a_symlink_or_on_another_users_file(tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere.pem"
    elsewhere.write_text("not Zerg's\n")
    elsewhere.chmod(0o644)
    (home / "vapid_private.pem").symlink_to(elsewhere)
    foreign = home / "checkpoints.db"
    if os.geteuid() == 0:  # a file of another account (only root can make one): not ours to change
        make_checkpoints(foreign)
        foreign.chmod(0o644)
        os.chown(foreign, 65534, 65534)

    done = run_zerg(["token", "list"], base_env(home))

    assert done.returncode == 0, done.stderr
    assert mode(elsewhere) == 0o644
    assert not foreign.exists() or (mode(foreign), foreign.stat().st_uid) == (0o644, 65534)
    assert mode(home / "zerg.db") == 0o600


@pytest.mark.slow
def test_it_writes_backups_and_restores_readable_by_the_owner_only(tmp_path):
    home = loose_home(tmp_path)
    env = base_env(home)
    run_zerg(["status"], env)
    make_checkpoints(home / "checkpoints.db")
    backups = tmp_path / "backups"
    with shell_umask():
        backups.mkdir()
        done = run_zerg(["backup", str(backups / "zerg.db")], env)
        assert done.returncode == 0, done.stderr
        stale = backups / "old.db"
        stale.write_text("a world-readable file the backup replaces\n")
        forced = run_zerg(["backup", "--force", str(stale)], env)
        assert forced.returncode == 0, forced.stderr

    copies = sorted(path.name for path in backups.iterdir())
    assert copies == [
        "old.checkpoints.db",
        "old.db",
        "old.secret_key",
        "zerg.checkpoints.db",
        "zerg.db",
        "zerg.secret_key",
    ]  # and no temporary file left behind
    assert {name: mode(backups / name) for name in copies} == dict.fromkeys(copies, 0o600)

    for path in backups.iterdir():  # copied around by hand since: a restore must not inherit that
        path.chmod(0o644)
    with shell_umask():
        restored = run_zerg(["restore", str(backups / "zerg.db")], env)
    assert restored.returncode == 0, restored.stderr
    for name in ("zerg.db", "checkpoints.db", "secret_key"):
        assert mode(home / name) == 0o600, name


@pytest.mark.slow
def test_it_tells_the_owner_how_to_close_a_home_other_users_can_read(tmp_path):
    home = loose_home(tmp_path)
    env = base_env(home)
    run_zerg(["status"], env)
    for name in ("zerg.db", "secret_key"):
        (home / name).chmod(0o644)
    home.chmod(0o755)

    done = run_zerg(["doctor", "--json"], env)

    assert done.returncode == 1, done.stdout
    report = json.loads(done.stdout)
    assert set(report) == {"ok", "checks"} and report["ok"] is False
    assert all(set(check) == {"name", "status", "detail", "fix"} for check in report["checks"])
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["home"]["status"] == "fail" and checks["home"]["fix"] == f"chmod 700 {home}"
    assert checks["file_modes"]["status"] == "fail" and "zerg.db 644" in checks["file_modes"]["detail"]
    assert checks["file_modes"]["fix"] == f"chmod 600 {home / 'zerg.db'}"
    assert checks["secret_key"]["status"] == "fail"
    assert checks["secret_key"]["fix"] == f"chmod 600 {home / 'secret_key'}"
    assert mode(home) == 0o755 and mode(home / "zerg.db") == 0o644  # the doctor reports; it changes nothing

    for name in ("home", "file_modes", "secret_key"):  # the fixes, as a person would paste them
        subprocess.run(checks[name]["fix"], shell=True, check=True)
    report = json.loads(run_zerg(["doctor", "--json"], env).stdout)
    again = {check["name"]: check["status"] for check in report["checks"]}
    assert (again["home"], again["file_modes"], again["secret_key"]) == ("ok", "ok", "ok")


# --- item 8: key files cut short


@pytest.mark.slow
def test_it_refuses_to_start_on_a_secret_key_a_full_disk_left_empty_until_restored(tmp_path):
    env = base_env(tmp_path / "home")  # SQLite: `zerg restore` is the repair the message names
    home = Path(env["ZERG_HOME"])
    run_zerg(["status"], env)
    key = home / "secret_key"
    good = key.read_bytes()
    assert run_zerg(["backup", str(tmp_path / "zerg-backup.db")], env).returncode == 0
    key.write_bytes(b"")  # what create-then-write left when the disk was full

    done = serve(env)

    assert done.returncode == 1
    assert one_line(done) == unusable(key, "is empty: it was cut short (a full disk?)", "this logs everyone out")
    assert key.read_bytes() == b""  # never replaced behind the owner's back: that would log everyone out
    doctor = {c["name"]: c for c in json.loads(run_zerg(["doctor", "--json"], env).stdout)["checks"]}
    assert doctor["secret_key"]["status"] == "fail" and "is empty" in doctor["secret_key"]["detail"]
    assert doctor["secret_key"]["fix"].startswith("copy it back from a backup")

    restored = run_zerg(["restore", str(tmp_path / "zerg-backup.db")], env)
    assert restored.returncode == 0, restored.stderr
    assert key.read_bytes() == good and mode(key) == 0o600
    server = ZergServer(env, log_dir=tmp_path / "serve-logs")
    try:
        server.start()
    finally:
        server.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    "content, what",
    [(b"", "is empty: it was cut short (a full disk?)"), (b"\0" * 64, "is not a PEM key")],
    ids=["empty", "garbage"],
)
def test_it_refuses_to_start_on_a_damaged_push_key_and_says_what_to_do(zerg_env, tmp_path, content, what):
    home = Path(zerg_env["ZERG_HOME"])
    home.mkdir(mode=0o700)
    key = home / "vapid_private.pem"
    key.write_bytes(content)

    done = serve(zerg_env)

    assert done.returncode == 1
    assert one_line(done) == unusable(key, what, "every device must then turn notifications on again")
    assert key.read_bytes() == content
    key.unlink()  # the other way out it names
    server = ZergServer(zerg_env, log_dir=tmp_path / "serve-logs")
    try:
        server.start()
        status, body = http_json(server.url + "/api/push/key", token=create_token(zerg_env))
        assert status == 200 and body["public_key"]
    finally:
        server.close()


@pytest.mark.slow
def test_it_answers_503_not_500_when_the_push_key_is_emptied_while_running(zerg_server, zerg_env):
    token = create_token(zerg_env)
    status, body = http_json(zerg_server.url + "/api/push/key", token=token)
    assert status == 200
    key = Path(zerg_env["ZERG_HOME"]) / "vapid_private.pem"
    saved = key.read_bytes()
    key.write_bytes(b"")

    for path in ("/api/push/key", "/api/push"):
        status, error = http_json(zerg_server.url + path, token=token)
        assert status == 503, (path, status, error)
        assert "zerg: " + error["detail"] == unusable(
            key, "is empty: it was cut short (a full disk?)", "every device must then turn notifications on again"
        )
    assert key.read_bytes() == b""
    key.write_bytes(saved)  # copied back from a backup: the same key, so every subscription still holds
    assert http_json(zerg_server.url + "/api/push/key", token=token) == (200, body)


def test_it_leaves_no_empty_push_key_when_a_write_fails_on_a_full_disk(owner_client, settings, tmp_path, monkeypatch):
    settings.ZERG = dataclasses.replace(settings.ZERG, home=tmp_path)

    def disk_full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", disk_full)
    response = owner_client.get("/api/push/key")
    monkeypatch.undo()

    assert response.status_code == 503
    assert response.json()["detail"] == (
        f"cannot write vapid_private.pem in {tmp_path}: No space left on device; "
        "free some space (or fix the folder) and try again"
    )
    assert list(tmp_path.iterdir()) == []  # no empty key, no temporary file
    response = owner_client.get("/api/push/key")
    assert response.status_code == 200
    key = tmp_path / "vapid_private.pem"
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----") and mode(key) == 0o600
    assert owner_client.get("/api/push/key").json() == response.json()


@pytest.mark.slow
def test_it_leaves_no_empty_secret_key_when_zerg_home_is_full(zerg_env, tmp_path):
    volume = tmp_path / "volume"
    mount_tmpfs(volume, "24M")
    try:
        home = volume / "home"
        env = {**zerg_env, "ZERG_HOME": str(home)}
        filler = fill(volume)

        done = serve(env)

        assert done.returncode == 1
        assert one_line(done) == (
            f"zerg: cannot write secret_key in {home}: No space left on device; "
            "free some space (or fix the folder) and try again"
        )
        assert [path.name for path in home.iterdir() if "secret_key" in path.name] == []
        filler.unlink()
        server = ZergServer(env, log_dir=tmp_path / "serve-logs")
        try:
            server.start()
        finally:
            server.close()
        key = home / "secret_key"
        assert len(key.read_bytes().strip()) >= 50 and mode(key) == 0o600
    finally:
        umount(volume)
