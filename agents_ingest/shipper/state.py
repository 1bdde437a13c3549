"""``$ZERG_HOME/shipper.db``: the Shipper's own state on the machine it runs on.

Per file: its provider, generation, the *queued* offset (the end of the range last
handed to the server) and the *acknowledged* offset (what the server said it stored).
Only a server response moves ``acked_offset``; after a crash everything from it on is
read again from the file, so at most the un-acknowledged range is sent twice and
nothing is lost. The rows are the spool: while the server is unreachable the pending
work is a pointer per file (path, generation, acked offset .. end), never a copy of the
data, so the spool is bounded by the number of files.

The database also keeps the server URL, the device token, the device name and the
server's archive identity last seen (``archive_id`` / ``archive_epoch``: ``verify.py``); it is
created with mode 0600 (SQLite gives its -wal/-shm files the same mode).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    path           TEXT PRIMARY KEY,
    provider       TEXT NOT NULL,
    generation     INTEGER NOT NULL DEFAULT 0,
    queued_offset  INTEGER NOT NULL DEFAULT 0,
    acked_offset   INTEGER NOT NULL DEFAULT 0,
    size           INTEGER NOT NULL DEFAULT -1,
    mtime_ns       INTEGER NOT NULL DEFAULT -1,
    head_hash      TEXT,          -- sha256 of the first HEAD_BYTES at ack time
    tail_hash      TEXT,          -- sha256 of the TAIL_BYTES before acked_offset
    doc_hash       TEXT,          -- gemini: sha256 of the whole acknowledged document
    session_cwd    TEXT,
    parent_session TEXT,
    last_error     TEXT
);
"""


def zerg_home() -> Path:
    return Path(os.environ.get("ZERG_HOME") or Path.home() / ".zerg").expanduser().absolute()


def default_path() -> Path:
    return zerg_home() / "shipper.db"


@dataclass
class FileState:
    path: str
    provider: str
    generation: int = 0
    queued_offset: int = 0
    acked_offset: int = 0
    size: int = -1
    mtime_ns: int = -1
    head_hash: str | None = None
    tail_hash: str | None = None
    doc_hash: str | None = None
    session_cwd: str | None = None
    parent_session: str | None = None
    last_error: str | None = None


_FIELDS = list(FileState.__dataclass_fields__)


class State:
    """A small wrapper over shipper.db; every write is its own short transaction."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.path.exists():
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # --- settings (server, token, device)

    def get(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set(self, **values: str) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for key, value in values.items():
                self.db.execute(
                    "INSERT INTO settings(key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )

    # --- files

    def file(self, path: str) -> FileState | None:
        row = self.db.execute(f"SELECT {', '.join(_FIELDS)} FROM files WHERE path = ?", (path,)).fetchone()
        return FileState(*row) if row else None

    def files(self) -> list[FileState]:
        rows = self.db.execute(f"SELECT {', '.join(_FIELDS)} FROM files ORDER BY path").fetchall()
        return [FileState(*row) for row in rows]

    def save(self, fs: FileState) -> None:
        values = [getattr(fs, name) for name in _FIELDS]
        updates = ", ".join(f"{name} = excluded.{name}" for name in _FIELDS[1:])
        self.db.execute(
            f"INSERT INTO files({', '.join(_FIELDS)}) VALUES ({', '.join('?' * len(_FIELDS))}) "
            f"ON CONFLICT(path) DO UPDATE SET {updates}",
            values,
        )

    def spool(self) -> list[tuple[str, int, int, int]]:
        """Pending pointers ``(path, generation, acked_offset, size_seen)``: no data, one per file."""
        return self.db.execute(
            "SELECT path, generation, acked_offset, size FROM files "
            "WHERE size > acked_offset OR queued_offset > acked_offset ORDER BY path"
        ).fetchall()
