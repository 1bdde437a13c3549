"""``zerg ship --install``: run ``zerg ship`` at login (systemd user unit or launchd agent)."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from zerg_site import service_units

from .sources import home

LABEL = "com.zerg.ship"
PASSED_ENV = ("ZERG_HOME", "CLAUDE_CONFIG_DIR", "CODEX_HOME")


def zerg_command() -> list[str]:
    """How to start ``zerg ship`` from a service manager (absolute paths, no PATH lookup)."""
    return service_units.zerg_command("ship")


def _env() -> dict[str, str]:
    return {name: os.environ[name] for name in PASSED_ENV if os.environ.get(name)}


def systemd_unit() -> str:
    return service_units.systemd_unit(
        "Zerg Shipper: ship local agent sessions to a Zerg server",
        zerg_command(),
        _env(),
        restart="always",
        wanted_by="default.target",
    )


def launchd_plist() -> str:
    logs = home() / "Library" / "Logs" / "zerg-ship.log"
    return service_units.launchd_plist(LABEL, zerg_command(), _env(), logs)


def install(platform: str | None = None) -> tuple[Path, str]:
    """Write the unit for this platform; (its path, how to enable it)."""
    platform = platform or sys.platform
    if platform == "darwin":
        path = service_units.launch_agents_dir(home()) / f"{LABEL}.plist"
        text = launchd_plist()
        how = f"launchctl load -w {shlex.quote(str(path))}"
    else:
        path = service_units.systemd_user_dir(home()) / "zerg-ship.service"
        text = systemd_unit()
        how = "systemctl --user daemon-reload && systemctl --user enable --now zerg-ship.service"
    service_units.write_file(path, text)
    return path, how
