"""``zerg serve --install`` / ``--uninstall``: run the server at boot under systemd (launchd on macOS).

The unit starts ``zerg serve`` by its absolute path with this shell's ZERG_HOME, host and port,
and reads the rest of the environment from ``$ZERG_HOME/zerg.env`` (mode 0600: it may hold API
keys). That file is written once, from the variables Zerg reads that this shell sets (and PATH,
so the service finds the same ``claude``, ``codex`` and ``git``); later installs keep it, since
the owner may have edited it. As root the unit is system-wide (starts at boot); otherwise it is
a user unit (``systemctl --user``), which starts at boot only with lingering on.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from zerg_site import service_units
from zerg_site.cli.common import die

UNIT_NAME = "zerg.service"
LABEL = "com.zerg.serve"
ENV_FILE = "zerg.env"
# Read by the server besides its config settings (commis backends, Oikos, push).
EXTRA_ENV = (
    "PATH",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CODEX_API_KEY",
    "CLAUDE_CONFIG_DIR",
    "CODEX_HOME",
    "ZERG_CLAUDE_BIN",
    "ZERG_CODEX_BIN",
    "ZERG_PUSH_SUBJECT",
)
IN_UNIT = ("ZERG_HOME", "ZERG_HOST", "ZERG_PORT")  # in the unit itself, so the env file cannot contradict it
PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_@%+=:,./~-]*$")


def server_env_names() -> list[str]:
    from zerg_site.config import SETTINGS  # lazy: +7 MB RSS / 20 ms (see cli.common.load_config)

    names = [setting.env for setting in SETTINGS] + list(EXTRA_ENV)
    return [name for name in dict.fromkeys(names) if name not in IN_UNIT]


def env_line(name: str, value: str) -> str | None:
    """``NAME=value`` as systemd's EnvironmentFile reads it; None for a value it cannot hold (a newline)."""
    if "\n" in value or "\r" in value:
        return None
    if PLAIN_VALUE.match(value):
        return f"{name}={value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name}="{escaped}"'


def env_file_text(environ: dict[str, str]) -> tuple[str, list[str]]:
    """(the file, the names written): every variable Zerg reads that ``environ`` sets."""
    lines = [
        "# Environment of the zerg service, read at each start: edit, then restart the service.",
        "# One NAME=value per line (see README, Configuration). Made by `zerg serve --install`.",
    ]
    written = []
    for name in server_env_names():
        value = environ.get(name)
        line = env_line(name, value) if value else None
        if line is not None:
            lines.append(line)
            written.append(name)
    return "\n".join(lines) + "\n", written


def read_env_file(path: Path) -> dict[str, str]:
    """The file's variables, for launchd (which has no EnvironmentFile): values unquoted as written."""
    found = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if not sep or line.lstrip().startswith("#"):
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        found[name.strip()] = value
    return found


def system_wide() -> bool:
    return os.geteuid() == 0


def home_dir() -> Path:
    return Path(os.environ.get("HOME") or Path.home())


def unit_path(platform: str) -> Path:
    if platform == "darwin":
        return service_units.launch_agents_dir(home_dir()) / f"{LABEL}.plist"
    if system_wide():
        return service_units.systemd_system_dir() / UNIT_NAME
    return service_units.systemd_user_dir(home_dir()) / UNIT_NAME


def serve_command(cfg) -> list[str]:
    return service_units.zerg_command("serve", "--host", cfg.host, "--port", str(cfg.port))


def systemd_text(cfg, env_file: Path) -> str:
    return service_units.systemd_unit(
        "Zerg: operations center for coding agents",
        serve_command(cfg),
        {"ZERG_HOME": str(cfg.home)},
        restart="on-failure",
        wanted_by="multi-user.target" if system_wide() else "default.target",
        unit=("Wants=network-online.target",),
        # SIGTERM to zerg serve alone: it stops its worker cluster itself (a SIGTERM to the whole
        # group at once would cut the cluster's own shutdown short); SIGKILL for what is left after.
        service=(f"EnvironmentFile=-{env_file}", f"WorkingDirectory={cfg.home}", "KillMode=mixed", "TimeoutStopSec=40"),
    )


