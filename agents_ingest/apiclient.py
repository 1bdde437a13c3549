"""One small HTTP client for Zerg's API, shared by the Shipper and the ``zerg`` CLI's remote commands.

``zerg ship``, ``zerg migrate`` / ``pull`` and ``zerg spawn|jobs|schedule ... --server URL`` all
talk to the same API with a bearer token. They used to have a urllib wrapper each, and one of
them told a 400 from a 500 by finding ``": 400 "`` in an error's text; here every failure is an
:class:`ApiError` carrying what the callers switch on: ``status`` (None when no server
answered), ``detail`` (the server's sentence) and ``retry_after`` (seconds, from
``Retry-After``), in one subclass per way of handling it.

The standard library only, and no Django: the Shipper runs on the owner's laptop, and this
module sits beside ``wire.py`` so the Shipper imports nothing above ``agents_ingest``. The CLI
imports it only when a command goes remote (urllib.request pulls in http.client, email and ssl,
which a ``zerg serve`` process that merely builds the argument parser does not need).
"""

from __future__ import annotations

import email.utils
import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

USER_AGENT = "zerg"
DETAIL_CHARS = 500  # a server's sentence, cut here: it is printed on one line or logged


class ApiError(Exception):
    """The server refused a request, or was not reached (``status`` None)."""

    def __init__(self, status: int | None, detail: str, retry_after: float | None = None, url: str = ""):
        self.status, self.detail, self.retry_after, self.url = status, detail, retry_after, url
        super().__init__(self.describe())

    def describe(self) -> str:
        return f"HTTP {self.status} {self.detail}" if self.status else self.detail


class Unauthorized(ApiError):
    """401/403: the token is wrong, revoked or of the wrong kind. Retrying cannot help."""

    def describe(self) -> str:
        return f"the server refused the token: HTTP {self.status} {self.detail}"


class TooLarge(ApiError):
    """413: the body is over the server's limit (the Shipper splits its batch)."""


class BadRequest(ApiError):
    """Another 4xx: the server will not take this request as it is."""


class Unsupported(BadRequest):
    """415: the server does not read this body's Content-Type or Content-Encoding."""


class RetryLater(ApiError):
    """429 or a 5xx (503 busy, 507 disk full, ...), maybe with ``Retry-After``: the same request may
    succeed later."""


class ConnectionFailed(RetryLater):
    """No answer: the server cannot be reached, or hung up before answering."""


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


def parse_detail(body: bytes, reason: str = "") -> str:
    """The sentence of an error body: its JSON ``detail`` (Zerg, django-ninja), ``error`` or
    ``message``, else its text, else the HTTP reason; on one line."""
    text = body.decode("utf-8", "replace").strip()
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict):
        text = str(document.get("detail") or document.get("error") or document.get("message") or text)
    return " ".join(text.split())[:DETAIL_CHARS] or reason or "no detail"


def error_for(status: int, body: bytes, headers, url: str = "", reason: str = "") -> ApiError:
    """The typed error of an HTTP error answer (``headers``: a mapping with ``get``)."""
    detail = parse_detail(body, reason)
    if status in (401, 403):
        return Unauthorized(status, detail, url=url)
    if status == 413:
        return TooLarge(status, detail, url=url)
    if status == 415:
        return Unsupported(status, detail, url=url)
    if status == 429 or status >= 500:
        return RetryLater(status, detail, parse_retry_after(headers.get("Retry-After")), url=url)
    return BadRequest(status, detail, url=url)


@dataclass
class Reply:
    status: int
    body: bytes
    headers: Mapping[str, str]  # an email.message.Message: case-insensitive ``get``


class ApiClient:
    """``server`` (e.g. ``https://zerg.example.com``) with a bearer ``token``; paths start at ``/api``."""

    def __init__(self, server: str, token: str = "", timeout: float = 60.0, user_agent: str = USER_AGENT):
        self.server = server.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.user_agent = user_agent

    def open(self, method: str, path: str, data: bytes | None = None, headers: dict | None = None) -> Reply:
        """Send one request; its 2xx :class:`Reply`, or an :class:`ApiError`."""
        url = self.server + path
        request = urllib.request.Request(url, data=data, method=method)
        for key, value in {"User-Agent": self.user_agent, "Accept": "application/json", **(headers or {})}.items():
            request.add_header(key, value)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return Reply(response.status, response.read(), response.headers)
        except urllib.error.HTTPError as exc:
            body = exc.read() if exc.fp else b""
            raise error_for(exc.code, body, exc.headers or {}, url, str(exc.reason or "")) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc or exc.__class__.__name__
            raise ConnectionFailed(None, f"cannot reach {self.server}: {reason}", url=url) from None

    def call(self, method: str, path: str, body: dict | None = None):
        """A JSON request (``body`` None: none; a POST still sends an empty body) and its JSON answer."""
        data = json.dumps(body).encode("utf-8") if body is not None else (b"" if method == "POST" else None)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        reply = self.open(method, path, data, headers)
        try:
            return json.loads(reply.body)
        except ValueError:
            raise BadRequest(reply.status, f"{self.server}{path} did not answer JSON", url=self.server + path) from None
