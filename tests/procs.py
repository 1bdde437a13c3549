"""Helpers for tests (and benches) that run real ``zerg`` processes.

No Django imports here: the benches use this module outside pytest.

- :func:`free_port` picks a port nobody listens on.
- :func:`database_env` gives each run its own database: a fresh Postgres database on
  the server named by ``DATABASE_URL`` when the suite runs on Postgres (dropped
  afterwards), else nothing (SQLite in ``ZERG_HOME``).
- :func:`base_env` is the environment a child ``zerg`` gets: ours, minus any ZERG_* or
  DATABASE_URL that could leak in, plus ``ZERG_HOME``.
- :class:`ZergServer` starts ``zerg serve``, waits for ``/api/health``, stops it and
  finds its descendants through ``/proc``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent


# --- ports and environments


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def base_env(home: Path | str, **extra: str) -> dict[str, str]:
    """Our environment for a child ``zerg``: no inherited ZERG_*/DATABASE_URL, our ZERG_HOME."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("ZERG_") or k in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE"))
    }
    env["ZERG_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def _admin_conninfo(url: str) -> str:
    """The same server, its ``postgres`` maintenance database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))


@contextlib.contextmanager
def database_env(server_url: str | None = None) -> Iterator[dict[str, str]]:
    """Env overrides giving a run its own database.

    With ``DATABASE_URL`` set (the suite's Postgres run): ``CREATE DATABASE
    zerg_proc_<hex>`` on that server, yield ``{"DATABASE_URL": <its url>}``, and drop it
    afterwards (``WITH (FORCE)``, so a leftover connection cannot keep it alive).
    Without it: yield ``{}`` — the processes use SQLite in their ZERG_HOME.
    """
    url = os.environ.get("DATABASE_URL", "") if server_url is None else server_url
    if not url or url.startswith("sqlite"):
        yield {}
        return
    import psycopg

    name = f"zerg_proc_{uuid.uuid4().hex[:12]}"
    admin = _admin_conninfo(url)
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        parts = urlsplit(url)
        yield {"DATABASE_URL": urlunsplit(parts._replace(path="/" + name))}
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- running the CLI


def zerg_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "zerg_site", *args]


def run_zerg(
    args: list[str], env: dict[str, str], input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run one ``zerg`` command to completion, capturing text output."""
    return subprocess.run(
        zerg_command(*args),
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        stdin=None if input is not None else subprocess.DEVNULL,
    )


def create_token(env: dict[str, str]) -> str:
    """A fresh API token's secret, made with ``zerg token create --json``."""
    done = run_zerg(["token", "create", "--json", "--name", "tests"], env)
    if done.returncode != 0:
        raise RuntimeError(f"zerg token create failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout)["token"]


# --- HTTP


def http_json(
    url: str, method: str = "GET", token: str | None = None, body: dict | None = None, timeout: float = 5
) -> tuple[int, dict | None]:
    """(status, decoded JSON body or None); HTTP errors are returned, not raised."""
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


def wait_for(predicate, timeout: float, interval: float = 0.1, message: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; raise TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {message}")
        time.sleep(interval)


# --- processes, through /proc


def _stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, ppid, pgrp, starttime) of a pid, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text.rpartition(")")[2].split()
    # after "pid (comm)": state ppid pgrp session tty_nr tpgid flags minflt cminflt
    # majflt cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime
    return fields[0], int(fields[1]), int(fields[2]), int(fields[19])


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def descendants(root: int) -> list[int]:
    """Every living descendant of ``root`` (not ``root`` itself), found by ppid chains."""
    children: dict[int, list[int]] = {}
    for pid in all_pids():
        info = _stat(pid)
        if info is not None:
            children.setdefault(info[1], []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class ProcRef:
    """A pid pinned to its start time, so a recycled pid is not mistaken for it."""

    def __init__(self, pid: int):
        self.pid = pid
        info = _stat(pid)
        self.starttime = info[3] if info else None
        self.cmdline = cmdline(pid)

    def alive(self) -> bool:
        info = _stat(self.pid)
        return info is not None and info[3] == self.starttime and info[0] not in ("Z", "X")

    def __repr__(self) -> str:
        return f"<pid {self.pid}: {self.cmdline}>"


def snapshot(root: int) -> list[ProcRef]:
    return [ProcRef(pid) for pid in descendants(root)]


def wait_gone(procs: list[ProcRef], timeout: float = 20) -> list[ProcRef]:
    """Wait until none of ``procs`` is alive; return the survivors (empty on success)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in procs if p.alive()]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.1)


def kill_procs(procs: list[ProcRef]) -> None:
    for proc in procs:
        if proc.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(proc.pid, signal.SIGKILL)


# --- zerg serve


class ServerDidNotStart(RuntimeError):
    pass


class ZergServer:
    """One ``zerg serve`` on 127.0.0.1, its output captured to files in ``log_dir``."""

    def __init__(self, env: dict[str, str], log_dir: Path | str, port: int | None = None, args=()):
        self.env = env
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.args = list(args)
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self._known: list[ProcRef] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/events"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def stdout_path(self) -> Path:
        return self.log_dir / "serve.stdout"

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / "serve.stderr"

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def output(self) -> str:
        return f"--- stdout ---\n{self.stdout()}\n--- stderr ---\n{self.stderr()}"

    def launch(self) -> ZergServer:
        """Start the process without waiting for it."""
        command = zerg_command("serve", "--host", "127.0.0.1", "--port", str(self.port), *self.args)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(
                command, env=self.env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=REPO
            )
        return self

    def health(self, timeout: float = 2) -> dict | None:
        """The /api/health document, or None if it does not answer 200."""
        try:
            status, body = http_json(self.url + "/api/health", timeout=timeout)
        except (OSError, urllib.error.URLError):
            return None
        return body if status == 200 else None

    def wait_healthy(self, timeout: float = 60, interval: float = 0.05) -> float:
        """Wait for the first 200 from /api/health; return seconds since launch."""
        deadline = time.monotonic() + timeout
        while True:
            if self.health(timeout=1) is not None:
                return time.monotonic() - self.started_at
            code = self.proc.poll()
            if code is not None:
                raise ServerDidNotStart(f"zerg serve exited with {code} before answering\n{self.output()}")
            if time.monotonic() >= deadline:
                self.kill()
                raise ServerDidNotStart(f"/api/health did not answer within {timeout:.0f}s\n{self.output()}")
            time.sleep(interval)

    def wait_worker(self, timeout: float = 30) -> dict:
        """Wait until /api/health says a worker is alive."""
        try:
            return wait_for(
                lambda: (h := self.health()) and h.get("worker_alive") and h,
                timeout,
                interval=0.2,
                message="worker_alive",
            )
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.output()}") from None

    def start(self, timeout: float = 60) -> ZergServer:
        self.launch()
        self.wait_healthy(timeout)
        return self

    @property
    def login_link(self) -> str | None:
        match = re.search(r"login link \([^)]*\): (\S+)", self.stdout())
        return match.group(1) if match else None

    def descendants(self) -> list[ProcRef]:
        found = snapshot(self.pid)
        self._known.extend(found)
        return found

    def worker_child(self) -> ProcRef | None:
        """The supervised worker cluster (the direct child running ``worker --supervised``)."""
        for pid in descendants(self.pid):
            info = _stat(pid)
            if info and info[1] == self.pid and "worker --supervised" in cmdline(pid):
                return ProcRef(pid)
        return None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` and wait for the serve process to exit; return its exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.descendants()
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL the server and everything it ever started that is still alive."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.descendants()
        kill_procs(self._known)
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        kill_procs(self._known)

    def close(self, grace: float = 5) -> None:
        """Teardown: SIGTERM, a short grace period, then SIGKILL whatever is left."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.stop(signal.SIGTERM, timeout=grace)
        self.kill()
        survivors = wait_gone(self._known, timeout=10)
        kill_procs(survivors)


# --- WebSocket


async def ws_connect(server: ZergServer, token: str):
    """A ``websockets`` client to /ws/events with a bearer token and no Origin."""
    import websockets

    headers = {"Authorization": f"Bearer {token}"}
    try:
        return await websockets.connect(server.ws_url, additional_headers=headers, open_timeout=10)
    except TypeError:  # websockets < 13
        return await websockets.connect(server.ws_url, extra_headers=headers, open_timeout=10)


async def ws_subscribe(ws, topics=("*",), after: int = 0, timeout: float = 10) -> dict:
    """Subscribe and return the ``subscribed`` acknowledgement."""
    import asyncio

    await ws.send(json.dumps({"type": "subscribe", "topics": list(topics), "after": after}))
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message.get("type") == "subscribed":
                return message


async def ws_wait_event(ws, predicate, timeout: float = 10) -> dict:
    """The first event (the inner ``event`` dict) matching ``predicate``."""
    import asyncio

    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message.get("type") == "event" and predicate(message["event"]):
                return message["event"]
