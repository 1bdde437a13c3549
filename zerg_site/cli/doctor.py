"""``zerg doctor [--json]``: check the installation and say what to fix.

Each check returns ok, warn (works, but something is missing) or fail; any fail makes
the exit code 1. A check that crashes is a fail with its error, never a traceback, so
the doctor still answers when the database does not. It runs where the server runs:
PATH and config are this shell's, which may differ from a service manager's.
"""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import sqlite3
import stat
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from zerg_site.cli.common import load_config, print_json

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
MIN_PYTHON = (3, 11)
MIN_SQLITE = (3, 35, 0)  # RETURNING, used by the job claims
MIN_POSTGRES = 120000  # generated columns, used by the search index
WAL_LIMIT_BYTES = 256 * 1024 * 1024  # a WAL this big means checkpoints do not keep up
WAL_BACKLOG_FRAMES = 20_000  # ~80 MB of frames a passive checkpoint could not copy back
MIN_FREE_BYTES = 1024 * 1024 * 1024  # room for the WAL, a backup, a few clones


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


def add_parser(sub) -> None:
    parser = sub.add_parser("doctor", help="check the installation and say what to fix")
    parser.add_argument("--json", action="store_true", help="machine-readable output (stable)")
    parser.set_defaults(run=run)


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def check_versions(cfg) -> Check:
    import django
    from django.db import connection

    parts = [f"Python {platform.python_version()}", f"Django {django.get_version()}"]
    problems, fixes = [], []
    if sys.version_info[:2] < MIN_PYTHON:
        problems.append("Python is older than 3.11")
        fixes.append("install Python 3.11 or newer and reinstall zerg with it")
    if connection.vendor == "sqlite":
        parts.append(f"SQLite {sqlite3.sqlite_version}")
        if version_tuple(sqlite3.sqlite_version) < MIN_SQLITE:
            problems.append(f"SQLite {sqlite3.sqlite_version} is older than 3.35")
            fixes.append("use a Python built against SQLite 3.35 or newer (e.g. from python.org or a newer distro)")
        probe = sqlite3.connect(":memory:")
        try:
            probe.execute("CREATE VIRTUAL TABLE probe USING fts5(text)")
        except sqlite3.Error:
            problems.append("this SQLite library has no FTS5 (Timeline search)")
            fixes.append("use a Python whose SQLite is built with FTS5")
        finally:
            probe.close()
    else:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version_num")
            number = int(cursor.fetchone()[0])
        parts.append(f"PostgreSQL {number // 10000}.{number % 10000}")
        if number < MIN_POSTGRES:
            problems.append("PostgreSQL is older than 12")
            fixes.append("upgrade the PostgreSQL server to 12 or newer")
    detail = ", ".join(parts) + ("; " + "; ".join(problems) if problems else "")
    return Check("versions", FAIL if problems else OK, detail, "; ".join(fixes))


def check_database(cfg) -> Check:
    """SQLite: quick_check on the file, read-only. Postgres: the server answers."""
    from django.db import connection

    if cfg.sqlite_path is None:
        connection.ensure_connection()
        return Check("database", OK, f"{cfg.database_label} answers")
    path = cfg.sqlite_path
    if not path.exists():
        return Check("database", FAIL, f"there is no database at {path}", "start `zerg serve` once: it creates it")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        verdict = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.OperationalError:  # locked, unreadable: "could not check", not "damaged"
        raise
    except sqlite3.DatabaseError as exc:  # damage quick_check itself cannot get past
        verdict = [str(exc)]
    finally:
        conn.close()
    if verdict == ["ok"]:
        return Check("database", OK, f"{path}: quick_check ok ({path.stat().st_size // 1024} KB)")
    return Check(
        "database",
        FAIL,
        f"{path} is damaged: {'; '.join(verdict[:5])}",
        "stop zerg serve and `zerg restore` your latest backup (the damaged file is kept aside); "
        "or try `sqlite3 zerg.db .recover` on a copy",
    )


def check_migrations(cfg) -> Check:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if not pending:
        return Check("migrations", OK, "all applied")
    names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending[:5])
    return Check(
        "migrations",
        FAIL,
        f"{len(pending)} not applied ({names})",
        "start `zerg serve` (it applies them) or run `python manage.py migrate`",
    )


