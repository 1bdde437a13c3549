"""The source-line archive's chunks: how lines are grouped, compressed and read back.

A chunk is a run of complete lines of one file generation, at most ``CHUNK_BYTES`` before
compression (a longer single line is a chunk of its own), compressed as one zstd frame.
1 MiB keeps the ratio of whole-file compression (~5x on session JSONL) while reading one
event's source line decompresses at most a millisecond's worth.
"""

from __future__ import annotations

import hashlib

CHUNK_BYTES = 1 << 20
LEVEL = 3  # zstd's default: ~350 MB/s on one core here, ~5x on session JSONL


def compress(data: bytes) -> bytes:
    # A compressor per call: they are cheap, and one instance must not be shared between threads.
    # lazy: `zerg serve` need not hold zstandard (~1 MB RSS measured alone) until the first upload or export
    import zstandard

    return zstandard.ZstdCompressor(level=LEVEL, write_checksum=True).compress(data)


def decompress(data: bytes) -> bytes:
    import zstandard  # lazy: as in compress()

    return zstandard.ZstdDecompressor().decompress(data)


def digest(data: bytes) -> str:
    """sha256 of the bytes, first 128 bits, hex (a line's digest names its events; a Gemini
    document's is kept with its chunk to recognise the same document sent again)."""
    return hashlib.sha256(data).hexdigest()[:32]


def group(pieces: list[tuple[bytes, int]], limit: int = CHUNK_BYTES) -> list[list[tuple[bytes, int]]]:
    """Split contiguous ``(line, offset)`` pieces into runs of at most ``limit`` bytes."""
    runs, run, size = [], [], 0
    for piece in pieces:
        if run and size + len(piece[0]) > limit:
            runs.append(run)
            run, size = [], 0
        run.append(piece)
        size += len(piece[0])
    if run:
        runs.append(run)
    return runs


def line_at(chunk_offset: int, data: bytes, offset: int) -> bytes:
    """The line starting at file ``offset`` inside a chunk's uncompressed bytes."""
    start = offset - chunk_offset
    if start < 0 or start >= len(data):
        return b""
    end = data.find(b"\n", start)
    return data[start:] if end < 0 else data[start : end + 1]
