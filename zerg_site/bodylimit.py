"""Request bodies over their limit are refused before they are read (``zerg serve``).

daphne (on Twisted) reads a request's whole body -- into memory up to 100 kB, then a
temporary file -- and only then starts the ASGI app, which gets the body pushed into its
queue at once. So every limit Django applies comes too late: one anonymous 1 GiB POST to
``/api/agents/ingest`` grew the server by a gigabyte, before any token was looked at.

Here the limit is applied while Twisted parses the request, per path:

- ``/api/agents/ingest`` and ``/api/migrate/ingest``: ``[server] max_upload_mb`` (the
  ingest's own limit, ``INGEST_MAX_COMPRESSED`` / ``INGEST_MAX_BODY``);
- ``/api/migrate/patch``: what a patch of ``MAX_PATCH`` bytes is in base64 JSON;
- anything else: Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2.5 MiB), past which Django
  would refuse the body anyway (Zerg takes no file uploads).

A ``Content-Length`` over the limit is answered 413 as soon as the headers are in; a
chunked body is counted as it arrives and answered 413 at the limit. The answer is JSON
``{"detail": ...}`` naming the limit, then the connection closes. Until then up to
``DRAIN_MAX`` bytes more are read and thrown away, so that a client which writes its whole
body before it reads (urllib, the Shipper) gets the 413 -- and splits its batch -- instead
of a reset connection; nothing of a refused body is kept.

The Django-level checks stay (``agents_ingest/api.py``, ``DATA_UPLOAD_MAX_MEMORY_SIZE``):
they are what applies when the ASGI app runs under another server, as in the tests.

Import this module only after ``zerg_site.cli.daphne_slim.daphne_server_class()``: importing
``daphne.server`` installs Twisted's reactor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from io import BytesIO
from urllib.parse import unquote

from daphne.http_protocol import HTTPFactory, WebRequest
from django.conf import settings

from agents_ingest.models import MAX_PATCH

MiB = 1024 * 1024
#: bytes of a refused body read and discarded before the connection is closed regardless
DRAIN_MAX = 64 * MiB
INGEST_PATHS = ("/api/agents/ingest", "/api/migrate/ingest")
PATCH_PATH = "/api/migrate/patch"


@dataclass(frozen=True)
class BodyLimits:
    default: int
    paths: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_settings(cls) -> BodyLimits:
        ingest = max(int(settings.INGEST_MAX_COMPRESSED), int(settings.INGEST_MAX_BODY))
        default = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or int(2.5 * MiB)
        paths = {path: ingest for path in INGEST_PATHS}
        paths[PATCH_PATH] = max(default, (MAX_PATCH + 2) // 3 * 4 + 64 * 1024)  # base64 plus the JSON around it
        return cls(default=default, paths=paths)

    def for_target(self, target: bytes) -> tuple[str, int]:
        """(path, limit) for a request target as the client sent it (``/api/x?y=1``).

        The path is decoded as daphne decodes it for Django, so a percent-encoded name reaches
        the same limit as the view it reaches."""
        path = unquote(target.split(b"?", 1)[0].decode("latin-1"))
        return path, self.paths.get(path, self.default)


def too_large(detail: str) -> bytes:
    """A whole 413 response that ends the connection."""
    body = json.dumps({"detail": detail}).encode()
    return (
        b"HTTP/1.1 413 Content Too Large\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: %d\r\n"
        b"Connection: close\r\n\r\n" % len(body)
    ) + body


def _advice(path: str) -> str:
    if path in INGEST_PATHS:
        return ": split the batch, or raise [server] max_upload_mb on the server"
    return ""


class LimitedRequest(WebRequest):
    """daphne's request, refusing a body over its path's limit while it arrives."""

    _limit = 0
    _received = 0
    _refused = False
    _drained = 0
    _closing = False

    def gotLength(self, length):
        """Twisted calls this once the headers are in; ``length`` is None for a chunked body."""
        self._path_for_limit, self._limit = self.server.body_limits.for_target(self.channel._path or b"")
        if length is not None and length > self._limit:
            self._refuse(
                f"the request body is {length} bytes; the limit for {self._path_for_limit} "
                f"is {self._limit} bytes{_advice(self._path_for_limit)}"
            )
            return
        super().gotLength(length)

    def handleContentChunk(self, data):
        if self._refused:
            self._drain(len(data))
            return
        self._received += len(data)
        if self._received > self._limit:
            self._refuse(
                f"the request body exceeds {self._limit} bytes, the limit for "
                f"{self._path_for_limit}{_advice(self._path_for_limit)}"
            )
            self._drain(len(data))
            return
        super().handleContentChunk(data)

    def requestReceived(self, command, path, version):
        if self._refused:  # the whole refused body went by: the answer is out, close
            self._close()
            return
        super().requestReceived(command, path, version)

    def _refuse(self, detail: str) -> None:
        self._refused = True
        if self.content is not None:
            self.content.close()  # what a chunked body had written so far
        self.content = BytesIO()  # stays empty
        self.requestHeaders.removeHeader(b"Expect")  # no "100 Continue" after the answer
        self.channel.persistent = False
        self.channel.transport.write(too_large(detail))

    def _drain(self, size: int) -> None:
        self._drained += size
        if self._drained > DRAIN_MAX:
            self._close()

    def _close(self) -> None:
        if not self._closing and self.channel is not None:
            self._closing = True
            self.channel.loseConnection()


class LimitedHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = LimitedRequest
        return protocol


def limited(server_class):
    """A subclass of daphne's ``Server`` that serves :class:`LimitedRequest` under ``body_limits``."""

    class BodyLimitedServer(server_class):
        def __init__(self, *args, body_limits: BodyLimits, **kwargs):
            self.body_limits = body_limits
            super().__init__(*args, **kwargs)

        # daphne's run() makes its HTTPFactory and listens in one method, with no hook in
        # between: take the factory as it is assigned and serve ours in its place.
        @property
        def http_factory(self):
            return self._limited_http_factory

        @http_factory.setter
        def http_factory(self, factory):
            if type(factory) is HTTPFactory:
                factory = LimitedHTTPFactory(self)
            self._limited_http_factory = factory

    return BodyLimitedServer
