"""``/api/migrate/sessions``: continue a local Claude Code / Codex session on the server as a commis job.

- ``POST /sessions/{id}/continue`` ``{"prompt", "workspace": auto|clone|cwd|scratch, "patch_id"}``
  -> the commis job (``commis/continuation.py``); 409 while another continuation of the
  session is queued or running; 400 for a session that cannot be resumed.
- ``GET /sessions/{id}`` -> ``{"session", "active": job|null, "jobs": [...], "patch": {...}|null}``.
- ``GET /sessions/{id}/source`` -> what ``zerg pull`` needs: the CLI session id, the file
  name, the original workspace, the latest continuation and its ``diff.patch``
  (base64). The file itself is ``GET /api/timeline/sessions/{id}/export``.

These are commis's routes (they start and read commis jobs), mounted beside the ingest side's
``/api/migrate/patch`` and ``/api/migrate/ingest`` (``agents_ingest/migrate_api.py``) so that
agents_ingest never imports commis (tests/system/test_architecture.py). The operation ids are pinned to
the ones they had there: ``frontend/openapi.json`` and the SPA's generated types stay the same.

``{id}`` is Zerg's session id or the provider's, as in ``/api/timeline``; ``?device=NAME`` picks
that device's session when several devices shipped the same provider id (``zerg migrate`` and
``zerg pull`` send theirs).
"""

from __future__ import annotations

import base64
from pathlib import Path

from ninja import Router, Schema
from ninja.errors import HttpError

from commis.continuation import (
    PROVIDERS,
    ContinuationError,
    active_job,
    codex_file_name,
    jobs_for,
    latest_patch,
    start,
)
from commis.schemas import ContinuationsOut, ContinueOut, SourceOut
from timeline.api import get_session
from timeline.export import main_file
from zerg_site.schemas import owner

router = Router(tags=["migrate"])

#: where these routes lived before (ninja names an operation after its module and function)
_OPERATION_PREFIX = "agents_ingest_migrate_api_"


class ContinueIn(Schema):
    prompt: str = ""
    workspace: str = "auto"
    patch_id: int | None = None
    timeout: int | None = None


@router.post(
    "/sessions/{session_id}/continue",
    summary="Continue a Claude Code / Codex session as a commis job",
    response=owner(ContinueOut, 400, 404, 409, 422),
    operation_id=_OPERATION_PREFIX + "continue_session",
)
def continue_session(request, session_id: str, body: ContinueIn, device: str | None = None):
    session = get_session(session_id, device)
    if not session.event_count:  # a parent file left empty (or never shipped): its subagents hold the work
        raise HttpError(
            400,
            "this session holds no events of its own, so there is nothing to resume: "
            "open one of its subagents in the Timeline",
        )
    if body.timeout is not None and body.timeout < 1:
        raise HttpError(400, "timeout must be at least 1 second")
    try:
        job = start(
            session, body.prompt, workspace=body.workspace, patch_id=body.patch_id, origin="owner", timeout=body.timeout
        )
    except ContinuationError as exc:
        raise HttpError(exc.status, str(exc)) from None
    return {"job": job.as_dict(), "session": session.as_dict()}


def _job_brief(job) -> dict:
    return {
        "id": job.id,
        "status": job.status,
        "task": job.task[:300],
        "branch": job.branch,
        "base_commit": job.base_commit,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "summary": job.summary[:500],
    }


@router.get(
    "/sessions/{session_id}",
    summary="Continuations of a session",
    response=owner(ContinuationsOut, 404, 409),
    operation_id=_OPERATION_PREFIX + "continuations",
)
def continuations(request, session_id: str):
    session = get_session(session_id)
    active = active_job(session)
    patch = latest_patch(session)
    return {
        "session": session.as_dict(),
        "can_continue": session.provider in PROVIDERS and not session.parent_id and session.event_count > 0,
        "active": _job_brief(active) if active else None,
        "jobs": [_job_brief(j) for j in jobs_for(session)],
        "patch": patch.as_dict() if patch else None,
    }


@router.get(
    "/sessions/{session_id}/source",
    summary="What `zerg pull` needs to resume a session locally",
    response=owner(SourceOut, 404, 409),
    exclude_unset=True,
    operation_id=_OPERATION_PREFIX + "source",
)
def source(request, session_id: str, device: str | None = None):
    session = get_session(session_id, device)
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
        "file_name": (
            codex_file_name(session, main.path if main else "")
            if session.provider == "codex"
            else f"{session.provider_session_id}.jsonl"
        ),
        "size": main.size if main else 0,
        "original": original
        or {
            "device": session.device,
            "cwd": session.cwd,
            "remote": session.git_remote,
            "branch": session.git_branch,
            "commit": session.git_commit,
        },
        "active": _job_brief(active) if active else None,
        "job": _job_brief(last) if last else None,
        "diff_b64": base64.b64encode(diff).decode("ascii"),
    }
