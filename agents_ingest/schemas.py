"""Response schemas of ``/api/agents`` (the Shipper's ingest) and ``/api/migrate`` (see zerg_site/schemas.py)."""

from __future__ import annotations

from commis.schemas import JobOut
from timeline.schemas import SessionOut
from zerg_site.schemas import Out


class MalformedOut(Out):
    offset: int
    error: str


class FileResultOut(Out):
    """One shipped file: ``acked_offset`` is what the server now holds of it, durably.
    ``stale`` (only when true) and ``ignored`` (only when not empty) appear only when they apply."""

    path: str
    generation: int
    acked_offset: int
    lines_stored: int
    lines_duplicate: int
    events_stored: int
    malformed: list[MalformedOut]
    session_id: int | None
    stale: bool | None = None
    ignored: list[str] | None = None


class ArchiveOut(Out):
    """The archive's identity: another ``id``, or an ``epoch`` not above the last seen, means a restore."""

    id: str
    epoch: int


class IngestResultOut(Out):
    files: list[FileResultOut]
    lines_stored: int
    lines_duplicate: int
    events_stored: int
    lines_malformed: int
    archive: ArchiveOut


class IngestOut(IngestResultOut):
    device: str  # the token's name: the device the files were stored as


# --- /api/migrate


class JobBriefOut(Out):
    id: int
    status: str
    task: str
    branch: str
    base_commit: str
    created_at: str
    finished_at: str | None
    summary: str


class PatchOut(Out):
    id: int
    device: str
    cwd: str
    remote: str
    branch: str
    base_commit: str
    head_commit: str
    size: int
    sha256: str
    updated_at: str


class ContinueOut(Out):
    job: JobOut
    session: SessionOut


class ContinuationsOut(Out):
    session: SessionOut
    can_continue: bool
    active: JobBriefOut | None
    jobs: list[JobBriefOut]
    patch: PatchOut | None


class OriginOut(Out):
    """Where the session was before: ``patch_id`` only once a continuation recorded it."""

    device: str
    cwd: str
    remote: str
    branch: str
    commit: str
    patch_id: int | None = None


class SourceOut(Out):
    session: SessionOut
    provider: str
    provider_session_id: str
    file_name: str
    size: int
    original: OriginOut
    active: JobBriefOut | None
    job: JobBriefOut | None
    diff_b64: str
