"""Import session files found on the server's own disk (``manage.py import_sessions DIR``)."""

from __future__ import annotations

import os
from pathlib import Path

from agents_ingest.ingest import FileChunk, ingest_files

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


def import_file(provider: str, path: Path, device: str) -> dict:
    totals = {"lines_stored": 0, "lines_duplicate": 0, "events_stored": 0, "lines_malformed": 0}
    if provider == "gemini":
        pieces = [(0, path.read_bytes())]
    else:
        pieces = _line_chunks(path)
    for offset, data in pieces:
        result = ingest_files(device, [FileChunk(provider, str(path.resolve()), data, offset=offset)])
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
