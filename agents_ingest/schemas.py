"""Response schemas of ``/api/agents`` (the Shipper's ingest) and of ``/api/migrate``'s ingest side (``/patch``,
``/ingest``); the continuation routes' are in commis/schemas.py (see zerg_site/schemas.py)."""

from __future__ import annotations

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


# --- /api/migrate/patch


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
