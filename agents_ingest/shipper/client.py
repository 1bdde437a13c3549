"""The HTTP side of the Shipper: ``POST /api/agents/ingest``, typed failures.

Batches go out in the zstd-compressed batch format (``agents_ingest/wire.py``); a server
older than that format answers 415, and the client then sends gzipped JSON documents
for the rest of its life. urllib from the standard library: no HTTP dependency.
"""

from __future__ import annotations

import base64
import email.utils
import gzip
import io
import json
import time
import urllib.error
import urllib.request

from agents_ingest import wire

USER_AGENT = "zerg-ship"


class ShipError(Exception):
    """Base of the failures the shipping loop tells apart."""


class AuthError(ShipError):
    """401/403: the token is wrong or revoked. Stop; retrying cannot help."""


class TooLarge(ShipError):
    """413: split the batch."""


class RetryLater(ShipError):
    """429/503 (maybe with Retry-After), other 5xx, or the server cannot be reached."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class BadRequest(ShipError):
    """Another 4xx: the server rejects this batch as it is."""


class Unsupported(BadRequest):
    """415: the server does not read this format or Content-Encoding (a server older than it)."""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _detail(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    try:
        document = json.loads(text)
        if isinstance(document, dict):
            text = str(document.get("detail") or document.get("error") or document.get("message") or text)
    except ValueError:
        pass
    return " ".join(text.split())[:200] or "no detail"


PIECE = 256 * 1024


def _pieces(data: bytes, size: int | None = None):
    """``data`` in slices of about ``size`` bytes, never cutting a UTF-8 character."""
    size = size or PIECE
    start = 0
    while start < len(data):
        end = min(len(data), start + size)
        while end < len(data) and end > start + 1 and (data[end] & 0xC0) == 0x80:
            end -= 1  # back off a continuation byte
        yield data[start:end]
        start = end


def is_utf8(data: bytes) -> bool:
    try:
        for piece in _pieces(data):
            piece.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def encode_json(device: str, files: list[tuple[dict, bytes]], compresslevel: int = 6) -> bytes:
    """The gzipped JSON body (for servers older than the batch format) ``{"device": ..., "files": [{...meta, "data"|"data_b64": ...}]}``.

    Streams each file's bytes through the JSON escaper and gzip in small pieces, so a
    batch costs its raw bytes plus its compressed size in memory, not several decoded
    and escaped copies of it (``json.dumps`` of a 4 MB string peaks above 30 MB).
    """
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=compresslevel, mtime=0) as gz:
        gz.write(b'{"device":' + json.dumps(device).encode() + b',"files":[')
        for number, (meta, data) in enumerate(files):
            head = json.dumps(meta, ensure_ascii=False, separators=(",", ":"))[:-1].encode("utf-8")
            gz.write((b"," if number else b"") + head + (b"," if meta else b""))
            if is_utf8(data):
                gz.write(b'"data":"')
                for piece in _pieces(data):
                    gz.write(json.dumps(piece.decode("utf-8"), ensure_ascii=False)[1:-1].encode("utf-8"))
            else:
                gz.write(b'"data_b64":"')
                step = (PIECE // 3) * 3
                for start in range(0, len(data), step):
                    gz.write(base64.b64encode(data[start:start + step]))
            gz.write(b'"}')
        gz.write(b"]}")
    return out.getvalue()


class Client:
    #: the device-token ingest endpoint; ``zerg migrate`` with an API token uses /api/migrate/ingest
    ingest_path = "/api/agents/ingest"

    def __init__(self, server: str, token: str, timeout: float = 60.0):
        self.server = server.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.batch_format = True  # False once the server has answered 415 to it

    def _open(self, request: urllib.request.Request) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            body = exc.read() if exc.fp else b""
            status = exc.code
            if status in (401, 403):
                raise AuthError(f"the server refused the token: HTTP {status} {_detail(body)}") from None
            if status == 413:
                raise TooLarge(f"HTTP 413 {_detail(body)}") from None
            if status == 415:
                raise Unsupported(f"HTTP 415 {_detail(body)}") from None
            if status == 429 or status >= 500:
                raise RetryLater(
                    f"HTTP {status} {_detail(body)}", parse_retry_after(exc.headers.get("Retry-After"))
                ) from None
            raise BadRequest(f"HTTP {status} {_detail(body)}") from None
        except (urllib.error.URLError, OSError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RetryLater(f"cannot reach {self.server}: {reason}") from None

    def health(self) -> dict:
        request = urllib.request.Request(
            f"{self.server}/api/health", headers={"User-Agent": USER_AGENT, "Accept": "application/json"}
        )
        status, body = self._open(request)
        try:
            return json.loads(body)
        except ValueError:
            raise BadRequest(f"{self.server}/api/health did not answer JSON (is this a Zerg server?)") from None

    def archive(self) -> dict | None:
        """``GET /api/agents/archive``: the server's archive identity for this device token
        (``agents_ingest/identity.py``), or None from a server older than it (404)."""
        request = urllib.request.Request(
            f"{self.server}/api/agents/archive",
            headers={"Authorization": f"Bearer {self.token}", "User-Agent": USER_AGENT, "Accept": "application/json"},
        )
        try:
            _, body = self._open(request)
        except BadRequest:
            return None
        try:
            answer = json.loads(body)
        except ValueError:
            return None
        return answer if isinstance(answer, dict) else None

    def ingest(self, document: dict) -> dict:
        """POST a small document as is (``zerg connect``'s zero-file check)."""
        raw = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return self.ingest_body(gzip.compress(raw))

    def ingest_files(self, device: str, files: list[tuple[dict, bytes]]) -> dict:
        """POST one batch of ``(metadata, raw bytes)`` per file."""
        if self.batch_format:
            try:
                return self.ingest_body(wire.encode_batch(device, files), wire.BATCH_TYPE, "zstd")
            except Unsupported:
                self.batch_format = False
        return self.ingest_body(encode_json(device, files))

    def ingest_body(self, body: bytes, content_type: str = "application/json", encoding: str = "gzip") -> dict:
        """POST a compressed body; the decoded 200 response, or a :class:`ShipError`."""
        request = urllib.request.Request(
            f"{self.server}{self.ingest_path}",
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": content_type,
                "Content-Encoding": encoding,
                "User-Agent": USER_AGENT,
            },
        )
        status, payload = self._open(request)
        try:
            answer = json.loads(payload)
        except ValueError:
            raise RetryLater(f"the server answered HTTP {status} without JSON") from None
        if not isinstance(answer, dict):
            raise RetryLater(f"the server answered HTTP {status} with an unexpected document")
        return answer


class ApiClient(Client):
    """The owner's side of the API (``zerg migrate`` / ``zerg pull``): JSON in, JSON or bytes out."""

    def call(self, method: str, path: str, body: dict | None = None, raw: bool = False):
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Authorization": f"Bearer {self.token}", "User-Agent": USER_AGENT, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(f"{self.server}/api{path}", data=data, method=method, headers=headers)
        _, payload = self._open(request)
        if raw:
            return payload
        try:
            return json.loads(payload)
        except ValueError:
            raise BadRequest(f"{self.server}/api{path} did not answer JSON") from None

    def upload_patch(self, device: str, state) -> dict:
        """``POST /api/migrate/patch``: a :class:`~.patch.WorkState` of one cwd."""
        return self.call("POST", "/migrate/patch", {"device": device, **state.meta(),
                                                    "patch_b64": base64.b64encode(state.patch).decode("ascii")})


def patch_upload(client: Client, device: str, state) -> dict:
    """Upload a cwd's uncommitted state with any token the server accepts for it (device or API)."""
    return ApiClient(client.server, client.token, client.timeout).upload_patch(device, state)
