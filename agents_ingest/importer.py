"""Import session files found on the server's own disk (``manage.py import_sessions DIR``)."""

from __future__ import annotations

import os
from pathlib import Path

from agents_ingest.ingest import FileChunk, ingest_files
from timeline.export import iter_file_bytes
from timeline.models import SourceFile

CHUNK = 4 * 1024 * 1024


def detect_provider(path: Path) -> str | None:
    parts = set(path.parts)
    if path.suffix == ".json":
        return "gemini" if "chats" in parts or ".gemini" in parts else None
    if path.suffix != ".jsonl":
        return None
    if path.name.startswith("rollout-") or ".codex" in parts or "codex" in parts:
        return "codex"
    return "claude"


def find_files(root: Path):
    for dirpath, _, names in os.walk(root):
        for name in sorted(names):
            path = Path(dirpath) / name
            provider = detect_provider(path)
            if provider:
                yield provider, path


def generation_of(path: Path, device: str, provider: str) -> int:
    """The generation to import a file as: the stored one while the file still starts with what
    the server holds, the next one once it was rewritten or shrank (as the Shipper does), so a
    re-import after Claude's /rewind or an edited file stores the new lines instead of calling
    them duplicates. (A Gemini document keeps its generation: the ingest compares it whole.)"""
    source = SourceFile.objects.filter(device=device, path=str(path)).first()
    if source is None:
        return 0
    if provider == "gemini":
        return source.generation
    with path.open("rb") as handle:
        for stored in iter_file_bytes(source):
            if handle.read(len(stored)) != stored:
                return source.generation + 1
    return source.generation


def import_file(provider: str, path: Path, device: str, session: int | None = None) -> dict:
    """Ingest a file of this server's disk as ``device``; ``session``: add its lines to that Timeline session
    (a commis continuation's file, whichever device the session is of; see ``FileChunk.session``)."""
    totals = {"lines_stored": 0, "lines_duplicate": 0, "events_stored": 0, "lines_malformed": 0}
    path = path.resolve()
    generation = generation_of(path, device, provider)
    pieces = [(0, path.read_bytes())] if provider == "gemini" else _line_chunks(path)
    for offset, data in pieces:
        result = ingest_files(
            device, [FileChunk(provider, str(path), data, offset=offset, generation=generation, session=session)]
        )
        for key in totals:
            totals[key] += result[key]
    return totals


def _line_chunks(path: Path):
    """(offset, bytes) pieces of at most CHUNK bytes that end at a newline (a longer line goes alone)."""
    offset = 0
    with path.open("rb") as handle:
        pending = b""
        while True:
            block = handle.read(CHUNK)
            if not block:
                break
            pending += block
            cut = pending.rfind(b"\n") + 1
            if cut:
                yield offset, pending[:cut]
                offset += cut
                pending = pending[cut:]
        # A trailing line without a newline is still being written (or truncated): left for later.
