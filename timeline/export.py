"""The original session file, byte for byte, from the source-line archive."""

from __future__ import annotations

from collections.abc import Iterator

from timeline.models import FileLine, Session, SourceFile

PAGE = 1000


def main_file(session: Session) -> SourceFile | None:
    """The file a session was shipped from (the most recently updated if there are several)."""
    return session.files.order_by("-updated_at", "-id").first()


def iter_file_bytes(source: SourceFile, generation: int | None = None) -> Iterator[bytes]:
    """The stored lines of one generation (the current one by default) in file order.

    Reads in pages by offset (keyset), holding no cursor or transaction between pages.
    """
    generation = source.generation if generation is None else generation
    after = -1
    while True:
        rows = list(
            FileLine.objects.filter(file=source, generation=generation, offset__gt=after)
            .order_by("offset").values_list("offset", "line__data")[:PAGE]
        )
        if not rows:
            return
        for offset, data in rows:
            yield bytes(data)
            after = offset


def export_bytes(session: Session) -> bytes:
    source = main_file(session)
    return b"".join(iter_file_bytes(source)) if source else b""
