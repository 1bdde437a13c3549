"""Ingest bodies for tests, in the batch format (``agents_ingest/wire.py``), the only one the server reads.

Tests write a shipment the readable way, as a dict of file entries holding their lines::

    {"device": "laptop", "files": [{"provider": "claude", "path": ..., "offset": 0, "generation": 0,
                                    "data": "<lines as text>" | "data_b64": "<base64 of raw bytes>", ...}]}

and these helpers send it as ``zerg ship`` does: each entry's metadata in the header line (with
its ``length``), its bytes after. An entry without ``data`` or ``data_b64`` ships no bytes.
"""

from __future__ import annotations

import base64
import gzip
import json
import urllib.error
import urllib.request

from agents_ingest import wire

URL = "/api/agents/ingest"


def batch_files(document: dict) -> list[tuple[dict, bytes]]:
    """``(metadata, bytes)`` per file entry of ``document``."""
    files = []
    for entry in document.get("files", []):
        meta = {k: v for k, v in entry.items() if k not in ("data", "data_b64")}
        if entry.get("data_b64") is not None:
            data = base64.b64decode(entry["data_b64"])
        else:
            data = (entry.get("data") or "").encode("utf-8")
        files.append((meta, data))
    return files


def raw_batch(document: dict) -> bytes:
    """The uncompressed batch: the header line (``json.dumps``' default spacing, so a test may edit
    it as text), then the bytes."""
    files = batch_files(document)
    header = {k: v for k, v in document.items() if k != "files"}
    header["files"] = [{**meta, "length": len(data)} for meta, data in files]
    return json.dumps(header).encode("utf-8") + b"\n" + b"".join(data for _, data in files)


def batch_body(document: dict, encoding: str = "zstd") -> bytes:
    """The body under Content-Encoding ``encoding`` (zstd: built by ``wire.encode_batch``, as the Shipper does)."""
    if encoding == "zstd":
        return wire.encode_batch(document.get("device"), batch_files(document))
    raw = raw_batch(document)
    return gzip.compress(raw) if encoding == "gzip" else raw


def post_ingest(client, document: dict | bytes, url: str = URL, encoding: str = "zstd", **extra):
    """POST ``document`` (or an already built body) with a Django test client."""
    body = batch_body(document, encoding) if isinstance(document, dict) else document
    if encoding != "identity":
        extra["HTTP_CONTENT_ENCODING"] = encoding
    return client.post(url, body, content_type=wire.BATCH_TYPE, **extra)


def http_ingest(url: str, token: str, document: dict, timeout: float = 30) -> tuple[int, dict | None]:
    """POST ``document`` to a running server's ``url``; (status, decoded JSON or None), errors returned."""
    request = urllib.request.Request(
        url,
        data=batch_body(document),
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": wire.BATCH_TYPE,
            "Content-Encoding": "zstd",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None
