"""``zerg ship --install``: run ``zerg ship`` at login (systemd user unit or launchd agent)."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path
from xml.sax.saxutils import escape

from .sources import home

LABEL = "com.zerg.ship"
PASSED_ENV = ("ZERG_HOME", "CLAUDE_CONFIG_DIR", "CODEX_HOME")


def zerg_command() -> list[str]:
    """How to start ``zerg ship`` from a service manager (absolute paths, no PATH lookup)."""
    beside = Path(sys.executable).parent / "zerg"
    if beside.exists():
        return [str(beside), "ship"]
    found = shutil.which("zerg")
    if found:
        return [os.path.abspath(found), "ship"]
    return [sys.executable, "-c", "import sys; from zerg_site.cli import main; sys.exit(main())", "ship"]


def _env() -> dict[str, str]:
    return {name: os.environ[name] for name in PASSED_ENV if os.environ.get(name)}


def systemd_unit() -> str:
    env_lines = "".join(
        f"Environment={shlex.quote(f'{key}={value}')}\n" for key, value in _env().items()
    )
    return (
        "[Unit]\n"
        "Description=Zerg Shipper: ship local agent sessions to a Zerg server\n"
        "After=network-online.target\n\n"
        "[Service]\n"
        f"ExecStart={shlex.join(zerg_command())}\n"
        f"{env_lines}"
        "Restart=always\n"
        "RestartSec=10\n\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def launchd_plist() -> str:
    args = "".join(f"    <string>{escape(arg)}</string>\n" for arg in zerg_command())
    env = "".join(
        f"    <key>{escape(k)}</key><string>{escape(v)}</string>\n" for k, v in _env().items()
    )
    logs = home() / "Library" / "Logs" / "zerg-ship.log"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
        '"http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n'
        '<plist version="1.0">\n<dict>\n'
        f"  <key>Label</key><string>{LABEL}</string>\n"
        f"  <key>ProgramArguments</key>\n  <array>\n{args}  </array>\n"
        + (f"  <key>EnvironmentVariables</key>\n  <dict>\n{env}  </dict>\n" if env else "")
        + "  <key>RunAtLoad</key><true/>\n"
        "  <key>KeepAlive</key><true/>\n"
        f"  <key>StandardOutPath</key><string>{escape(str(logs))}</string>\n"
        f"  <key>StandardErrorPath</key><string>{escape(str(logs))}</string>\n"
        "</dict>\n</plist>\n"
    )


def install(platform: str | None = None) -> tuple[Path, str]:
    """Write the unit for this platform; (its path, how to enable it)."""
    platform = platform or sys.platform
    if platform == "darwin":
        path = home() / "Library" / "LaunchAgents" / f"{LABEL}.plist"
        text = launchd_plist()
        how = f"launchctl load -w {shlex.quote(str(path))}"
    else:
        path = home() / ".config" / "systemd" / "user" / "zerg-ship.service"
        text = systemd_unit()
        how = "systemctl --user daemon-reload && systemctl --user enable --now zerg-ship.service"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path, how
