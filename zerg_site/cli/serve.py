"""``zerg serve``: daphne (HTTP + WebSocket) in this process, the worker cluster as a child.

The cluster cannot share daphne's process (django-q2 installs signal handlers and
forks), so this process supervises it: restarts it when it dies, and stops its whole
process group on SIGINT/SIGTERM.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from zerg_site.addresses import reachable_urls
from zerg_site.cli import daphne_slim
from zerg_site.cli.common import die, load_config, setup_django


def add_parser(sub) -> None:
    parser = sub.add_parser("serve", help="run the server and its worker cluster")
    parser.add_argument("--host", help="address to listen on (default from config: 0.0.0.0)")
    parser.add_argument("--port", type=int, help="port to listen on (default from config: 8080)")
    parser.add_argument("--no-worker", action="store_true", help="do not start a worker cluster")
    manage = parser.add_mutually_exclusive_group()
    manage.add_argument(
        "--install",
        action="store_true",
        help="run zerg serve at boot with these settings (systemd unit; launchd on macOS)",
    )
    manage.add_argument("--uninstall", action="store_true", help="stop the service and remove its unit")
    parser.set_defaults(run=run)


def acquire_lock(cfg):
    """One ``zerg serve`` per ZERG_HOME: hold an exclusive lock for the process lifetime."""
    path = cfg.home / "locks" / "serve.lock"
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        die(f"another zerg serve is already running with ZERG_HOME={cfg.home} (pid {holder})")
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so a busy port is a clear error, not a log line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            die(f"port {port} on {host} is already in use; pick another with --port or ZERG_PORT")
        die(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    sock.listen(128)
    sock.setblocking(False)
    return sock


def reachable(cfg) -> tuple[list[str], str]:
    """The URLs a phone may open, best first, and why none can when that is so (zerg_site.addresses)."""
    return reachable_urls(cfg.host, cfg.port, cfg.public_url)


def base_url(cfg) -> str:
    """The URL to print: the public URL, else an address a phone on the LAN can open."""
    return reachable(cfg)[0][0]


def login_url(cfg, base: str | None = None) -> str:
    from zerg_site.auth.links import LINK_PATH, create_link_token

    return f"{base or base_url(cfg)}{LINK_PATH}{create_link_token()}"


def print_qr(url: str) -> None:
    import segno  # lazy: +9 MB RSS / 25 ms measured alone, for one QR code at start

    try:
        segno.make(url, error="l").terminal(compact=True)
    except UnicodeEncodeError:  # a terminal that cannot show block characters
        pass


def print_login_notes(link: str, url: str, urls: list[str], unreachable: str) -> None:
    """The same one-use link at this machine's other addresses, or why a phone cannot open it."""
    for other in urls[1:]:
        print(f"    or, where {url} does not answer: {other}{link.removeprefix(url)}")
    if unreachable:
        print(f"  note: {unreachable}")


def print_setup(cfg, owner) -> None:
    """What the owner still has to set up, each with its fix (the doctor's own checks)."""
    from zerg_site.setup_api import missing

    try:
        items = missing(cfg, owner)
    except Exception as exc:  # noqa: BLE001 - a failing check must not stop the server from starting
        print(f"  could not check the setup: {exc}", file=sys.stderr)
        return
    if not items:
        return
    print("Still to set up (`zerg doctor` checks everything):")
    for item in items:
        print(f"  - {item.detail}")
        print(f"    fix: {item.fix}")