def launchd_text(cfg, env_file: Path) -> str:
    env = {**read_env_file(env_file), "ZERG_HOME": str(cfg.home)}
    return service_units.launchd_plist(
        LABEL, serve_command(cfg), env, cfg.home / "logs" / "service.log", keep_alive="failure"
    )


def manager(platform: str) -> list[str]:
    """The service manager's command, or a one-line error when it is not there."""
    name = "launchctl" if platform == "darwin" else "systemctl"
    found = shutil.which(name)
    if found is None:
        die(
            f"{name} is not on PATH: `zerg serve --install` needs "
            f"{'launchd' if platform == 'darwin' else 'systemd'}. Without it, run `zerg serve` under the "
            "supervisor you have (runit, supervisord, a container's restart policy)"
        )
    if platform == "darwin" or system_wide():
        return [found]
    return [found, "--user"]


def call(command: list[str], allow_failure: bool = False) -> None:
    print("  $ " + shlex.join([Path(command[0]).name, *command[1:]]))
    done = subprocess.run(command, check=False, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0 and not allow_failure:
        reason = (done.stderr or done.stdout).strip().splitlines()
        hint = ""
        if "--user" in command:
            hint = (
                " (no user session bus? log in directly rather than with `su`, or run "
                "`loginctl enable-linger $USER`, or install as root for a system-wide unit)"
            )
        die(
            f"{shlex.join([Path(command[0]).name, *command[1:]])} failed with exit code {done.returncode}: "
            f"{reason[-1] if reason else 'no message'}{hint}"
        )


def install(cfg, platform: str | None = None) -> int:
    platform = platform or sys.platform
    tool = manager(platform)
    env_file = cfg.home / ENV_FILE
    if env_file.exists():
        print(f"kept {env_file} (your edits stay; remove it to have it made again)")
    else:
        text, names = env_file_text(dict(os.environ))
        service_units.write_file(env_file, text, mode=0o600)
        print(f"wrote {env_file} (mode 600) with {', '.join(names) or 'no variables'}")
    path = unit_path(platform)
    if platform == "darwin":
        service_units.write_file(path, launchd_text(cfg, env_file), mode=0o600)  # holds the environment
        print(f"wrote {path}")
        call([*tool, "unload", str(path)], allow_failure=True)  # an older version of it, if loaded
        call([*tool, "load", "-w", str(path)])
        print(f"zerg serve now runs as launchd agent {LABEL}; logs in {cfg.home / 'logs'}")
        return 0
    service_units.write_file(path, systemd_text(cfg, env_file))
    print(f"wrote {path}")
    call([*tool, "daemon-reload"])
    call([*tool, "enable", "--now", UNIT_NAME])
    scope = "" if system_wide() else "--user "
    print(
        f"zerg serve now runs as {UNIT_NAME}: `systemctl {scope}status zerg`, "
        f"`journalctl {scope}-u zerg -f`; it listens on {cfg.host}:{cfg.port}"
    )
    if not system_wide():
        print("  a user unit starts at boot only with lingering on: `loginctl enable-linger $USER`")
    print("  stop `zerg serve` in your terminal if one runs there: the service cannot start beside it")
    return 0


def uninstall(cfg, platform: str | None = None) -> int:
    platform = platform or sys.platform
    tool = manager(platform)
    path = unit_path(platform)
    if not path.exists():
        die(f"there is no {path}: nothing to uninstall", code=1)
    if platform == "darwin":
        call([*tool, "unload", "-w", str(path)], allow_failure=True)
        path.unlink()
    else:
        call([*tool, "disable", "--now", UNIT_NAME], allow_failure=True)  # already stopped: fine
        path.unlink()
        call([*tool, "daemon-reload"])
    print(f"removed {path}; {cfg.home / ENV_FILE} and your data in {cfg.home} stay")
    return 0
