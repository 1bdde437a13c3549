"""``zerg connect`` and ``zerg ship`` as real processes against a local fake ingest server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.procs import base_env
from tests.shipper_fake_server import FakeIngest, lay_out_home

# Runs the real CLI and fails if anything imported Django: `zerg ship` runs on laptops.
ZERG = [
    sys.executable,
    "-c",
    "import sys\n"
    "from zerg_site.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "assert 'django' not in sys.modules, 'zerg ship imported Django'\n"
    "sys.exit(code)\n",
]


@pytest.fixture
def env(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    environment = base_env(tmp_path / "zerg-home", HOME=str(home))
    for name in ("CLAUDE_CONFIG_DIR", "CODEX_HOME"):
        environment.pop(name, None)
    return environment


@pytest.fixture
def fake():
    server = FakeIngest().start()
    yield server
    server.stop()


def zerg(env, *args, timeout=120):
    return subprocess.run([*ZERG, *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_connect_with_a_wrong_token_is_a_one_line_error(env, fake):
    done = zerg(env, "connect", fake.url, "--token", "wrong")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("zerg: the server refused the token: HTTP 401")
    assert not (Path(env["ZERG_HOME"]) / "shipper.db").exists() or "wrong" not in (
        Path(env["ZERG_HOME"]) / "shipper.db"
    ).read_bytes().decode("latin-1")


def test_connect_to_nothing_is_a_one_line_error(env):
    done = zerg(env, "connect", "http://127.0.0.1:9", "--token", "t")
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0
    assert "cannot reach the server" in done.stderr


def test_ship_before_connect_says_what_to_do(env):
    done = zerg(env, "ship", "--once")
    assert done.returncode != 0
    assert "zerg connect" in done.stderr


def test_connect_then_ship_once_ships_the_fixtures(env, fake):
    files = lay_out_home(env["HOME"])
    done = zerg(env, "connect", fake.url, "--token", fake.token, "--device", "my-laptop")
    assert done.returncode == 0, done.stderr
    # connect verified the token with a zero-file ingest
    assert fake.requests[0]["document"] == {"device": "my-laptop", "files": []}
    done = zerg(env, "ship", "--once")
    assert done.returncode == 0, done.stderr
    assert "shipped" in done.stdout
    assert not fake.conflicts
    for path in files:
        assert bytes(fake.store.get((str(path), 0), b"")) == path.read_bytes()
    assert {r["document"]["device"] for r in fake.requests} == {"my-laptop"}


def test_sigkill_after_the_server_stored_a_batch_loses_nothing(env, fake):
    files = lay_out_home(env["HOME"])
    assert zerg(env, "connect", fake.url, "--token", fake.token).returncode == 0
    fake.plan = [("ok",), ("store_then_hang",)]
    process = subprocess.Popen([*ZERG, "ship", "--once"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert fake.hanging.wait(60), "the shipper never sent a second batch"
        os.kill(process.pid, signal.SIGKILL)  # stored on the server, ack never saved
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    fake.release.set()
    requests = fake.ingest_requests()
    assert len(requests) == 2
    lost = sum(len(f["data"].encode()) for f in requests[1]["document"]["files"])
    received = sum(len(d) for _, _, _, d in fake.chunks)

    done = zerg(env, "ship", "--once")
    assert done.returncode == 0, done.stderr
    assert not fake.conflicts
    resent = sum(len(d) for _, _, _, d in fake.chunks) - received
    total = sum(p.stat().st_size for p in files)
    assert received + resent - lost == total  # only the unacknowledged batch went twice
    for path in files:
        assert bytes(fake.store.get((str(path), 0), b"")) == path.read_bytes()


def test_ship_once_with_the_server_gone_exits_non_zero_keeping_pointers(env, fake):
    home = Path(env["HOME"])
    folder = home / ".claude" / "projects" / "p"
    folder.mkdir(parents=True)
    (folder / "s.jsonl").write_text('{"type":"user"}\n')
    assert zerg(env, "connect", fake.url, "--token", fake.token).returncode == 0
    fake.plan = [("status", 503, {"Retry-After": "0"})] * 10
    done = zerg(env, "ship", "--once")
    assert done.returncode != 0
    assert "1 files wait in the spool" in done.stderr
    fake.plan = []
    done = zerg(env, "ship", "--once")
    assert done.returncode == 0, done.stderr
    assert bytes(fake.store[(str(folder / "s.jsonl"), 0)]) == b'{"type":"user"}\n'


def test_install_writes_a_systemd_user_unit(env):
    done = zerg(env, "ship", "--install")
    assert done.returncode == 0, done.stderr
    unit = Path(env["HOME"]) / ".config" / "systemd" / "user" / "zerg-ship.service"
    text = unit.read_text()
    assert "ExecStart=" in text and " ship" in text
    assert f"ZERG_HOME={env['ZERG_HOME']}" in text
    assert "systemctl --user enable --now zerg-ship.service" in done.stdout


def test_install_on_macos_writes_a_launchd_agent(tmp_path, monkeypatch):
    from agents_ingest.shipper import service

    monkeypatch.setenv("HOME", str(tmp_path))
    path, how = service.install(platform="darwin")
    assert path == tmp_path / "Library" / "LaunchAgents" / "com.zerg.ship.plist"
    import plistlib

    document = plistlib.loads(path.read_bytes())
    assert document["Label"] == "com.zerg.ship" and document["ProgramArguments"][-1] == "ship"
    assert document["RunAtLoad"] and document["KeepAlive"]
    assert how.startswith("launchctl load -w ")


def test_ship_keeps_watching_until_interrupted(env, fake):
    import time

    folder = Path(env["HOME"]) / ".claude" / "projects" / "p"
    folder.mkdir(parents=True)
    path = folder / "s.jsonl"
    path.write_text('{"type":"user","n":1}\n')
    assert zerg(env, "connect", fake.url, "--token", fake.token).returncode == 0
    process = subprocess.Popen([*ZERG, "ship"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        key = (str(path), 0)
        while time.monotonic() < deadline and bytes(fake.store.get(key, b"")) != path.read_bytes():
            time.sleep(0.05)
        with open(path, "a") as handle:
            handle.write('{"type":"user","n":2}\n')
        while time.monotonic() < deadline and bytes(fake.store.get(key, b"")) != path.read_bytes():
            time.sleep(0.05)
        assert bytes(fake.store.get(key, b"")) == path.read_bytes()
        process.send_signal(signal.SIGINT)
        assert process.wait(15) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "watching" in process.stderr.read()


def test_it_exits_non_zero_from_ship_once_when_the_server_rejects_a_file(env, fake):
    home = Path(env["HOME"])
    folder = home / ".claude" / "projects" / "p"
    folder.mkdir(parents=True)
    good, bad = folder / "good.jsonl", folder / "bad.jsonl"
    good.write_text('{"type":"user"}\n')
    bad.write_text('{"type":"user","n":2}\n')
    assert zerg(env, "connect", fake.url, "--token", fake.token).returncode == 0
    fake.reject_paths = {str(bad)}
    done = zerg(env, "ship", "--once")
    assert done.returncode == 1, done.stderr
    assert "1 files blocked" in done.stderr and str(bad) in done.stderr
    assert bytes(fake.store[(str(good), 0)]) == good.read_bytes()  # the others still arrive
    fake.reject_paths = set()
