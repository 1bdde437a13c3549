"""Complete-line reads by byte offset, and fingerprints to notice a rewritten file.

Memory stays bounded by ``max_bytes`` (or by the longest single line, which has to be
sent whole): a file is read in chunks from an offset, never as a whole.
"""

from __future__ import annotations

import hashlib
import json
import os

HEAD_BYTES = 4096
TAIL_BYTES = 4096
CHUNK = 1 << 20


def read_complete(path: str, offset: int, max_bytes: int) -> bytes:
    """Bytes from ``offset`` through the last newline within ``max_bytes``.

    A trailing line without its newline is left for later (it is still being written).
    When a single line is longer than ``max_bytes`` the read goes on to its end, so a
    huge line is shipped whole rather than never. Returns b"" when no line is complete.
    """
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read(max_bytes)
        cut = data.rfind(b"\n")
        if cut >= 0:
            return data[: cut + 1]
        if len(data) < max_bytes:
            return b""  # the end of the file: an incomplete line
        parts = [data]
        while True:  # one line longer than max_bytes
            more = handle.read(CHUNK)
            if not more:
                return b""
            newline = more.find(b"\n")
            if newline >= 0:
                parts.append(more[: newline + 1])
                return b"".join(parts)
            parts.append(more)


def range_hash(path: str, start: int, end: int) -> str | None:
    """sha256 of bytes [start, end) of the file, or None if it has fewer bytes."""
    if end <= start:
        return hashlib.sha256(b"").hexdigest()
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            data = handle.read(end - start)
    except OSError:
        return None
    if len(data) != end - start:
        return None
    return hashlib.sha256(data).hexdigest()


def fingerprints(path: str, acked: int) -> tuple[str | None, str | None]:
    """(head hash, tail hash) of the acknowledged prefix ``[0, acked)``."""
    return (
        range_hash(path, 0, min(HEAD_BYTES, acked)),
        range_hash(path, max(0, acked - TAIL_BYTES), acked),
    )


def rewritten(path: str, size: int, acked: int, head: str | None, tail: str | None) -> bool:
    """Did the acknowledged prefix change under us (shrunk, /rewind, /compact, rewrite)?"""
    if size < acked:
        return True
    if acked == 0:
        return False
    now_head, now_tail = fingerprints(path, acked)
    return (head is not None and now_head != head) or (tail is not None and now_tail != tail)


def first_record(data: bytes) -> dict | None:
    """The first line of ``data`` parsed as a JSON object, or None."""
    line = data.split(b"\n", 1)[0]
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested ~1,000 deep
        return None
    return value if isinstance(value, dict) else None


def find_cwd(provider: str, data: bytes, limit: int = 200) -> str | None:
    """The session's working directory, from the first records that name one."""
    for number, line in enumerate(data.split(b"\n")):
        if number >= limit:
            break
        if b'"cwd"' not in line:
            continue
        try:
            record = json.loads(line)
        except (ValueError, UnicodeDecodeError, RecursionError):  # nested ~1,000 deep
            continue
        if not isinstance(record, dict):
            continue
        if provider == "claude" and isinstance(record.get("cwd"), str):
            return record["cwd"]
        if provider == "codex":
            payload = record.get("payload")
            if record.get("type") in ("session_meta", "turn_context") and isinstance(payload, dict):
                if isinstance(payload.get("cwd"), str):
                    return payload["cwd"]
    return None


def file_size(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns
