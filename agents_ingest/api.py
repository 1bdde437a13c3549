"""``POST /api/agents/ingest``: the Shipper's upload endpoint.

Auth: ``Authorization: Bearer <device token>`` only (``zerg token create --device NAME``).
API tokens and the owner's browser session are refused (401): a device token can do
nothing but ingest, and nothing else can ingest over HTTP. Sessions on the server
itself are imported with ``manage.py import_sessions`` or by commis, in-process.

The device is the token's name, whatever the body's ``device`` says (that field is ignored:
a Shipper may have been connected under another name). A device's files only ever go to
its own sessions (a session id another device also shipped is a separate session), and
its git remote and commit are stored only when git may safely be given them
(``zerg_site/gitcheck.py``; otherwise they are listed under the file's ``ignored``).

Request: ``Content-Type: application/vnd.zerg.batch`` (what ``zerg ship`` sends, with
``Content-Encoding: zstd``; gzip or none are read too): a JSON header line, then each file's
bytes as they are on disk (``agents_ingest/wire.py``)::

    {"device": "laptop",
     "files": [{"provider": "claude" | "codex" | "gemini",
                "path": "/abs/path/on/the/device.jsonl",
                "generation": 0,            # bumped by the Shipper when the file shrank / was rewritten
                "offset": 0,                # byte offset where the bytes start (Gemini: 0, the whole document)
                "length": 1234,             # how many of the bytes after the header are this file's
                "git": {"remote": ..., "branch": ..., "commit": ...} | null,
                "parent_session": "<provider session id of the parent>" | null}, ...]}\n
    <1234 bytes>...

Any other Content-Type (a JSON document with the lines as strings was never released) is
refused with 415 and a detail naming the batch type.

Limits: ``MAX_COMPRESSED`` bytes on the wire and ``MAX_BODY`` bytes after decompression (both
``[server] max_upload_mb``, default 16 MiB; settings ``INGEST_MAX_COMPRESSED`` /
``INGEST_MAX_BODY``): beyond them 413, and
the Shipper splits the batch. Another Content-Encoding: 415. A header that is not JSON, a
truncated or corrupt stream, lengths that do not add up, or a bad file entry: 400, nothing stored.
Malformed JSONL *lines* are not errors: they are stored raw and reported per file under
``malformed`` (200).

Response 200::

    {"files": [{"path", "generation", "acked_offset", "lines_stored", "lines_duplicate",
                "events_stored", "malformed": [{"offset", "error"}], "session_id",
                "stale": true,  # only when generation is older than the server's: nothing stored
                "ignored": [...]  # only when some of the file's metadata was refused, with why}],
     "lines_stored": N, "lines_duplicate": N, "events_stored": N, "lines_malformed": N,
     "device": "<the token's name: the device the files were stored as>"}

``acked_offset`` is the end of what the server holds contiguously from offset 0 in that
generation (durably: the transaction has committed with synchronous=FULL). Bytes after
the last newline of a file's bytes are not stored and not acknowledged (send them again once
the line is complete). Everything in one request is one transaction.

``archive`` (also in the 200 response) is ``{"id": <archive id>, "epoch": <n>}``
(``agents_ingest/identity.py``): a Shipper that sees another id, or an epoch not above the
last one it saw, knows the server may have lost acknowledged data (a restore) and re-verifies
its files. ``GET /api/agents/archive`` (device token) answers the same without shipping.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import JsonResponse
from ninja import Router
from ninja.security import HttpBearer

from agents_ingest import identity
from agents_ingest.gc_pause import gc_paused
from agents_ingest.ingest import FileChunk, IngestError, ingest_files
from agents_ingest.schemas import ArchiveOut, IngestOut
from agents_ingest.wire import (
    BATCH_TYPE,
    ENCODINGS,
    WireError,
    decode_batch,
    decompress,
)
from timeline import indexer
from zerg_site.auth.tokens import check_token
from zerg_site.models import ApiToken
from zerg_site.schemas import responses

MiB = 1024 * 1024
router = Router(tags=["agents"])


def max_body() -> int:
    return int(getattr(settings, "INGEST_MAX_BODY", 16 * MiB))


def max_compressed() -> int:
    return int(getattr(settings, "INGEST_MAX_COMPRESSED", 16 * MiB))


class DeviceToken(HttpBearer):
    """``Authorization: Bearer <device token>``; API tokens and sessions do not count here."""

    def authenticate(self, request, token):
        device = check_token(token, kind=ApiToken.DEVICE)
        if device is not None:
            request.device_token = device
        return device


def _error(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


BadRequest = WireError  # a body refused with its status and detail (400, 413, 415)


def read_batch(request) -> tuple[str, list[FileChunk]]:
    """The device name (may be "") and the file entries of an ingest request (the batch format)."""
    content_type = _content_type(request)
    if content_type != BATCH_TYPE:  # refused before the body is read
        raise BadRequest(
            415,
            f"Content-Type {content_type or 'none'!r} is not an ingest body: send "
            f"{BATCH_TYPE} (a JSON header line, then the files' bytes), as zerg ship does",
        )
    header, entries = decode_batch(_read_body(request))
    device = header.get("device")
    if device is not None and not isinstance(device, str):
        raise BadRequest(400, "device must be a string")
    _unicode(device, "device")
    chunks = [_chunk(entry, data, f"files[{n}]") for n, (entry, data) in enumerate(entries)]
    return (device or "").strip()[:100], chunks


def _content_type(request) -> str:
    return (request.META.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()


def _read_body(request) -> bytes:
    limit_wire, limit_body = max_compressed(), max_body()
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    encoding = (request.META.get("HTTP_CONTENT_ENCODING") or "identity").strip().lower()
    if encoding not in ENCODINGS and encoding != "":
        raise BadRequest(415, f"Content-Encoding {encoding!r} is not supported: send zstd, gzip or nothing")
    compressed = encoding not in ("identity", "")
    wire_limit = limit_wire if compressed else limit_body
    if declared > wire_limit:
        raise BadRequest(
            413,
            f"the body is {declared} bytes; the limit is {wire_limit} bytes"
            f"{' compressed' if compressed else ''}: split the batch",
        )
    raw = request.read(wire_limit + 1)
    if len(raw) > wire_limit:
        raise BadRequest(413, f"the body exceeds {wire_limit} bytes: split the batch")
    return decompress(raw, encoding, limit_body)


def _int(entry: dict, key: str, where: str) -> int:
    value = entry.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(400, f"{where}: {key} must be a non-negative integer")
    return value


def _unicode(value, where: str) -> None:
    """JSON can escape half a surrogate pair ("\\ud800"): such text is not Unicode and no database
    stores it, so a name holding one is refused (a session line holding one is not: see decode_line)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(400, f"{where}: text is not valid Unicode (an unpaired surrogate escape)") from None


def _chunk(entry: dict, data: bytes, where: str) -> FileChunk:
    _unicode(entry, where)
    path, provider = entry.get("path"), entry.get("provider")
    if not isinstance(path, str) or not path:
        raise BadRequest(400, f"{where}: path must be a non-empty string")
    if not isinstance(provider, str):
        raise BadRequest(400, f"{where}: provider must be a string")
    git = entry.get("git")
    if git is not None and not isinstance(git, dict):
        raise BadRequest(400, f"{where}: git must be an object or null")
    parent = entry.get("parent_session")
    if parent is not None and not isinstance(parent, str):
        raise BadRequest(400, f"{where}: parent_session must be a string or null")
    return FileChunk(
        provider=provider,
        path=path,
        data=data,
        offset=_int(entry, "offset", where),
        generation=_int(entry, "generation", where),
        git=git,
        parent_session=parent or None,
    )


@router.post(
    "/ingest",
    auth=DeviceToken(),
    summary="Store shipped session files (device token)",
    response=responses(IngestOut, 400, 401, 413, 415),
    exclude_unset=True,
)
def ingest_view(request):
    try:
        with gc_paused():
            _, chunks = read_batch(request)
            device = request.device_token.name[:100]  # never the body's: a token writes as its own device
            answer = ingest_files(device, chunks, index_later=indexer.running())
        indexer.wake()
        return {**answer, "device": device}
    except BadRequest as exc:
        return _error(exc.status, exc.detail)
    except IngestError as exc:
        return _error(400, str(exc))


@router.get(
    "/archive",
    auth=DeviceToken(),
    summary="The archive's identity, for a Shipper (device token)",
    response=responses(ArchiveOut, 401),
)
def archive_view(request):
    """``{"id", "epoch"}`` for the token's device, read only: the Shipper asks before a full pass."""
    return identity.current(request.device_token.name[:100])
