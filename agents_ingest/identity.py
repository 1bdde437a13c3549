"""The archive's identity, as the Shippers see it: ``{"id": <archive id>, "epoch": <n>}``.

Why: a Shipper keeps, per file, the offset the server acknowledged, and sends only what
lies beyond it. A database put back to an earlier state has lost some of what it
acknowledged, and a file that does not grow again would never be sent again. So every
ingest response (and ``GET /api/agents/archive``) tells the Shipper two things:

- ``id``: a random id made at the first migrate and replaced by ``zerg restore``
  (:func:`rotate_sqlite`). Another id than the one the Shipper recorded: a different or
  restored archive.
- ``epoch``: how many ingest requests of this device the database has committed, bumped
  inside each request's own transaction (:func:`advance`), so no acknowledgement exists
  without its epoch. A restore done by other means (Litestream, pg_restore, a copied
  file) keeps the id but takes the epoch back: an ingest response at or below the epoch
  the Shipper last saw, or a GET below it, means acknowledged data may be gone. Only
  this device's own requests move its epoch, so other devices shipping after a restore
  cannot hide it.

Either signal makes the Shipper re-verify (``agents_ingest/shipper/verify.py``).
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from django.db import connection
from django.utils import timezone

IDENTITY = "agents_ingest_archiveidentity"
EPOCHS = "agents_ingest_deviceepoch"


def new_id() -> str:
    return uuid.uuid4().hex


def archive_id() -> str:
    """The archive's id; made now if the row is missing (a flushed test database, a hand-edited one)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT archive_id FROM {IDENTITY} WHERE id = 1")
        row = cursor.fetchone()
        if row is None:
            cursor.execute(
                f"INSERT INTO {IDENTITY} (id, archive_id, created_at) VALUES (1, %s, %s) ON CONFLICT DO NOTHING",
                [new_id(), connection.ops.adapt_datetimefield_value(timezone.now())],
            )
            cursor.execute(f"SELECT archive_id FROM {IDENTITY} WHERE id = 1")
            row = cursor.fetchone()
    return row[0]


def advance(device: str) -> dict:
    """Count one more committed ingest request of ``device``: call inside the request's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {EPOCHS} (device, epoch) VALUES (%s, 1) ON CONFLICT (device) "
            f"DO UPDATE SET epoch = {EPOCHS}.epoch + 1 RETURNING epoch",
            [device],
        )
        epoch = cursor.fetchone()[0]
    return {"id": archive_id(), "epoch": int(epoch)}


def current(device: str) -> dict:
    """What :func:`advance` last returned for ``device`` (epoch 0 if it never shipped here)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT epoch FROM {EPOCHS} WHERE device = %s", [device])
        row = cursor.fetchone()
    return {"id": archive_id(), "epoch": int(row[0]) if row else 0}


def rotate_sqlite(path: Path | str) -> str | None:
    """Give the SQLite database at ``path`` a new archive id (``zerg restore``, before it goes live).

    None if that database predates the table: the server's migrate then makes a new id anyway.
    """
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (IDENTITY,)).fetchone():
            return None
        fresh = new_id()
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(f"DELETE FROM {IDENTITY}")
            conn.execute(
                f"INSERT INTO {IDENTITY} (id, archive_id, created_at) VALUES (1, ?, ?)",
                (fresh, timezone.now().replace(tzinfo=None).isoformat(sep=" ")),
            )
        return fresh
    finally:
        conn.close()