class ClusterSupervisor(threading.Thread):
    """Keeps one worker cluster child alive and the server's heartbeat fresh."""

    def __init__(self, command: list[str] | None, heartbeat):
        super().__init__(name="zerg-supervisor", daemon=True)
        self.command = command
        self.heartbeat = heartbeat
        self.child: subprocess.Popen | None = None
        self.stopping = threading.Event()
        self.restarts = 0
        self.started_at = 0.0
        self.backoff = 1.0
        self.next_start = 0.0
        self.last_beat = 0.0

    def spawn(self) -> None:
        # Its own process group, so stopping it reaches the sentinel and every worker.
        self.child = subprocess.Popen(self.command, start_new_session=True)
        self.started_at = time.monotonic()

    def step(self) -> None:
        """One supervision turn: beat, and restart the cluster if it died."""
        from zerg_site.events import publish
        from zerg_site.models import ProcessHeartbeat

        now = time.monotonic()
        if now - self.last_beat >= ProcessHeartbeat.INTERVAL:
            try:
                self.heartbeat.beat()
            except Exception as exc:  # keep serving; the database may come back
                print(f"zerg: heartbeat failed: {exc}", file=sys.stderr)
            self.last_beat = now
        if self.command is None or self.stopping.is_set():
            return
        if self.child is None:
            self.spawn()
            return
        code = self.child.poll()
        if code is None:
            if now - self.started_at > 60:
                self.backoff = 1.0
            return
        if not self.next_start:
            try:  # the cluster's sentinel and workers outlive a SIGKILLed main process: end them
                os.killpg(self.child.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.restarts += 1
            self.next_start = now + self.backoff
            print(
                f"zerg: worker cluster exited with code {code}; restarting in {self.backoff:.0f}s",
                file=sys.stderr,
            )
            try:
                publish("system", "worker.exited", {"code": code, "restart_in": self.backoff})
            except Exception:  # a failing database must not stop the restart
                pass
            self.backoff = min(self.backoff * 2, 30.0)
        elif now >= self.next_start:
            self.next_start = 0.0
            self.spawn()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.step()
            self.stopping.wait(0.5)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the cluster's main process only, then clear its process group.

        A SIGTERM to the whole group would kill the sentinel while the main process
        signals it through a multiprocessing Event, which then blocks forever.
        """
        self.stopping.set()
        child = self.child
        if child is None:
            return
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        try:  # whatever the cluster left behind (it should be nothing)
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def run(args) -> int:
    if args.host:
        os.environ["ZERG_HOST"] = args.host
    if args.port:
        os.environ["ZERG_PORT"] = str(args.port)
    cfg = load_config()
    if args.install or args.uninstall:
        # lazy: its unit writer's xml.sax.saxutils pulls in urllib.request, ~35 modules / ~15 ms
        # that every `zerg` command would pay for --install only
        from zerg_site.cli import service

        return service.install(cfg) if args.install else service.uninstall(cfg)
    lock = acquire_lock(cfg)
    sock = bind_socket(cfg.host, cfg.port)
    setup_django()
    from zerg_site.push import vapid

    try:  # an empty key file (a full disk?) is a start-up error, not a 503 at /api/push/key
        vapid.check()
    except vapid.KeyFileError as exc:
        die(str(exc))

    Server = daphne_slim.daphne_server_class()  # installs the asyncio reactor: import before channels' app
    from django.conf import settings

    from zerg_site.asgi import application
    from zerg_site.auth.owner import ensure_owner
    from zerg_site.heartbeat import Heartbeat, close_dead_local_rows
    from zerg_site.models import ProcessHeartbeat

    owner = ensure_owner()
    # Rows of servers on this host that died without closing them; other web processes
    # sharing a Postgres database (scale-out) keep theirs.
    close_dead_local_rows(ProcessHeartbeat.SERVER)
    from commis.jobs import reclaim_on_start

    reclaim_on_start()  # closes dead workers' rows; their commis jobs run again now
    from oikos.turns import resume_on_start as resume_oikos_turns

    resume_oikos_turns()  # Oikos turns cut off by the last stop or crash continue (in this process)
    from zerg_site.maintenance import ensure_schedules_quietly

    ensure_schedules_quietly()  # prune, checkpoint, optimize: django-q2 schedules (idempotent)
    from timeline import indexer

    indexer.start()  # SQLite: ingests leave full-text indexing to this thread (Postgres: no-op)
    urls, unreachable = reachable(cfg)
    url = urls[0]
    heartbeat = Heartbeat(
        ProcessHeartbeat.SERVER,
        info={"url": url, "urls": urls, "unreachable": unreachable, "home": str(cfg.home), "port": cfg.port},
    )
    heartbeat.start()
    link = login_url(cfg, url)

    worker_command = None if args.no_worker else [sys.executable, "-m", "zerg_site", "worker", "--supervised"]
    supervisor = ClusterSupervisor(worker_command, heartbeat)
    supervisor.start()

    print(f"Zerg is running at {url}  (listening on {cfg.host}:{cfg.port})")
    for other in urls[1:]:
        print(f"  also at {other}")
    print(f"  database: {cfg.database_label}")
    print(f"  commis slots: {cfg.max_concurrent}")
    print(f"  login link (one use, {settings.LOGIN_LINK_TTL // 60} minutes): {link}")
    print_login_notes(link, url, urls, unreachable)
    print_qr(link)
    print_setup(cfg, owner)
    print("Press Ctrl+C to stop.", flush=True)

    # No proxy_forwarded_* options: daphne would believe X-Forwarded-For from any client (its
    # leftmost entry). zerg_site.forwarded reads it, from [server] trusted_proxies only.
    from zerg_site import bodylimit

    domain = ":domain=INET6" if sock.family == socket.AF_INET6 else ""
    server = bodylimit.limited(Server)(
        application=application,
        endpoints=[f"fd:fileno={sock.fileno()}{domain}"],
        signal_handlers=True,
        verbosity=0,
        body_limits=bodylimit.BodyLimits.from_settings(),
    )
    try:
        server.run()
    finally:
        print("zerg: stopping", file=sys.stderr, flush=True)
        supervisor.stop()
        indexer.stop()
        try:
            heartbeat.stop()
        except Exception:
            pass
        lock.close()
    return 0