def check_wal(cfg) -> Check:
    if cfg.sqlite_path is None:
        return Check("wal", SKIP, "PostgreSQL: no SQLite write-ahead log")
    wal = Path(f"{cfg.sqlite_path}-wal")
    size = wal.stat().st_size if wal.exists() else 0
    busy = frames = done = 0
    if cfg.sqlite_path.exists():
        conn = sqlite3.connect(str(cfg.sqlite_path), timeout=30, isolation_level=None)
        try:  # what SQLite does on its own after commits: copy back what no reader still needs
            busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            conn.close()
    backlog = max(frames - done, 0)
    detail = f"WAL {size / 1048576:.1f} MB, {backlog} frames waiting for a checkpoint"
    if size > WAL_LIMIT_BYTES or backlog > WAL_BACKLOG_FRAMES:
        return Check(
            "wal",
            FAIL,
            detail + " (checkpoints do not keep up)",
            "run `python manage.py checkpoint_wal`; if the WAL stays big, a long-lived reader holds it: "
            "restart zerg serve",
        )
    return Check("wal", OK, detail)


def check_disk(cfg) -> Check:
    usage = shutil.disk_usage(cfg.home)
    detail = f"{usage.free / 1073741824:.1f} GB free of {usage.total / 1073741824:.1f} GB in {cfg.home}"
    if usage.free < MIN_FREE_BYTES:
        return Check(
            "disk",
            FAIL,
            detail,
            "free some space: `python manage.py prune_workspaces`, `prune_events`, old backups and logs",
        )
    return Check("disk", OK, detail)


def check_worker(cfg) -> Check:
    from zerg_site.models import ProcessHeartbeat

    live = list(ProcessHeartbeat.live(ProcessHeartbeat.WORKER))
    if live:
        names = ", ".join(f"pid {w.pid} on {w.host}" for w in live)
        return Check("worker", OK, f"{len(live)} worker cluster(s) alive: {names}")
    return Check(
        "worker",
        FAIL,
        "no worker cluster has sent a heartbeat recently: commis jobs and schedules wait",
        "start `zerg serve` (it runs one), or `zerg worker`; see $ZERG_HOME/logs/zerg.log",
    )


def check_clis(cfg) -> list[Check]:
    from commis.backends import BackendUnavailable, get_backend

    checks = []
    git = shutil.which("git")
    checks.append(
        Check("git", OK, git)
        if git
        else Check(
            "git", FAIL, "git is not on PATH: jobs with --repo cannot clone", "install git (e.g. apt install git)"
        )
    )
    for name in ("claude", "codex"):
        try:
            found = get_backend(name).find_binary()
        except BackendUnavailable as exc:
            checks.append(
                Check(
                    name,
                    WARN,
                    f"the {name} backend cannot run: {exc}",
                    f"install the {name} CLI on the server's PATH, or set "
                    f"ZERG_{name.upper()}_BIN; other backends still work",
                )
            )
        else:
            checks.append(Check(name, OK, found))
    return checks


def check_model(cfg) -> Check:
    if cfg.anthropic_api_key:
        provider = "Anthropic"
    elif cfg.openai_api_key or cfg.openai_base_url:
        provider = f"OpenAI-compatible ({cfg.openai_base_url or 'api.openai.com'})"
    else:
        return Check(
            "model",
            FAIL,
            "no LLM is configured: Oikos and the agent backend cannot run",
            f"set [llm] anthropic_api_key in {cfg.config_file} (or ANTHROPIC_API_KEY), or "
            "openai_api_key / openai_base_url for an OpenAI-compatible server",
        )
    return Check("model", OK, f"{provider}, model {cfg.model or 'the default'}")


def key_problem(name: str, exc: Exception) -> Check:
    """A damaged key file's one-line message, split into what is wrong and what to do."""
    detail, _, fix = str(exc).partition(". ")
    return Check(name, FAIL, detail, fix[:1].lower() + fix[1:])


