"""Shipped session files into the Timeline: validated, parsed, then stored through its storage API.

:func:`ingest_files` is the one entry point (the HTTP API, the import command and commis all use
it). The ingest owns the wire's rules (which providers, offsets and generations a request may
name) and the parsers; what is stored, and how, is ``timeline.storage``'s. It runs in a single
short transaction per call (one commit, so one fsync per request with synchronous=FULL) and is
idempotent: sending the same bytes twice stores nothing new.
"""

from __future__ import annotations

import logging

from django.db import transaction

from agents_ingest import identity
from agents_ingest.gc_pause import gc_paused
from agents_ingest.parsers import PROVIDERS, line_parser, parse_document
from agents_ingest.parsers.base import complete_length, iter_lines
from agents_ingest.parsers.claude import is_subagent_path
from timeline import chunks as chunks_codec
from timeline.storage import (
    FileChunk,
    FileResult,
    PreparedFile,
    checkpoints_left_to_indexer,
    prepare_runs,
    store,
)

__all__ = ["FileChunk", "FileResult", "IngestError", "ingest_files", "validate"]

log = logging.getLogger("zerg.ingest")


class IngestError(ValueError):
    """A file entry the request cannot contain (bad provider, bad offset...): the whole request is refused."""


line_digest = chunks_codec.digest  # a line's digest names its events (``<digest>:<block>``)


def validate(chunk: FileChunk) -> None:
    if chunk.provider not in PROVIDERS:
        raise IngestError(f"{chunk.path}: unknown provider {chunk.provider!r} (use one of {', '.join(PROVIDERS)})")
    if not chunk.path or len(chunk.path) > 4096:
        raise IngestError("every file needs a path (at most 4096 characters)")
    if chunk.offset < 0 or chunk.generation < 0:
        raise IngestError(f"{chunk.path}: offset and generation must be >= 0")
    if chunk.provider == "gemini" and chunk.offset != 0:
        raise IngestError(f"{chunk.path}: a Gemini document is sent whole, at offset 0")


def ingest_files(device: str, chunks: list[FileChunk], index_later: bool = False) -> dict:
    """Store the chunks in one transaction; returns the response document.

    ``index_later``: leave SQLite's full-text indexing of the new events to the background indexer
    (``timeline.indexer``; the HTTP API does when ``zerg serve`` runs one).
    """
    with gc_paused():
        return _ingest_files(device, chunks, index_later)


def _ingest_files(device: str, chunks: list[FileChunk], index_later: bool) -> dict:
    for chunk in chunks:
        validate(chunk)
    # Parsing and compressing need no database: done before the write transaction begins, so
    # another writer (the background full-text indexer, a worker) can work meanwhile.
    prepared = [_prepare(chunk) for chunk in chunks]
    with checkpoints_left_to_indexer(index_later), transaction.atomic():
        document = store(device, prepared, index_later)
        # in the same commit: no acknowledgement without its epoch
        document["archive"] = identity.advance(device)
    return document


def _prepare(chunk: FileChunk) -> PreparedFile:
    gemini = chunk.provider == "gemini"
    complete = len(chunk.data) if gemini else complete_length(chunk.data)
    events = []
    if gemini:
        pieces = [(chunk.data, 0)] if chunk.data.strip() else []
        parsed, meta = parse_document(chunk.data, chunk.path) if pieces else ([], None)
        events = [(e, e.key, 0) for e in parsed]
    else:
        pieces = list(iter_lines(chunk.data[:complete], chunk.offset))
        parser = line_parser(chunk.provider, chunk.path)
        feed = parser.feed
        for index, (raw, offset) in enumerate(pieces):
            digest = None
            for e in feed(raw, offset):
                if not e.key:
                    digest = digest or line_digest(raw)
                    e.key = f"{digest}:{e.index}"
                events.append((e, e.key, index))
        meta = parser.meta
        if (
            chunk.provider == "claude"
            and is_subagent_path(chunk.path)
            and not (chunk.parent_session or meta.parent_session_id)
        ):
            log.info("subagent file without a parent session: %s", chunk.path)
    return PreparedFile(chunk, complete, pieces, events, meta, prepare_runs(pieces, document=gemini))
