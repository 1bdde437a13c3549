"""A request's new bytes into the source-line archive (``timeline.models.SourceChunk``).

What is new in a chunk of a JSONL file needs no query: the server holds every line of the
file's generation from offset 0 up to ``SourceFile.size`` (and nothing beyond it), so a
line is new exactly when it starts at or after ``size``. A Gemini document is compared
with the stored one by digest. New lines are grouped into chunks (``timeline.chunks``),
compressed as they are staged, and inserted once the request has parsed every file;
events name their chunk by its position in the request until then.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from django.db import connection

from timeline import chunks as codec
from timeline.models import SourceChunk
from timeline.storage.rows import FileRow, columns, fetch

CHUNK_TABLE = SourceChunk._meta.db_table
FILE, GENERATION, OFFSET, DIGEST, SUPERSEDED = (
    connection.ops.quote_name(c) for c in columns(SourceChunk, ("file", "generation", "offset", "digest", "superseded"))
)
NEW_CHUNK = columns(SourceChunk, ("file", "generation", "offset", "length", "lines", "digest", "superseded", "data"))


@dataclass
class Pending:
    file_id: int
    generation: int
    offset: int
    length: int
    lines: int
    digest: str
    data: bytes  # compressed
    id: int | None = None


@dataclass
class Run:
    """Contiguous lines, compressed: a chunk to be (its file and generation known later)."""

    offset: int
    length: int
    lines: int
    digest: str
    data: Future  # of the compressed bytes


def prepare_runs(pieces: list[tuple[bytes, int]], document: bool = False) -> list[Run]:
    """Group contiguous ``(line, offset)`` pieces into chunks and start compressing them on the
    compressor thread (zstd runs without the GIL: the parsing goes on meanwhile). Only a Gemini
    ``document`` gets a digest (to recognise it when it is sent again); zstd frames carry their
    own checksum."""
    runs = []
    for group in codec.group(pieces):
        raw = b"".join(line for line, _ in group)
        runs.append(
            Run(
                group[0][1],
                len(raw),
                len(group),
                codec.digest(raw) if document else "",
                _compressor().submit(codec.compress, raw),
            )
        )
    return runs


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _compressor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zerg-zstd")
        return _pool


def _forget_pool() -> None:  # a forked child has the pool object but not its thread
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


class Archive:
    """The chunks one request adds."""

    def __init__(self):
        self.pending: list[Pending] = []

    def add(self, sf: FileRow, generation: int, runs: list[Run]) -> list[int]:
        """Stage prepared runs; returns each line's chunk position (see :meth:`chunk_id`)."""
        positions = []
        for run in runs:
            self.pending.append(
                Pending(sf.id, generation, run.offset, run.length, run.lines, run.digest, run.data.result())
            )
            positions.extend([len(self.pending) - 1] * run.lines)
        return positions

    def stage(self, sf: FileRow, generation: int, pieces: list[tuple[bytes, int]], document: bool = False) -> list[int]:
        """Stage contiguous complete lines (compressing them now)."""
        return self.add(sf, generation, prepare_runs(pieces, document))

    def stored_document(self, sf: FileRow) -> tuple[int, str] | None:
        """(id, digest) of the Gemini document stored for this file and generation, if any."""
        rows = fetch(
            f"SELECT id, {DIGEST} FROM {CHUNK_TABLE} WHERE {FILE} = %s AND {GENERATION} = %s "
            f"AND {OFFSET} = 0 AND NOT {SUPERSEDED}",
            [sf.id, sf.generation],
        )
        return rows[0] if rows else None

    @staticmethod
    def supersede(chunk_id: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {CHUNK_TABLE} SET {SUPERSEDED} = %s WHERE id = %s", [True, chunk_id])

    def insert(self) -> None:
        """Insert the staged chunks (one statement each: their ids come back with RETURNING)."""
        quoted = ", ".join(connection.ops.quote_name(c) for c in NEW_CHUNK)
        sql = f"INSERT INTO {CHUNK_TABLE} ({quoted}) VALUES ({', '.join(['%s'] * len(NEW_CHUNK))}) RETURNING id"
        with connection.cursor() as cursor:
            for chunk in self.pending:
                if chunk.id is None:
                    cursor.execute(
                        sql,
                        [
                            chunk.file_id,
                            chunk.generation,
                            chunk.offset,
                            chunk.length,
                            chunk.lines,
                            chunk.digest,
                            False,
                            chunk.data,
                        ],
                    )
                    chunk.id = cursor.fetchone()[0]

    def chunk_id(self, position: int | None) -> int | None:
        return None if position is None else self.pending[position].id
