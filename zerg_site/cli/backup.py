"""``zerg backup PATH`` and ``zerg restore PATH``: copies of the SQLite database.

A backup is taken online, while the server writes: SQLite's backup API copies the
database in one step from a single read transaction, which in WAL mode is a consistent
snapshot that never blocks writers. The copy is written beside PATH, checked with
``quick_check`` and only then moved into place, so PATH never holds half a backup.
The agent backend's ``$ZERG_HOME/checkpoints.db`` goes beside it as
``<name>.checkpoints<suffix>``, and the server's keys (``secret_key``, and
``vapid_private.pem``: phones' push subscriptions are bound to its public key) as
``<name>.<key file>`` (mode 0600), so a restore on a new machine keeps logins, login links
and notifications working.

Restore puts a backup back while no server runs: job ids restart from the backup's, so
the current database, its checkpoints and the workspaces of jobs the backup does not
know are kept aside (``*.before-restore-<time>``), never deleted.

Postgres has its own tools (pg_dump / pg_restore); these commands say so and exit 2.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import sys
import time
from pathlib import Path

from zerg_site import private_files
from zerg_site.cli.common import CommandError, die, load_config
from zerg_site.cli.serve import acquire_lock

# Tables every Zerg database has (from the first migrations of its core apps).
EXPECTED_TABLES = ("django_migrations", "auth_user", "zerg_site_event", "zerg_site_processheartbeat")
SQLITE_MAGIC = b"SQLite format 3\x00"
POSTGRES_BACKUP = (
    'the database is PostgreSQL: back it up with pg_dump (e.g. `pg_dump -Fc -f zerg.dump "$DATABASE_URL"`) '
    "and restore with pg_restore; zerg backup/restore handle SQLite only"
)


def add_parser(sub) -> None:
    parser = sub.add_parser("backup", help="copy the SQLite database (safe while the server runs)")
    parser.add_argument("path", help="file to write, e.g. ~/zerg-backups/zerg-2026-01-31.db")
    parser.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    parser.set_defaults(run=run_backup)
    parser = sub.add_parser("restore", help="put a backup made by `zerg backup` back (server stopped)")
    parser.add_argument("path", help="a file written by zerg backup")
    parser.set_defaults(run=run_restore)


def checkpoints_sibling(path: Path) -> Path:
    """Where the agent checkpoints travel with a backup: zerg.db -> zerg.checkpoints.db."""
    return path.with_name(f"{path.stem}.checkpoints{path.suffix or '.db'}")


KEY_FILES = ("secret_key", "vapid_private.pem")  # zerg_site.config.secret_key, zerg_site.push.vapid


def key_sibling(path: Path, name: str) -> Path:
    """Where a key file travels with a backup: zerg.db -> zerg.vapid_private.pem."""
    return path.with_name(f"{path.stem}.{name}")


def copy_key(source: Path, target: Path) -> None:
    """Copy a key file, readable by its owner only, through a temporary name (never half written)."""
    private_files.replace(target, source.read_bytes())


def sqlite_paths(cfg) -> tuple[Path, Path]:
    """(the database, the agent checkpoints database), or exit 2 on Postgres."""
    if cfg.sqlite_path is None:
        die(POSTGRES_BACKUP, code=2)
    return cfg.sqlite_path, cfg.home / "checkpoints.db"


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of ``source`` (its WAL included) at ``target``, in rollback mode.

    The copy leaves WAL mode so it is one self-contained file; the server switches it
    back on when it opens a restored database.
    """
    # 0600 before the first page lands (the copy holds live login sessions); its journal follows its mode
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    os.chmod(target, 0o600)
    src = connect(source)
    try:
        dst = sqlite3.connect(str(target), isolation_level=None)
        try:
            src.backup(dst)  # pages=-1: one step, one read transaction, one snapshot
            dst.execute("PRAGMA journal_mode=DELETE")
            verdict = dst.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            dst.close()
    finally:
        src.close()
    if verdict != "ok":
        raise sqlite3.DatabaseError(f"the copy failed its integrity check: {verdict}")


