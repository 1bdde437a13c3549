"""`zerg serve --install` / `--uninstall`: the unit it writes and the service-manager calls it makes.

The real `zerg` runs as a subprocess; `systemctl` (and `launchctl`) are the fake in
tests/fakes/bin, which records each call, and ZERG_UNIT_DIR points the unit into a temporary
directory. The unit itself is checked by the real `systemd-analyze verify` when it is installed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import plistlib
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.procs import run_zerg

FAKE_BIN = Path(__file__).resolve().parents[1] / "fakes" / "bin"
ROOT = os.geteuid() == 0
SCOPE = [] if ROOT else ["--user"]


@pytest.fixture
def env(zerg_env, tmp_path):
    units = tmp_path / "units"
    return {
        **zerg_env,
        "PATH": f"{FAKE_BIN}:{zerg_env['PATH']}",
        "ZERG_UNIT_DIR": str(units),
        "FAKE_SYSTEMCTL_LOG": str(tmp_path / "systemctl.log"),
        "HOME": str(tmp_path / "home"),
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9/anthropic",
        "ANTHROPIC_API_KEY": 'sk-test "quoted" $HOME',
        "OPENAI_API_KEY": "sk-multi\nline",
    }


def calls(env) -> list[list[str]]:
    path = Path(env["FAKE_SYSTEMCTL_LOG"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def unit(env) -> Path:
    return Path(env["ZERG_UNIT_DIR"]) / "zerg.service"


def test_it_installs_a_systemd_unit_that_starts_this_zerg_with_its_home_host_and_port(env):
    done = run_zerg(["serve", "--install", "--host", "127.0.0.1", "--port", "18471"], env)

    assert done.returncode == 0, done.stderr
    text = unit(env).read_text()
    zerg = Path(sys.executable).parent / "zerg"
    assert f"ExecStart={zerg} serve --host 127.0.0.1 --port 18471\n" in text
    assert f"Environment=ZERG_HOME={env['ZERG_HOME']}\n" in text
    assert f"EnvironmentFile=-{env['ZERG_HOME']}/zerg.env\n" in text
    assert "Restart=on-failure\n" in text and "KillMode=mixed\n" in text
    assert f"WantedBy={'multi-user.target' if ROOT else 'default.target'}\n" in text
    assert calls(env) == [
        ["systemctl", *SCOPE, "daemon-reload"],
        ["systemctl", *SCOPE, "enable", "--now", "zerg.service"],
    ]
    assert "zerg serve now runs as zerg.service" in done.stdout

    env_file = Path(env["ZERG_HOME"]) / "zerg.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    lines = env_file.read_text().splitlines()
    assert "ANTHROPIC_BASE_URL=http://127.0.0.1:9/anthropic" in lines
    assert 'ANTHROPIC_API_KEY="sk-test \\"quoted\\" $HOME"' in lines
    assert f"PATH={env['PATH']}" in lines  # the service finds the same claude, codex and git
    assert not any(line.startswith(("OPENAI_API_KEY=", "ZERG_HOME=", "ZERG_PORT=")) for line in lines)
    assert "ANTHROPIC_API_KEY" in done.stdout and "sk-test" not in done.stdout  # names, never values


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_it_writes_a_unit_that_systemd_itself_accepts(env):
    assert run_zerg(["serve", "--install", "--port", "18471"], env).returncode == 0

    verify = subprocess.run(
        ["systemd-analyze", "verify", *([] if ROOT else ["--user"]), str(unit(env))],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )

    problems = [line for line in verify.stderr.splitlines() if str(unit(env)) in line or "zerg.service" in line]
    assert verify.returncode == 0 and not problems, verify.stderr


def test_it_keeps_an_env_file_the_owner_edited_when_installed_again(env):
    assert run_zerg(["serve", "--install"], env).returncode == 0
    env_file = Path(env["ZERG_HOME"]) / "zerg.env"
    env_file.write_text("ANTHROPIC_API_KEY=edited-by-hand\n")

    done = run_zerg(["serve", "--install", "--port", "9999"], env)

    assert done.returncode == 0, done.stderr
    assert env_file.read_text() == "ANTHROPIC_API_KEY=edited-by-hand\n"
    assert "kept " in done.stdout
    assert "--port 9999\n" in unit(env).read_text()


def test_it_uninstalls_the_unit_and_keeps_the_data(env):
    assert run_zerg(["serve", "--install"], env).returncode == 0
    before = len(calls(env))

    done = run_zerg(["serve", "--uninstall"], env)

    assert done.returncode == 0, done.stderr
    assert not unit(env).exists()
    assert calls(env)[before:] == [
        ["systemctl", *SCOPE, "disable", "--now", "zerg.service"],
        ["systemctl", *SCOPE, "daemon-reload"],
    ]
    assert (Path(env["ZERG_HOME"]) / "zerg.env").exists() and (Path(env["ZERG_HOME"]) / "secret_key").exists()


def test_it_says_there_is_nothing_to_uninstall_when_no_unit_was_installed(env):
    done = run_zerg(["serve", "--uninstall"], env)

    assert done.returncode == 1
    assert "nothing to uninstall" in done.stderr and "Traceback" not in done.stderr
    assert calls(env) == []


def test_it_refuses_to_install_without_systemctl_and_writes_nothing(env, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()

    done = run_zerg(["serve", "--install"], {**env, "PATH": str(empty)})

    assert done.returncode == 1
    assert "systemctl is not on PATH" in done.stderr and "Traceback" not in done.stderr
    assert not unit(env).exists() and not (Path(env["ZERG_HOME"]) / "zerg.env").exists()


def test_it_shows_systemctls_own_error_when_enabling_fails(env):
    done = run_zerg(["serve", "--install"], {**env, "FAKE_SYSTEMCTL_FAIL": "enable"})

    assert done.returncode == 1
    assert "Failed to connect to bus: No medium found" in done.stderr and "Traceback" not in done.stderr
    assert unit(env).exists()  # written, so `systemctl enable` by hand works once the bus is there
    if not ROOT:
        assert "enable-linger" in done.stderr


def test_it_installs_a_launchd_agent_on_macos(tmp_path, monkeypatch, settings):
    from zerg_site.cli import service

    monkeypatch.setenv("PATH", f"{FAKE_BIN}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SYSTEMCTL_LOG", str(tmp_path / "calls.log"))
    monkeypatch.setenv("ZERG_UNIT_DIR", str(tmp_path / "LaunchAgents"))
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/a")
    cfg = dataclasses.replace(settings.ZERG, home=tmp_path / "home", port=18471)
    cfg.home.mkdir()

    assert service.install(cfg, platform="darwin") == 0

    path = tmp_path / "LaunchAgents" / "com.zerg.serve.plist"
    document = plistlib.loads(path.read_bytes())
    assert document["ProgramArguments"][1:] == ["serve", "--host", cfg.host, "--port", "18471"]
    assert document["EnvironmentVariables"]["ZERG_HOME"] == str(cfg.home)
    assert document["EnvironmentVariables"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9/a"
    assert document["KeepAlive"] == {"SuccessfulExit": False} and document["RunAtLoad"] is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    logged = [json.loads(line) for line in (tmp_path / "calls.log").read_text().splitlines()]
    assert logged[-1] == ["launchctl", "load", "-w", str(path)]

    assert service.uninstall(cfg, platform="darwin") == 0
    assert not path.exists()


def test_it_installs_the_readme_caddy_setup_on_loopback_with_the_public_url(env):
    # README, Quick start: ZERG_HOST=127.0.0.1 ZERG_PUBLIC_URL=https://zerg.example.com zerg serve --install
    done = run_zerg(
        ["serve", "--install"], {**env, "ZERG_HOST": "127.0.0.1", "ZERG_PUBLIC_URL": "https://zerg.example.com"}
    )

    assert done.returncode == 0, done.stderr
    assert " serve --host 127.0.0.1 --port 8080\n" in unit(env).read_text()  # Caddy's reverse_proxy 127.0.0.1:8080
    lines = (Path(env["ZERG_HOME"]) / "zerg.env").read_text().splitlines()
    assert "ZERG_PUBLIC_URL=https://zerg.example.com" in lines
