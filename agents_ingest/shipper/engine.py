"""The shipping loop: find what is new, send it in bounded batches, record what the server stored.

One *pass* refreshes the files (stat, rewrite check), then repeatedly builds a batch of
at most ``max_batch_bytes`` of complete lines (per file from its acknowledged offset),
marks the batch's ranges as queued, POSTs it and moves each file's acknowledged offset
to what the response's ``acked_offset`` says. Nothing but the batch in flight is ever
held in memory; when the server is unreachable the pass ends, the in-memory batch is
dropped and the next attempt rebuilds it from the pointers in shipper.db.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from agents_ingest.apiclient import BadRequest, RetryLater, TooLarge

from . import sources, tail
from .client import Client
from .patch import PatchUploader
from .state import FileState, State
from .verify import ArchiveWatch

DEFAULT_BATCH_BYTES = 4 << 20  # raw bytes of file data per request
MAX_FILES_PER_BATCH = 100


@dataclass
class Item:
    """One file's range in a batch (the data is held only while the batch is in flight)."""

    fs: FileState
    offset: int
    data: bytes
    git: dict | None = None

    @property
    def end(self) -> int:
        return self.offset + len(self.data)

    def meta(self) -> dict:
        """The file's fields on the wire, all but its data."""
        return {
            "provider": self.fs.provider,
            "path": self.fs.path,
            "generation": self.fs.generation,
            "offset": self.offset,
            "git": self.git,
            "parent_session": self.fs.parent_session,
        }


@dataclass
class Stats:
    batches: int = 0
    requests: int = 0
    bytes_sent: int = 0
    files_touched: set = field(default_factory=set)
    lines_stored: int = 0
    lines_duplicate: int = 0
    events_stored: int = 0
    malformed: int = 0
    rewrites: int = 0
    blocked: list = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.files_touched)} files, {self.bytes_sent} bytes in {self.batches} batches; "
            f"server stored {self.lines_stored} lines ({self.lines_duplicate} duplicates, "
            f"{self.events_stored} events, {self.malformed} malformed)"
        )


def default_device() -> str:
    return socket.gethostname() or "unknown"


