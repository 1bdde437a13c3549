"""What the storage API takes and gives back: a file's new bytes, and what was stored of them.

The ingest (``agents_ingest``) reads a request into :class:`FileChunk` entries, parses each into a
:class:`PreparedFile` (no database access), and hands those to :func:`timeline.storage.store`, which
answers a :class:`FileResult` per entry (the response document's ``files``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FileChunk:
    provider: str
    path: str
    data: bytes
    offset: int = 0
    generation: int = 0
    git: dict | None = None
    parent_session: str | None = None
    # The Timeline session (its id) the file's lines are added to, whichever device's: only for a trusted,
    # in-process caller (a commis continuation adds its turns to the session it continues). The HTTP API
    # never sets it: a device's files go to that device's own sessions.
    session: int | None = None


@dataclass
class FileResult:
    path: str
    generation: int
    acked_offset: int = 0
    lines_stored: int = 0
    lines_duplicate: int = 0
    events_stored: int = 0
    malformed: list = field(default_factory=list)
    session_id: int | None = None
    stale: bool = False
    ignored: list = field(default_factory=list)  # what of the file's metadata was not stored, and why

    def as_dict(self) -> dict:
        out = {
            "path": self.path,
            "generation": self.generation,
            "acked_offset": self.acked_offset,
            "lines_stored": self.lines_stored,
            "lines_duplicate": self.lines_duplicate,
            "events_stored": self.events_stored,
            "malformed": [{"offset": o, "error": e} for o, e in self.malformed],
            "session_id": self.session_id,
        }
        if self.stale:
            out["stale"] = True
        if self.ignored:
            out["ignored"] = self.ignored
        return out


@dataclass
class PreparedFile:
    """One file entry read, parsed and compressed before the transaction (no database access)."""

    chunk: FileChunk
    complete: int  # bytes of complete lines (Gemini: the whole document)
    pieces: list  # (raw line, offset)
    events: list  # (ParsedEvent, key, index of its piece)
    meta: object  # agents_ingest.parsers.SessionMeta
    runs: list  # the pieces as archive chunks, if all of them turn out new (archive.Run)
