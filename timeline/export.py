"""The original session file, byte for byte, from the source-line archive."""

from __future__ import annotations

from collections.abc import Iterator

from timeline.chunks import decompress
from timeline.models import Session, SourceChunk, SourceFile
from zerg_site.devices import COMMIS_DEVICE

PAGE = 16  # chunks per query (at most 1 MiB each once decompressed)


def main_file(session: Session) -> SourceFile | None:
    """The file a session was shipped from (the most recently updated if there are several): one of the
    session's own device, or of a commis continuation on this server. What "Continue on server" resumes
    and ``zerg pull`` writes back is never another device's file (one linked to the session before
    sessions were kept apart per device)."""
    own = session.files.filter(device__in=[session.device, COMMIS_DEVICE])
    return own.order_by("-updated_at", "-id").first()


def iter_file_bytes(source: SourceFile, generation: int | None = None) -> Iterator[bytes]:
    """The stored bytes of one generation (the current one by default) in file order, a chunk at a time.

    Reads in pages by offset (keyset), holding no cursor or transaction between pages.
    """
    generation = source.generation if generation is None else generation
    after = -1
    while True:
        rows = list(
            SourceChunk.objects.filter(file=source, generation=generation, superseded=False, offset__gt=after)
            .order_by("offset")
            .values_list("offset", "data")[:PAGE]
        )
        if not rows:
            return
        for offset, data in rows:
            yield decompress(bytes(data))
            after = offset


def export_bytes(session: Session) -> bytes:
    source = main_file(session)
    return b"".join(iter_file_bytes(source)) if source else b""