def writable_target(path: Path, force: bool) -> None:
    if path.is_dir():
        die(f"{path} is a directory; give a file name, e.g. {path / 'zerg-backup.db'}")
    if path.exists() and not force:
        die(f"{path} already exists; pass --force to overwrite it")
    if not path.parent.is_dir():
        die(f"cannot write {path}: the directory {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        die(f"cannot write {path}: no permission to write in {path.parent}")


def place(tmp: Path, path: Path, force: bool) -> None:
    """Move a finished copy into place; without --force never replace a file that appeared meanwhile."""
    if force:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        die(f"{path} already exists; pass --force to overwrite it")
    finally:
        tmp.unlink(missing_ok=True)


def run_backup(args) -> int:
    cfg = load_config(keys=False)  # a damaged key file must not stop a backup of the database
    database, checkpoints = sqlite_paths(cfg)
    if not database.exists():
        die(f"there is no database at {database} yet: nothing to back up")
    path = Path(args.path).expanduser().absolute()
    jobs = [(database, path)]
    if checkpoints.exists():
        jobs.append((checkpoints, checkpoints_sibling(path)))
    for _, target in jobs:
        writable_target(target, args.force)
    for source, target in jobs:
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        try:
            copy_database(source, tmp)
            place(tmp, target, args.force)
        except (sqlite3.Error, OSError) as exc:
            die(f"backup of {source} to {target} failed: {exc}")
        finally:
            tmp.unlink(missing_ok=True)
        print(f"backed up {source} to {target} ({target.stat().st_size} bytes)")
    for name in KEY_FILES:
        if (cfg.home / name).exists():
            try:
                private_files.read_key(cfg.home / name)
            except private_files.KeyFileError as exc:  # an older backup holds a good copy: keep that
                print(f"zerg: not backed up: {exc}", file=sys.stderr)
                continue
            try:
                copy_key(cfg.home / name, key_sibling(path, name))
            except OSError as exc:
                die(f"backup of {cfg.home / name} failed: {exc}")
            print(f"backed up {cfg.home / name} to {key_sibling(path, name)} (keep it private)")
    return 0


# --- restore


def check_backup(path: Path, required: tuple[str, ...]) -> None:
    """Exit with a clear message unless ``path`` is a sound SQLite database with ``required`` tables."""
    if not path.is_file():
        die(f"{path} does not exist or is not a file")
    with open(path, "rb") as handle:
        if handle.read(16) != SQLITE_MAGIC:
            die(f"{path} is not a SQLite database")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        die(f"{path} cannot be read as a SQLite database: {exc}")
    if verdict != "ok":
        die(f"{path} fails SQLite's integrity check: {verdict}")
    missing = [name for name in required if name not in tables]
    if missing:
        die(f"{path} is not a Zerg database (no table {', '.join(missing)})")


def hold_serve_lock(cfg):
    """Take the lock ``zerg serve`` holds for its lifetime: that proves no server runs, and
    holding it keeps one from starting during the restore."""
    try:
        return acquire_lock(cfg)
    except CommandError as exc:
        die(f"{exc}; stop it before restoring")


def running_workers(database: Path) -> list[str]:
    """Zerg processes on this host that the current database says are running (a lone `zerg worker`)."""
    from zerg_site.heartbeat import pid_alive

    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
        try:
            rows = conn.execute(
                "SELECT kind, pid FROM zerg_site_processheartbeat WHERE stopped_at IS NULL AND host = ?",
                (socket.gethostname(),),
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []
    return [f"{kind} pid {pid}" for kind, pid in rows if pid != os.getpid() and pid_alive(pid)]


def set_aside(database: Path, stamp: str) -> Path | None:
    """Checkpoint ``database`` into its main file, then rename it (and any leftover WAL) aside."""
    if not database.exists():
        return None
    conn = connect(database)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()  # the last connection to close removes -wal and -shm
    aside = database.with_name(f"{database.name}.before-restore-{stamp}")
    os.rename(database, aside)
    wal = Path(f"{database}-wal")
    if wal.exists() and wal.stat().st_size:
        os.rename(wal, f"{aside}-wal")  # SQLite finds it by that name when the aside copy is opened
    for stale in (wal, Path(f"{database}-shm")):
        stale.unlink(missing_ok=True)
    return aside


def job_ids(database: Path) -> set[int] | None:
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            return {row[0] for row in conn.execute("SELECT id FROM commis_job")}
        finally:
            conn.close()
    except sqlite3.Error:
        return None  # no commis tables in that backup


def set_aside_workspaces(cfg, known: set[int] | None, stamp: str) -> list[str]:
    """Workspaces of jobs the restored database does not know would collide with new jobs of the same id."""
    root = cfg.home / "workspaces"
    if known is None or not root.is_dir():
        return []
    strays = [entry for entry in root.iterdir() if entry.name.isdigit() and int(entry.name) not in known]
    if not strays:
        return []
    aside = cfg.home / f"workspaces.before-restore-{stamp}"
    aside.mkdir(mode=0o700, exist_ok=True)
    for entry in strays:
        shutil.move(str(entry), str(aside / entry.name))
    return [entry.name for entry in strays]


def swap_in(tmp: Path, database: Path, stamp: str) -> Path | None:
    """Set the current ``database`` aside and move the prepared copy ``tmp`` into its place."""
    aside = set_aside(database, stamp)
    try:
        os.replace(tmp, database)
    except OSError:
        if aside is not None:  # put the previous database back rather than leave none
            os.replace(aside, database)
        raise
    return aside


def restore_keys(cfg, backup: Path, stamp: str) -> list[tuple[str, Path | None]]:
    """Put back the key files saved with the backup; a different current one is kept aside."""
    restored = []
    for name in KEY_FILES:
        saved, live = key_sibling(backup, name), cfg.home / name
        if not saved.exists():
            continue
        aside = None
        if live.exists() and live.read_bytes() != saved.read_bytes():
            aside = live.with_name(f"{name}.before-restore-{stamp}")
            os.replace(live, aside)
        copy_key(saved, live)
        restored.append((name, aside))
    return restored


def run_restore(args) -> int:
    cfg = load_config(keys=False)  # restoring is how a damaged key file is repaired
    database, checkpoints = sqlite_paths(cfg)
    backup = Path(args.path).expanduser().absolute()
    if backup in (database, checkpoints):
        die(f"{backup} is the live database; restore from a copy made by zerg backup")
    check_backup(backup, EXPECTED_TABLES)
    saved_checkpoints = checkpoints_sibling(backup)
    if saved_checkpoints.exists():
        check_backup(saved_checkpoints, ())
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zerg_site.settings")
    django.setup()  # for zerg_site.heartbeat; nothing here opens a Django connection
    from agents_ingest.identity import rotate_sqlite

    lock = hold_serve_lock(cfg)
    try:
        busy = running_workers(database) if database.exists() else []
        if busy:
            die(f"zerg processes still use {database} ({', '.join(busy)}); stop them before restoring")
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        tmp = database.with_name(f".{database.name}.restore-{os.getpid()}")
        tmp_checkpoints = checkpoints.with_name(f".{checkpoints.name}.restore-{os.getpid()}")
        try:  # the slow part first, beside the targets: copies that can fail without harm
            copy_database(backup, tmp)
            # Shippers that see the new id check what the server still holds of each file they shipped.
            rotate_sqlite(tmp)
            if saved_checkpoints.exists():
                copy_database(saved_checkpoints, tmp_checkpoints)
            aside = swap_in(tmp, database, stamp)
            if saved_checkpoints.exists():
                checkpoints_aside = swap_in(tmp_checkpoints, checkpoints, stamp)
            else:  # checkpoints of jobs the backup does not know must not resume under reused ids
                checkpoints_aside = set_aside(checkpoints, stamp)
            moved = set_aside_workspaces(cfg, job_ids(database), stamp)
            keys = restore_keys(cfg, backup, stamp)
        except (sqlite3.Error, OSError) as exc:
            die(f"restore failed: {exc}")
        finally:
            tmp.unlink(missing_ok=True)
            tmp_checkpoints.unlink(missing_ok=True)
    finally:
        lock.close()
    print(f"restored {backup} into {database}")
    if aside:
        print(f"  the previous database is kept at {aside}")
    if checkpoints_aside:
        print(f"  the previous agent checkpoints are kept at {checkpoints_aside}")
    if saved_checkpoints.exists():
        print(f"  agent checkpoints restored from {saved_checkpoints}")
    if moved:
        print(
            f"  workspaces of {len(moved)} jobs the backup does not know moved to "
            f"{cfg.home / f'workspaces.before-restore-{stamp}'}"
        )
    for name, aside_key in keys:
        print(f"  {name} restored" + (f" (the previous one is kept at {aside_key})" if aside_key else ""))
    print("  the archive has a new identity: each Shipper re-sends what the backup does not hold")
    print("Start zerg serve: it applies any newer migrations.")
    return 0
