"""``/api/migrate``: continue a local Claude Code / Codex session on the server, and hand it back.

- ``POST /sessions/{id}/continue`` ``{"prompt", "workspace": auto|clone|cwd|scratch, "patch_id"}``
  -> the commis job (``commis/continuation.py``); 409 while another continuation of the
  session is queued or running; 400 for a session that cannot be resumed.
- ``GET /sessions/{id}`` -> ``{"session", "active": job|null, "jobs": [...], "patch": {...}|null}``.
- ``GET /sessions/{id}/source`` -> what ``zerg pull`` needs: the CLI session id, the file
  name, the original workspace, the latest continuation and its ``diff.patch``
  (base64). The file itself is ``GET /api/timeline/sessions/{id}/export``.
- ``POST /patch`` (device token or owner) -> store a cwd's uncommitted changes
  (``agents_ingest/shipper/patch.py`` makes them). With a device token the device is the
  token's name (the body's ``device`` is ignored), so a device stores patches only for its
  own directories, and a continuation only ever applies a patch of the session's own device.
- ``POST /ingest`` (owner) -> ``/api/agents/ingest`` for an API token, so ``zerg migrate``
  can ship the session with the same token it starts the continuation with.

``{id}`` is Zerg's session id or the provider's, as in ``/api/timeline``; ``?device=NAME`` picks
that device's session when several devices shipped the same provider id (``zerg migrate`` and
``zerg pull`` send theirs).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path

from django.db import transaction
from django.http import JsonResponse
from ninja import Router, Schema
from ninja.errors import HttpError

from agents_ingest.api import BadRequest, DeviceToken, read_batch
from agents_ingest.ingest import IngestError, ingest_files
from agents_ingest.models import MAX_PATCH, WorkspacePatch
from agents_ingest.schemas import (
    ContinuationsOut,
    ContinueOut,
    IngestResultOut,
    PatchOut,
    SourceOut,
)
from zerg_site.auth.api_auth import OWNER_AUTH
from zerg_site.gitcheck import GitValueError, check_commit, check_remote
from zerg_site.schemas import owner

router = Router(tags=["migrate"])


def _session(session_id: str, device: str | None = None):
    from timeline.api import get_session

    return get_session(session_id, device)


class ContinueIn(Schema):
    prompt: str = ""
    workspace: str = "auto"
    patch_id: int | None = None
    timeout: int | None = None


@router.post("/sessions/{session_id}/continue", summary="Continue a Claude Code / Codex session as a commis job",
             response=owner(ContinueOut, 400, 404, 409, 422))
def continue_session(request, session_id: str, body: ContinueIn, device: str | None = None):
    from commis.continuation import ContinuationError, start

    session = _session(session_id, device)
    if not session.event_count:  # a parent file left empty (or never shipped): its subagents hold the work
        raise HttpError(400, "this session holds no events of its own, so there is nothing to resume: "
                             "open one of its subagents in the Timeline")
    if body.timeout is not None and body.timeout < 1:
        raise HttpError(400, "timeout must be at least 1 second")
    try:
        job = start(session, body.prompt, workspace=body.workspace, patch_id=body.patch_id, origin="owner",
                    timeout=body.timeout)
    except ContinuationError as exc:
        raise HttpError(exc.status, str(exc)) from None
    return {"job": job.as_dict(), "session": session.as_dict()}


def _job_brief(job) -> dict:
    return {"id": job.id, "status": job.status, "task": job.task[:300], "branch": job.branch,
            "base_commit": job.base_commit, "created_at": job.created_at.isoformat(),
            "finished_at": job.finished_at.isoformat() if job.finished_at else None, "summary": job.summary[:500]}


@router.get("/sessions/{session_id}", summary="Continuations of a session",
            response=owner(ContinuationsOut, 404, 409))
def continuations(request, session_id: str):
    from commis.continuation import PROVIDERS, active_job, jobs_for, latest_patch

    session = _session(session_id)
    active = active_job(session)
    patch = latest_patch(session)
    return {"session": session.as_dict(), "can_continue": session.provider in PROVIDERS and not session.parent_id
            and session.event_count > 0,
            "active": _job_brief(active) if active else None, "jobs": [_job_brief(j) for j in jobs_for(session)],
            "patch": patch.as_dict() if patch else None}


@router.get("/sessions/{session_id}/source", summary="What `zerg pull` needs to resume a session locally",
            response=owner(SourceOut, 404, 409), exclude_unset=True)
def source(request, session_id: str, device: str | None = None):
    from commis.continuation import active_job, codex_file_name, jobs_for
    from timeline.export import main_file

    session = _session(session_id, device)
    main = main_file(session)
    last = next(iter(jobs_for(session, 1)), None)
    diff = b""
    if last is not None and last.artifacts_dir:
        path = Path(last.artifacts_dir) / "diff.patch"
        diff = path.read_bytes() if path.is_file() else b""
    original = (last.options or {}).get("continue_from") if last else None
    active = active_job(session)
    return {
        "session": session.as_dict(),
        "provider": session.provider,
        "provider_session_id": session.provider_session_id,
        "file_name": (codex_file_name(session, main.path if main else "") if session.provider == "codex"
                      else f"{session.provider_session_id}.jsonl"),
        "size": main.size if main else 0,
        "original": original or {"device": session.device, "cwd": session.cwd, "remote": session.git_remote,
                                 "branch": session.git_branch, "commit": session.git_commit},
        "active": _job_brief(active) if active else None,
        "job": _job_brief(last) if last else None,
        "diff_b64": base64.b64encode(diff).decode("ascii"),
    }


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


@router.post("/patch", auth=[DeviceToken(), *OWNER_AUTH], summary="Store a cwd's uncommitted changes (device token)",
             response=owner(PatchOut, 400, 413, 422))
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
            device=device, cwd=body.cwd, defaults={
                "remote": remote, "branch": body.branch[:300], "base_commit": commit,
                "head_commit": head, "data": data, "sha256": hashlib.sha256(data).hexdigest()})
    return patch.as_dict()


@router.post("/ingest", summary="Ship session files with an API token (as /api/agents/ingest)",
             response=owner(IngestResultOut, 400, 413, 415), exclude_unset=True)
def owner_ingest(request):
    try:
        device, chunks = read_batch(request)
        return ingest_files(device or "owner", chunks)
    except BadRequest as exc:
        return JsonResponse({"detail": exc.detail}, status=exc.status)
    except IngestError as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