class GitCache:
    """remote/branch/commit of a cwd via ``git -C``; cached for ``ttl`` seconds."""

    def __init__(self, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[str, tuple[float, dict | None]] = {}

    def _git(self, cwd: str, *args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", cwd, *args],
                capture_output=True,
                text=True,
                timeout=5,
                env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
            )
        except (OSError, subprocess.SubprocessError):
            return None
        value = done.stdout.strip()
        return value if done.returncode == 0 and value else None

    def lookup(self, cwd: str | None) -> dict | None:
        if not cwd or not os.path.isdir(cwd):
            return None
        hit = self._cache.get(cwd)
        if hit and self.clock() - hit[0] < self.ttl:
            return hit[1]
        info = None
        if self._git(cwd, "rev-parse", "--is-inside-work-tree") == "true":
            info = {
                "remote": self._git(cwd, "remote", "get-url", "origin"),
                "branch": self._git(cwd, "rev-parse", "--abbrev-ref", "HEAD"),
                "commit": self._git(cwd, "rev-parse", "HEAD"),
            }
        self._cache[cwd] = (self.clock(), info)
        return info


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Shipper:
    def __init__(
        self,
        state: State,
        client: Client,
        device: str,
        *,
        max_batch_bytes: int = DEFAULT_BATCH_BYTES,
        max_files: int = MAX_FILES_PER_BATCH,
        sleep: Callable[[float], None] = time.sleep,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        log: Callable[[str], None] | None = None,
        patches: bool = True,
    ):
        self.state = state
        self.client = client
        self.device = device
        self.max_batch_bytes = max_batch_bytes
        self.max_files = max_files
        self.sleep = sleep
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.log = log or (lambda message: None)
        self.git = GitCache()
        # the uncommitted changes of the cwds of active sessions, for session migration
        self.patches = PatchUploader(state, client, device, self.log) if patches else None
        self.stats = Stats()
        self.failures = 0  # consecutive RetryLater since the last success
        self.rewound: set[str] = set()  # files sent again from an earlier offset in this pass
        self.archive = ArchiveWatch(self)  # notices a server that lost what it acknowledged (verify.py)

    # --- refreshing one file's state from the disk

    def refresh(self, provider: str, path: Path | str) -> FileState | None:
        """Load/create the file's row, notice a rewrite; the row if it may have work."""
        path = str(path)
        seen = tail.file_size(path)
        if seen is None:
            return None
        size, mtime_ns = seen
        fs = self.state.file(path)
        if fs is None:
            fs = FileState(path=path, provider=provider)
            if provider == "claude":
                fs.parent_session = sources.parent_session_from_path(Path(path))
            self.state.save(fs)
        if provider == "gemini":
            return fs if (size, mtime_ns) != (fs.size, fs.mtime_ns) or fs.doc_hash is None else None
        if (size, mtime_ns) == (fs.size, fs.mtime_ns) and fs.acked_offset >= size:
            return None
        if tail.rewritten(path, size, fs.acked_offset, fs.head_hash, fs.tail_hash):
            self.log(
                f"{path}: rewritten (size {size}, had acknowledged {fs.acked_offset}); "
                f"shipping it again as generation {fs.generation + 1}"
            )
            fs.generation += 1
            fs.acked_offset = fs.queued_offset = 0
            fs.head_hash = fs.tail_hash = None
            self.stats.rewrites += 1
        fs.size, fs.mtime_ns = size, mtime_ns
        self.state.save(fs)
        return fs if size > fs.acked_offset else None

    # --- building batches

    def _read_item(self, fs: FileState, budget: int) -> Item | None:
        if fs.provider == "gemini":
            return self._read_gemini(fs)
        try:
            data = tail.read_complete(fs.path, fs.acked_offset, budget)
        except OSError as exc:
            self.log(f"{fs.path}: cannot read it: {exc}")
            return None
        if not data:
            return None
        changed = False
        if fs.acked_offset == 0 and fs.provider == "claude" and fs.parent_session is None:
            if sources.is_old_subagent(Path(fs.path)):
                first = tail.first_record(data) or {}
                if isinstance(first.get("sessionId"), str):
                    fs.parent_session = first["sessionId"]
                    changed = True
        if fs.session_cwd is None and b'"cwd"' in data:
            fs.session_cwd = tail.find_cwd(fs.provider, data)
            changed = changed or fs.session_cwd is not None
        if changed:
            self.state.save(fs)
        return Item(fs, fs.acked_offset, data, self.git.lookup(fs.session_cwd))

    def _read_gemini(self, fs: FileState) -> Item | None:
        seen = tail.file_size(fs.path)
        try:
            with open(fs.path, "rb") as handle:
                data = handle.read()
        except OSError:
            return None
        try:
            json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return None  # being written: wait for a whole document
        except RecursionError:
            pass  # whole but nested too deeply to read here: the server keeps it raw, counted malformed
        digest = _sha(data)
        if digest == fs.doc_hash:
            if seen:
                fs.size, fs.mtime_ns = seen
            self.state.save(fs)
            return None
        if fs.doc_hash is not None:  # a new version of a document the server has
            fs.generation += 1
            fs.doc_hash = None
            fs.acked_offset = fs.queued_offset = 0
            self.stats.rewrites += 1
            self.state.save(fs)
        item = Item(fs, 0, data, None)
        item.doc_stat = seen  # type: ignore[attr-defined]
        return item

    def batches(self, files: list[FileState]) -> Iterable[list[Item]]:
        """Batches of at most ``max_batch_bytes`` (plus one overlong line), one range per file."""
        batch: list[Item] = []
        used = 0
        for fs in files:
            if used and (self.max_batch_bytes - used < self.max_batch_bytes // 8 or len(batch) >= self.max_files):
                yield batch
                batch, used = [], 0
            item = self._read_item(fs, self.max_batch_bytes - used)
            if item is None:
                continue
            batch.append(item)
            used += len(item.data)
        if batch:
            yield batch

    # --- sending

    def _queue(self, items: list[Item]) -> None:
        with self.state.db:
            self.state.db.execute("BEGIN IMMEDIATE")
            for item in items:
                item.fs.queued_offset = max(item.fs.queued_offset, item.end)
                self.state.save(item.fs)

    def send(self, items: list[Item]) -> None:
        """POST the batch; split it on 413; record the acks. RetryLater propagates."""
        self._queue(items)
        self.stats.requests += 1
        try:
            answer = self.client.ingest_files(self.device, [(item.meta(), item.data) for item in items])
        except TooLarge:
            self._split(items)
            return
        except BadRequest as exc:
            if len(items) > 1:  # isolate the file the server objects to
                half = len(items) // 2
                self.send(items[:half])
                self.send(items[half:])
            else:
                self._block(items[0], f"the server rejected it: {exc}")
            return
        self.stats.batches += 1
        self.stats.bytes_sent += sum(len(item.data) for item in items)
        self.failures = 0
        self.apply_ack(items, answer)
        self.archive.seen(answer.get("archive"))

    def _split(self, items: list[Item]) -> None:
        if len(items) > 1:
            half = len(items) // 2
            self.log(f"server said 413: splitting a batch of {len(items)} files")
            self.send(items[:half])
            self.send(items[half:])
            return
        item = items[0]
        data = item.data
        if item.fs.provider != "gemini":
            middle = data.rfind(b"\n", 0, len(data) // 2 + 1)
            if middle < 0:
                middle = data.find(b"\n", len(data) // 2)
            if 0 <= middle < len(data) - 1:
                first, second = data[: middle + 1], data[middle + 1 :]
                self.log(f"server said 413: splitting {len(data)} bytes of {item.fs.path}")
                self.send([Item(item.fs, item.offset, first, item.git)])
                if item.fs.acked_offset >= item.offset + len(first):
                    self.send([Item(item.fs, item.offset + len(first), second, item.git)])
                return
        self._block(
            item,
            f"a single record of {len(data)} bytes is larger than the server accepts (413); "
            "raise [server] max_upload_mb (ZERG_MAX_UPLOAD_MB) on the server, then ship again",
        )

    def _block(self, item: Item, reason: str) -> None:
        self.log(f"{item.fs.path}: {reason}")
        item.fs.last_error = reason
        self.state.save(item.fs)
        if item.fs.path not in self.stats.blocked:
            self.stats.blocked.append(item.fs.path)

    def _slice(self, item: Item, start: int, end: int) -> bytes:
        """File bytes [start, end): from the batch's data where it covers them, else the disk."""
        parts = []
        if start < item.offset:
            with open(item.fs.path, "rb") as handle:
                handle.seek(start)
                parts.append(handle.read(min(end, item.offset) - start))
            start = item.offset
        if start < end:
            parts.append(item.data[start - item.offset : end - item.offset])
        return b"".join(parts)

    def apply_ack(self, items: list[Item], answer: dict) -> None:
        """Move each file's acknowledged offset to the response's ``acked_offset``."""
        by_key = {(item.fs.path, item.fs.generation): item for item in items}
        for key in ("lines_stored", "lines_duplicate", "events_stored"):
            value = answer.get(key)
            if isinstance(value, int):
                setattr(self.stats, key, getattr(self.stats, key) + value)
        with self.state.db:
            self.state.db.execute("BEGIN IMMEDIATE")
            for result in answer.get("files") or []:
                if not isinstance(result, dict):
                    continue
                item = by_key.get((result.get("path"), result.get("generation")))
                acked = result.get("acked_offset")
                if item is None or not isinstance(acked, int):
                    continue
                self.stats.malformed += len(result.get("malformed") or [])
                fs = item.fs
                self.stats.files_touched.add(fs.path)
                fs.last_error = None
                if result.get("stale"):
                    # The server has a newer generation of this path (shipper.db was lost or
                    # reset): nothing was stored. Climb above it and send the file again.
                    self.log(
                        f"{fs.path}: the server has a newer generation than {fs.generation}; sending the file again"
                    )
                    fs.generation += 1
                    fs.acked_offset = fs.queued_offset = 0
                    fs.head_hash = fs.tail_hash = fs.doc_hash = None
                    fs.size = fs.mtime_ns = -1
                    self.state.save(fs)
                    self.rewound.add(fs.path)
                    continue
                if fs.provider == "gemini":
                    if acked >= len(item.data):
                        fs.acked_offset = len(item.data)
                        fs.queued_offset = max(fs.queued_offset, fs.acked_offset)
                        fs.doc_hash = _sha(item.data)
                        stat = getattr(item, "doc_stat", None)
                        if stat:
                            fs.size, fs.mtime_ns = stat
                    self.state.save(fs)
                    continue
                acked = min(acked, item.end)
                if acked < item.offset:
                    # The server holds less than it once acknowledged (restored from a backup?):
                    # go back to what it has and send the rest again.
                    self.log(f"{fs.path}: the server holds {acked} bytes, not {item.offset}; sending the rest again")
                    fs.acked_offset = acked
                    fs.queued_offset = max(fs.queued_offset, acked)
                    fs.head_hash = _sha(self._slice(item, 0, min(tail.HEAD_BYTES, acked)))
                    fs.tail_hash = _sha(self._slice(item, max(0, acked - tail.TAIL_BYTES), acked))
                    self.state.save(fs)
                    self.rewound.add(fs.path)
                    continue
                if acked <= fs.acked_offset:
                    self.state.save(fs)
                    continue
                old = fs.acked_offset
                if old < tail.HEAD_BYTES or fs.head_hash is None:
                    fs.head_hash = _sha(self._slice(item, 0, min(tail.HEAD_BYTES, acked)))
                fs.tail_hash = _sha(self._slice(item, max(0, acked - tail.TAIL_BYTES), acked))
                fs.acked_offset = acked
                self.state.save(fs)

    # --- passes

    def targets(self, paths: Iterable[Path] | None = None) -> list[FileState]:
        if paths is None:
            found = list(sources.discover())
        else:
            found = [(sources.classify(Path(p)), Path(p)) for p in paths]
        work = []
        for provider, path in found:
            if provider is None:
                continue
            fs = self.refresh(provider, path)
            if fs is not None:
                work.append(fs)
        return work

    def ship_pass(self, paths: Iterable[Path] | None = None, *, _again: bool = False) -> None:
        """Ship everything new in ``paths`` (default: every source file). RetryLater propagates.

        A full pass first checks the server's archive identity; when the server turns out to
        have lost acknowledged data, every file is re-verified and the rest shipped again."""
        if paths is None:
            self.archive.check()
        work = self.targets(paths)
        shipped = list(work)
        blocked: set[str] = set()
        rewinds: dict[str, int] = {}
        while work:
            progressed = False
            self.rewound.clear()
            for batch in self.batches(work):
                before = {item.fs.path: item.fs.acked_offset for item in batch}
                self.send(batch)
                for item in batch:
                    if item.fs.path in self.rewound and rewinds.get(item.fs.path, 0) < 10:
                        rewinds[item.fs.path] = rewinds.get(item.fs.path, 0) + 1
                        progressed = True
                    elif item.fs.acked_offset > before[item.fs.path] or (
                        item.fs.provider == "gemini" and item.fs.doc_hash is not None
                    ):
                        progressed = True
                    else:
                        blocked.add(item.fs.path)  # no progress: leave it for the next pass
            if not progressed:
                break
            work = [
                fs
                for fs in work
                if fs.path not in blocked
                and fs.path not in self.stats.blocked
                and (fs.path in self.rewound or (fs.provider != "gemini" and fs.size > fs.acked_offset))
            ]
        if self.patches is not None:
            self.patches.upload_recent(shipped)
        if self.archive.lost and not _again:  # a response showed the server lost data: check every file
            self.ship_pass(_again=True)

    def backoff_delay(self, exc: RetryLater) -> float:
        if exc.retry_after is not None:
            return min(exc.retry_after, 3600.0)
        delay = min(self.backoff_max, self.backoff_base * (2 ** max(0, self.failures - 1)))
        return delay * (0.75 + random.random() * 0.25)

    def run_once(self, attempts: int = 6) -> bool:
        """Ship everything new, retrying unreachable-server errors; True when all got through."""
        while True:
            try:
                self.ship_pass()
                return True
            except RetryLater as exc:
                self.failures += 1
                if self.failures >= attempts:
                    self.log(f"giving up for now: {exc}")
                    return False
                delay = self.backoff_delay(exc)
                self.log(f"{exc}; retrying in {delay:.1f}s")
                self.sleep(delay)
