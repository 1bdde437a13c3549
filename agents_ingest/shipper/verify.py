"""Noticing that the server lost what it acknowledged (a restore), and re-verifying every file.

The Shipper sends each file only from the offset the server acknowledged. A server put
back to an older database (``zerg restore``, Litestream, pg_restore) no longer holds
what it acknowledged since, and a file that does not grow again would never be sent
again. The server names its state ``{"id", "epoch"}`` (``agents_ingest/identity.py``):
the id changes with ``zerg restore``, and the epoch counts this device's committed ingest
requests, so any restore takes it back. shipper.db records the last pair seen
(settings ``archive_id`` / ``archive_epoch``).

:meth:`ArchiveWatch.check` runs before every full pass (``GET /api/agents/archive``) and
:meth:`ArchiveWatch.seen` reads every ingest response. Another id, an epoch below the
recorded one (GET) or not above it (a response to a request of ours), or no recorded id
yet while files have acknowledged offsets (a Shipper older than this check): the Shipper
re-verifies. It asks the server what it holds of each file it has acknowledged offsets
for, with one zero-length entry per file at that offset (the ingest answers the end of
what it holds contiguously; a probe stores nothing), and moves each file back to that end,
from where the next pass sends the rest: the cost is one small entry per file, not the
data. Only then is the new pair recorded, so a re-verification cut short runs again.
"""

from __future__ import annotations

import os

from agents_ingest.apiclient import BadRequest, TooLarge

from . import tail
from .state import FileState

PROBE_FILES = 500  # zero-length entries per request


def _mark(value) -> tuple[str, int] | None:
    """``(id, epoch)`` from a server's ``archive`` document, or None (a server older than it)."""
    if not isinstance(value, dict):
        return None
    ident, epoch = value.get("id"), value.get("epoch")
    if not isinstance(ident, str) or not ident or isinstance(epoch, bool) or not isinstance(epoch, int):
        return None
    return ident, epoch


class ArchiveWatch:
    def __init__(self, shipper):
        self.shipper = shipper
        self.known: tuple[str, int] | None = None  # the last pair this process saw
        self.lost = False  # an ingest response showed the server lost state: re-verify at the end of the pass
        self.reverified = 0  # re-verifications done (for the log and the tests)

    # --- what shipper.db recorded

    def recorded(self) -> tuple[str | None, int]:
        state = self.shipper.state
        try:
            epoch = int(state.get("archive_epoch") or 0)
        except ValueError:
            epoch = 0
        return state.get("archive_id"), epoch

    def remember(self, mark: tuple[str, int], replace: bool = False) -> None:
        """Record the pair; unless ``replace`` (after a re-verification) an epoch only grows: another
        Shipper process on this shipper.db may have seen a later one."""
        ident, epoch = self.recorded()
        epoch = mark[1] if replace or ident != mark[0] else max(epoch, mark[1])
        self.known = (mark[0], epoch)
        self.shipper.state.set(archive_id=mark[0], archive_epoch=str(epoch))

    # --- the two checks

    def check(self) -> None:
        """Before a full pass: re-verify if the server's identity says it lost state."""
        mark = _mark(self.shipper.client.archive())
        if mark is None:
            return  # a server without archive identities: nothing to compare
        ident, epoch = self.recorded()
        if self.lost or ident != mark[0] or mark[1] < epoch:
            if ident is None:
                why = "first check of the server's archive identity"
            elif ident != mark[0]:
                why = "the server's archive has a new identity (restored from a backup?)"
            else:
                why = f"the server's archive went back from epoch {epoch} to {mark[1]} (restored?)"
            self.reverify(mark, why)
        else:
            self.remember(mark)

    def seen(self, value) -> None:
        """An ingest response's ``archive``: not above what we saw before means acknowledged data is gone."""
        mark = _mark(value)
        if mark is None:
            return
        base = self.known
        if base is None:
            ident, epoch = self.recorded()
            base = (ident, epoch) if ident else None
        if base is None:
            self.remember(mark)
        elif mark[0] != base[0] or mark[1] <= base[1]:
            self.lost = True
        elif not self.lost:
            self.remember(mark)

    # --- re-verification

    def reverify(self, mark: tuple[str, int] | None, why: str) -> None:
        """Ask the server what it holds of every acknowledged file; move each back to that."""
        files = [
            fs for fs in self.shipper.state.files() if (fs.acked_offset > 0 or fs.doc_hash) and os.path.exists(fs.path)
        ]
        if files:
            self.shipper.log(f"{why}: checking what it holds of {len(files)} files")
        rewound: list[str] = []
        for start in range(0, len(files), PROBE_FILES):
            mark = self._probe(files[start : start + PROBE_FILES], rewound) or mark
        if mark is None:
            mark = _mark(self.shipper.client.archive())
        if mark is not None:
            self.remember(mark, replace=True)
        self.lost = False
        self.reverified += 1
        if files:
            self.shipper.log(f"the server is missing data of {len(rewound)} of {len(files)} files: sending it again")

    def _probe(self, group: list[FileState], rewound: list[str]) -> tuple[str, int] | None:
        metas = [
            (
                {
                    "provider": fs.provider,
                    "path": fs.path,
                    "generation": fs.generation,
                    "offset": 0 if fs.provider == "gemini" else fs.acked_offset,
                    "git": None,
                    "parent_session": fs.parent_session,
                },
                b"",
            )
            for fs in group
        ]
        try:
            answer = self.shipper.client.ingest_files(self.shipper.device, metas)
        except (BadRequest, TooLarge) as exc:  # split the group to find the file, or fit the server's limit
            if len(group) == 1:
                self.shipper.log(f"{group[0].path}: cannot check it on the server: {exc}")
                return None
            half = len(group) // 2
            first = self._probe(group[:half], rewound)
            return self._probe(group[half:], rewound) or first
        self.shipper.stats.requests += 1
        results = {(r.get("path"), r.get("generation")): r for r in answer.get("files") or [] if isinstance(r, dict)}
        state = self.shipper.state
        with state.db:
            state.db.execute("BEGIN IMMEDIATE")
            for fs in group:
                result = results.get((fs.path, fs.generation))
                if result is not None and self._rewind(fs, result):
                    state.save(fs)
                    rewound.append(fs.path)
        return _mark(answer.get("archive"))

    @staticmethod
    def _rewind(fs: FileState, result: dict) -> bool:
        """Move ``fs`` back to what the server says it holds; True if it changed."""
        acked = result.get("acked_offset")
        if result.get("stale"):  # the server has a newer generation: climb above it, send it all again
            fs.generation += 1
            fs.acked_offset = fs.queued_offset = 0
            fs.head_hash = fs.tail_hash = fs.doc_hash = None
            fs.size = fs.mtime_ns = -1
            return True
        if isinstance(acked, bool) or not isinstance(acked, int) or acked >= fs.acked_offset:
            return False
        if fs.provider == "gemini":  # the document is sent whole again
            fs.acked_offset = fs.queued_offset = 0
            fs.doc_hash = None
            fs.size = fs.mtime_ns = -1
            return True
        seen = tail.file_size(fs.path)
        if seen is None or tail.rewritten(fs.path, seen[0], fs.acked_offset, fs.head_hash, fs.tail_hash):
            return False  # changed on disk since: the next pass ships it as a new generation anyway
        fs.acked_offset = fs.queued_offset = max(0, acked)
        fs.head_hash, fs.tail_hash = tail.fingerprints(fs.path, fs.acked_offset)
        return True
