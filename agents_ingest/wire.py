"""The Shipper's batch format on the wire, shared by the server, the Shipper and the test fake.

A batch is one JSON header line and then each file's bytes, as they are on disk::

    {"device": "laptop", "files": [{"provider": ..., "path": ..., "generation": 0, "offset": 0,
                                    "git": {...} | null, "parent_session": ... | null,
                                    "length": 1234}, ...]}\\n
    <1234 bytes of the first file><... of the second>...

sent as ``Content-Type: application/vnd.zerg.batch`` with ``Content-Encoding: zstd``; it is the
only ingest body the server reads. Why not a JSON document (``"data": "<the lines as a JSON
string>"``, tried before the first release and dropped): escaping every quote of every line and
reading it back cost the server ~20 us per event, a sixth of an ingest, and gzip another ~15 us
to inflate (zstd: ~1 GB/s, 4x faster, for a similar ratio; it also compresses ~10x faster than
gzip level 6 on the laptop). Raw bytes also need no base64 when a file is not valid UTF-8.

No Django here: ``zerg ship`` and ``tests/shipper_fake_server.py`` import it too.
"""

from __future__ import annotations

import json
import zlib

BATCH_TYPE = "application/vnd.zerg.batch"
ENCODINGS = ("zstd", "gzip", "identity")
#: the largest zstd window a body may need: the Shipper's level-3 frames use 2 MiB; more is refused
#: rather than letting a body decide how much memory the server allocates
MAX_WINDOW = 8 * 1024 * 1024
_INPUT_STEP = 4096  # compressed bytes fed per call: bounds what one call can inflate


class WireError(ValueError):
    """A body the server cannot read: ``status`` (400, 413, 415) and a sentence for the sender."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def _zstd():
    # lazy: zstandard is ~1 MB RSS (measured alone) that an idle server need not hold
    import zstandard

    return zstandard


def encode_batch(device: str, files: list[tuple[dict, bytes]], level: int = 3) -> bytes:
    """The zstd-compressed batch: a header line naming each file's ``length``, then the bytes.

    Written through one compressor in pieces, so a batch costs its raw bytes plus the compressed
    output in memory, never a joined copy.
    """
    header = {"device": device, "files": [{**meta, "length": len(data)} for meta, data in files]}
    compressor = _zstd().ZstdCompressor(level=level).compressobj()
    out = [compressor.compress(json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n")]
    for _, data in files:
        out.append(compressor.compress(data))
    out.append(compressor.flush())
    return b"".join(out)


def decompress(raw: bytes, encoding: str, limit: int) -> bytes:
    """The body under ``Content-Encoding`` ``encoding``, refused past ``limit`` bytes (413), corrupt
    or cut short (400)."""
    if encoding in ("identity", ""):
        if len(raw) > limit:
            raise WireError(413, f"the body exceeds {limit} bytes: split the batch")
        return raw
    if encoding == "gzip":
        body, complete = _gunzip(raw, limit)
    elif encoding == "zstd":
        body, complete = _unzstd(raw, limit)
    else:
        raise WireError(415, f"Content-Encoding {encoding!r} is not supported: send zstd, gzip or nothing")
    if len(body) > limit:
        raise WireError(413, f"the body exceeds {limit} bytes after decompression: split the batch")
    if not complete:
        raise WireError(400, f"the {encoding} body is truncated (the stream ended early)")
    return body


def _gunzip(raw: bytes, limit: int) -> tuple[bytes, bool]:
    inflater = zlib.decompressobj(wbits=31)
    try:
        body = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise WireError(400, f"the gzip body is corrupt: {exc}") from None
    if inflater.eof and inflater.unused_data:  # as for zstd: what follows the stream was never read
        raise WireError(400, "the gzip body has bytes after the end of its stream")
    return body, inflater.eof


def _unzstd(raw: bytes, limit: int) -> tuple[bytes, bool]:
    """Inflated a piece at a time: a bomb stops just past the limit (returned over it, for the 413)."""
    zstd = _zstd()
    inflater = zstd.ZstdDecompressor(max_window_size=MAX_WINDOW).decompressobj()
    parts, size, start = [], 0, 0
    try:
        for start in range(0, len(raw), _INPUT_STEP):
            part = inflater.decompress(raw[start : start + _INPUT_STEP])
            parts.append(part)
            size += len(part)
            if size > limit or inflater.eof:
                break
    except zstd.ZstdError as exc:
        raise WireError(400, f"the zstd body is corrupt: {exc}") from None
    if inflater.eof and (inflater.unused_data or start + _INPUT_STEP < len(raw)):
        raise WireError(400, "the zstd body has bytes after the end of its stream")
    return b"".join(parts), inflater.eof


def _read_header(line: bytes):
    """The header line as JSON, read as session lines are: nested past their depth limit it is a
    ValueError (the standard library alone raised RecursionError, and the request failed with 500)."""
    # lazy: the parsers are +2.8 MB RSS / 37 modules that the Shipper (which imports this module) never uses
    from agents_ingest.parsers.base import loads

    value, error = loads(line)
    if error is not None:
        raise ValueError(error.removeprefix("invalid JSON: "))
    return value


def decode_batch(body: bytes, loads=_read_header) -> tuple[dict, list[tuple[dict, bytes]]]:
    """(header, [(file entry, its bytes)]) of a batch body; :class:`WireError` (400) if the header is
    not a JSON object naming each file's ``length``, or the lengths do not add up to the body."""
    end = body.find(b"\n")
    if end < 0:
        raise WireError(400, "the batch has no header line (a JSON object, then a newline)")
    try:
        header = loads(body[:end])
    except (ValueError, RecursionError) as exc:
        raise WireError(400, f"the batch header is not valid JSON: {str(exc)[:300]}") from None
    if not isinstance(header, dict) or not isinstance(header.get("files"), list):
        raise WireError(400, 'the batch header must be a JSON object {"device": ..., "files": [...]}')
    files, at = [], end + 1
    for n, entry in enumerate(header["files"]):
        length = entry.get("length") if isinstance(entry, dict) else None
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise WireError(
                400, f"files[{n}]: length must be a non-negative integer (the file's bytes after the header)"
            )
        if at + length > len(body):
            raise WireError(
                400,
                f"files[{n}]: the body ends {at + length - len(body)} bytes before the {length} "
                "bytes its header announces (truncated)",
            )
        files.append((entry, body[at : at + length]))
        at += length
    if at != len(body):
        raise WireError(400, f"the body has {len(body) - at} bytes after the files its header announces")
    return header, files
