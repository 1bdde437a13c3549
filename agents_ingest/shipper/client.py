"""The Shipper's side of the API: ``POST /api/agents/ingest`` in the batch format, the archive check,
and the owner's calls of ``zerg migrate`` / ``zerg pull``.

Batches go out in the zstd-compressed batch format (``agents_ingest/wire.py``), the only one the
server reads. HTTP and the typed failures (:class:`~agents_ingest.apiclient.TooLarge` splits a
batch, :class:`~agents_ingest.apiclient.RetryLater` backs off, ...) are the shared
``agents_ingest/apiclient.py``: urllib from the standard library, no HTTP dependency.
"""

from __future__ import annotations

import base64
import json

from agents_ingest import wire
from agents_ingest.apiclient import ApiClient, BadRequest, RetryLater

USER_AGENT = "zerg-ship"


class Client(ApiClient):
    #: the device-token ingest endpoint; ``zerg migrate`` with an API token uses /api/migrate/ingest
    ingest_path = "/api/agents/ingest"

    def __init__(self, server: str, token: str, timeout: float = 60.0):
        super().__init__(server, token, timeout, user_agent=USER_AGENT)

    def health(self) -> dict:
        reply = self.open("GET", "/api/health")
        try:
            return json.loads(reply.body)
        except ValueError:
            raise BadRequest(
                reply.status, f"{self.server}/api/health did not answer JSON (is this a Zerg server?)"
            ) from None

    def archive(self) -> dict | None:
        """``GET /api/agents/archive``: the server's archive identity for this device token
        (``agents_ingest/identity.py``), or None from a server older than it (404)."""
        try:
            reply = self.open("GET", "/api/agents/archive")
        except BadRequest:
            return None
        try:
            answer = json.loads(reply.body)
        except ValueError:
            return None
        return answer if isinstance(answer, dict) else None

    def ingest_files(self, device: str, files: list[tuple[dict, bytes]]) -> dict:
        """POST one batch of ``(metadata, raw bytes)`` per file (none: ``zerg connect``'s check)."""
        return self.ingest_body(wire.encode_batch(device, files))

    def ingest_body(self, body: bytes, content_type: str = wire.BATCH_TYPE, encoding: str = "zstd") -> dict:
        """POST a compressed body; the decoded 200 response, or an :class:`~agents_ingest.apiclient.ApiError`."""
        reply = self.open("POST", self.ingest_path, body, {"Content-Type": content_type, "Content-Encoding": encoding})
        try:
            answer = json.loads(reply.body)
        except ValueError:
            raise RetryLater(reply.status, "the server answered without JSON") from None
        if not isinstance(answer, dict):
            raise RetryLater(reply.status, "the server answered with an unexpected document")
        return answer

    def upload_patch(self, device: str, state) -> dict:
        """``POST /api/migrate/patch``: a :class:`~.patch.WorkState` of one cwd (device or API token)."""
        return self.call(
            "POST",
            "/api/migrate/patch",
            {"device": device, **state.meta(), "patch_b64": base64.b64encode(state.patch).decode("ascii")},
        )