def check_secret_key(cfg) -> Check:
    from zerg_site import private_files

    path = cfg.secret_key_file
    if not path.exists():
        return Check("secret_key", FAIL, f"{path} is missing", "start `zerg serve` once: it creates it")
    try:
        private_files.read_key(path)
    except private_files.KeyFileError as exc:
        return key_problem("secret_key", exc)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return Check("secret_key", FAIL, f"{path} has mode {mode:o}: other users can read it", f"chmod 600 {path}")
    return Check("secret_key", OK, f"{path} mode {mode:o}")


def check_home(cfg) -> Check:
    """ZERG_HOME itself: no group or other access (everything in it is the owner's alone)."""
    mode = stat.S_IMODE(cfg.home.stat().st_mode)
    if mode & 0o077:
        return Check(
            "home",
            FAIL,
            f"{cfg.home} has mode {mode:o}: other users can look inside",
            f"chmod 700 {shlex.quote(str(cfg.home))}",
        )
    return Check("home", OK, f"{cfg.home} mode {mode:o}")


def private_paths(cfg) -> list[Path]:
    """The database files and the push key: the owner's alone, wherever the database lives."""
    from zerg_site import private_files

    paths = [cfg.home / name for name in private_files.PRIVATE_FILES if name != "secret_key"]
    if cfg.sqlite_path is not None and cfg.sqlite_path.parent != cfg.home:
        paths += [Path(f"{cfg.sqlite_path}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")]
    return paths


def check_file_modes(cfg) -> Check:
    loose = []
    for path in private_paths(cfg):
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) & 0o077:
            loose.append((path, stat.S_IMODE(info.st_mode)))
    if loose:
        names = ", ".join(f"{path.name} {mode:o}" for path, mode in loose)
        return Check(
            "file_modes",
            FAIL,
            f"other users can read {names}",
            "chmod 600 " + " ".join(shlex.quote(str(path)) for path, _ in loose),
        )
    return Check("file_modes", OK, "the database and key files are the owner's alone")


def check_push_key(cfg) -> Check:
    from zerg_site.push import vapid

    path = cfg.home / vapid.FILENAME
    try:
        exists = vapid.check(path)
    except vapid.KeyFileError as exc:
        return key_problem("push_key", exc)
    if not exists:
        return Check("push_key", OK, f"{path} is made when a device first turns on notifications")
    return Check("push_key", OK, f"{path} holds a key")


# The modes come before anything here opens the database (that makes a -wal and -shm with its mode).
CHECKS = (
    check_versions,
    check_home,
    check_file_modes,
    check_database,
    check_migrations,
    check_wal,
    check_disk,
    check_worker,
    check_clis,
    check_model,
    check_secret_key,
    check_push_key,
)
NEED_DATABASE = (check_migrations, check_worker)


def run_checks(cfg) -> list[Check]:
    results: list[Check] = []
    missing = cfg.sqlite_path is not None and not cfg.sqlite_path.exists()
    for check in CHECKS:
        name = check.__name__.removeprefix("check_")
        if missing and check in NEED_DATABASE:  # opening it would create an empty file
            results.append(Check(name, SKIP, "no database yet"))
            continue
        try:
            outcome = check(cfg)
        except Exception as exc:  # noqa: BLE001 - a broken check is a finding, not a crash
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            outcome = Check(name, FAIL, f"could not check: {first}", "see the message; is the database reachable?")
        results.extend(outcome if isinstance(outcome, list) else [outcome])
    return results


def run(args) -> int:
    cfg = load_config(keys=False, tighten=False)  # a damaged key file or loose mode is a finding, not an exit
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zerg_site.settings")
    import django

    django.setup()  # not setup_django(): an unreachable database is a finding here, not an exit
    checks = run_checks(cfg)
    healthy = all(check.status != FAIL for check in checks)
    if args.json:
        print_json({"ok": healthy, "checks": [asdict(check) for check in checks]})
    else:
        for check in checks:
            print(f"{check.status.upper():5} {check.name:11} {check.detail}")
            if check.fix and check.status in (FAIL, WARN):
                print(f"{'':17} fix: {check.fix}")
        print("all checks passed" if healthy else "some checks failed: see the fixes above")
    return 0 if healthy else 1
