"""``/api/migrate``, the ingest side: what ``zerg migrate`` ships before it continues a session.

- ``POST /patch`` (device token or owner) -> store a cwd's uncommitted changes
  (``agents_ingest/shipper/patch.py`` makes them). With a device token the device is the
  token's name (the body's ``device`` is ignored), so a device stores patches only for its
  own directories, and a continuation only ever applies a patch of the session's own device.
- ``POST /ingest`` (owner) -> ``/api/agents/ingest`` for an API token, so ``zerg migrate``
  can ship the session with the same token it starts the continuation with.

Continuing the session (``/api/migrate/sessions/...``) is commis's: ``commis/continuation_api.py``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from django.db import transaction
from django.http import JsonResponse
from ninja import Router, Schema
from ninja.errors import HttpError

from agents_ingest.api import BadRequest, DeviceToken, read_batch
from agents_ingest.ingest import IngestError, ingest_files
from agents_ingest.models import MAX_PATCH, WorkspacePatch
from agents_ingest.schemas import IngestResultOut, PatchOut
from zerg_site.auth.api_auth import OWNER_AUTH
from zerg_site.gitcheck import GitValueError, check_commit, check_remote
from zerg_site.schemas import owner

router = Router(tags=["migrate"])


class PatchIn(Schema):
    device: str = ""
    cwd: str
    remote: str = ""
    branch: str = ""
    base_commit: str
    head_commit: str = ""
    patch_b64: str


def _checked(field: str, check, value: str) -> str:
    try:
        return check(value)
    except GitValueError as exc:
        raise HttpError(400, f"{field}: {exc}") from None


@router.post(
    "/patch",
    auth=[DeviceToken(), *OWNER_AUTH],
    summary="Store a cwd's uncommitted changes (device token)",
    response=owner(PatchOut, 400, 413, 422),
)
def upload_patch(request, body: PatchIn):
    token = getattr(request, "device_token", None)
    # A device token uploads as its own device only (never the body's); the owner may name any.
    device = (token.name if token is not None else body.device).strip()[:100]
    if not device:
        raise HttpError(400, "device is required")
    if not body.cwd.strip() or len(body.cwd) > 4096:
        raise HttpError(400, "cwd must be a path of at most 4096 characters")
    # A continuation clones the remote and checks out base_commit: git must be safe to give them.
    commit = _checked("base_commit", check_commit, body.base_commit)
    head = _checked("head_commit", check_commit, body.head_commit) if body.head_commit.strip() else ""
    remote = _checked("remote", check_remote, body.remote) if body.remote.strip() else ""
    if len(body.patch_b64) > (MAX_PATCH * 4) // 3 + 8:
        raise HttpError(413, f"the patch exceeds {MAX_PATCH} bytes")
    try:
        data = base64.b64decode(body.patch_b64, validate=True)
    except (binascii.Error, ValueError):
        raise HttpError(400, "patch_b64 is not valid base64") from None
    if data.strip() and not data.lstrip().startswith(b"diff --git"):
        raise HttpError(400, "the patch must be the output of git diff --binary")
    with transaction.atomic():
        patch, _ = WorkspacePatch.objects.update_or_create(
            device=device,
            cwd=body.cwd,
            defaults={
                "remote": remote,
                "branch": body.branch[:300],
                "base_commit": commit,
                "head_commit": head,
                "data": data,
                "sha256": hashlib.sha256(data).hexdigest(),
            },
        )
    return patch.as_dict()


@router.post(
    "/ingest",
    summary="Ship session files with an API token (as /api/agents/ingest)",
    response=owner(IngestResultOut, 400, 413, 415),
    exclude_unset=True,
)
def owner_ingest(request):
    try:
        device, chunks = read_batch(request)
        return ingest_files(device or "owner", chunks)
    except BadRequest as exc:
        return JsonResponse({"detail": exc.detail}, status=exc.status)
    except IngestError as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
