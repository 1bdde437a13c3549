"""Service-manager files for ``zerg serve --install`` and ``zerg ship --install``: one helper for both.

A systemd unit (Linux) or a launchd property list (macOS) that starts ``zerg`` by its absolute
path: a service manager does not read the login shell's PATH, so ``zerg`` must not be looked
up there. No Django here: the Shipper's install runs on a laptop with no server config.

``ZERG_UNIT_DIR`` puts the files somewhere else than the service manager's own directory (the
tests use it; so can an owner who links units in by hand).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path
from xml.sax.saxutils import escape

UNIT_DIR_ENV = "ZERG_UNIT_DIR"


def zerg_command(*args: str) -> list[str]:
    """How a service manager starts ``zerg ARGS``: absolute paths, no PATH lookup."""
    beside = Path(sys.executable).parent / "zerg"
    if beside.exists():
        return [str(beside), *args]
    found = shutil.which("zerg")
    if found:
        return [os.path.abspath(found), *args]
    return [sys.executable, "-c", "import sys; from zerg_site.cli import main; sys.exit(main())", *args]


def systemd_quote(text: str) -> str:
    """One word of an ExecStart= or Environment= line (systemd unquotes as a shell would, minus $)."""
    quoted = shlex.quote(text)
    return quoted.replace("$", "$$")


def systemd_unit(
    description: str,
    command: list[str],
    env: dict[str, str],
    *,
    restart: str,
    wanted_by: str,
    service: tuple[str, ...] = (),
    unit: tuple[str, ...] = (),
) -> str:
    """A ``[Unit]/[Service]/[Install]`` file; ``service`` and ``unit`` add raw lines to their sections."""
    env_lines = "".join(f"Environment={systemd_quote(f'{key}={value}')}\n" for key, value in env.items())
    extra_unit = "".join(f"{line}\n" for line in unit)
    extra_service = "".join(f"{line}\n" for line in service)
    return (
        "[Unit]\n"
        f"Description={description}\n"
        "After=network-online.target\n"
        f"{extra_unit}\n"
        "[Service]\n"
        f"ExecStart={' '.join(systemd_quote(part) for part in command)}\n"
        f"{env_lines}"
        f"{extra_service}"
        f"Restart={restart}\n"
        "RestartSec=10\n\n"
        "[Install]\n"
        f"WantedBy={wanted_by}\n"
    )


def launchd_plist(
    label: str, command: list[str], env: dict[str, str], log: Path, *, keep_alive: bool | str = True
) -> str:
    """A launchd agent: started at load, restarted per ``keep_alive`` (True: always; "failure": on a crash)."""
    args = "".join(f"    <string>{escape(arg)}</string>\n" for arg in command)
    env_xml = "".join(f"    <key>{escape(k)}</key><string>{escape(v)}</string>\n" for k, v in env.items())
    if keep_alive == "failure":
        alive = "  <key>KeepAlive</key>\n  <dict><key>SuccessfulExit</key><false/></dict>\n"
    else:
        alive = f"  <key>KeepAlive</key><{'true' if keep_alive else 'false'}/>\n"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
        '"http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n'
        '<plist version="1.0">\n<dict>\n'
        f"  <key>Label</key><string>{escape(label)}</string>\n"
        f"  <key>ProgramArguments</key>\n  <array>\n{args}  </array>\n"
        + (f"  <key>EnvironmentVariables</key>\n  <dict>\n{env_xml}  </dict>\n" if env else "")
        + "  <key>RunAtLoad</key><true/>\n"
        + alive
        + f"  <key>StandardOutPath</key><string>{escape(str(log))}</string>\n"
        f"  <key>StandardErrorPath</key><string>{escape(str(log))}</string>\n"
        "</dict>\n</plist>\n"
    )


def unit_dir(default: Path) -> Path:
    """Where unit files go: ``$ZERG_UNIT_DIR`` if set, else the service manager's ``default``."""
    override = os.environ.get(UNIT_DIR_ENV, "").strip()
    return Path(override) if override else default


def systemd_user_dir(home: Path) -> Path:
    config = os.environ.get("XDG_CONFIG_HOME", "").strip()
    return unit_dir((Path(config) if config else home / ".config") / "systemd" / "user")


def systemd_system_dir() -> Path:
    return unit_dir(Path("/etc/systemd/system"))


def launch_agents_dir(home: Path) -> Path:
    return unit_dir(home / "Library" / "LaunchAgents")


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` whole or not at all, with ``mode`` (0600 for a file that holds environment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(temporary, mode)
    os.replace(temporary, path)
