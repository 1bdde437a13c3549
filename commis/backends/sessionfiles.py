"""Where agent CLIs leave their session files, and the hook that hands them to the Timeline.

Claude Code writes ``$CLAUDE_CONFIG_DIR/projects/<cwd with every non-alphanumeric
character turned into ->/<session id>.jsonl``; Codex writes
``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<session id>.jsonl``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path

from django.db import connection
from django.db.models import Model

from zerg_site.devices import COMMIS_DEVICE

log = logging.getLogger("zerg.commis")


def claude_project_dir_name(cwd: str | Path) -> str:
    """``/home/owner/work/demo`` -> ``-home-owner-work-demo`` (as Claude Code names it)."""
    return re.sub(r"[^A-Za-z0-9]", "-", str(cwd))


def find_claude_session_file(config_dir: Path, session_id: str, cwd: str | Path | None = None) -> Path | None:
    if not session_id:
        return None
    if cwd is not None:
        exact = Path(config_dir) / "projects" / claude_project_dir_name(cwd) / f"{session_id}.jsonl"
        if exact.is_file():
            return exact
    # the CLI may resolve symlinks in cwd (e.g. /tmp on macOS): look in every project
    for path in sorted((Path(config_dir) / "projects").glob(f"*/{session_id}.jsonl")):
        return path
    return None


def find_codex_session_file(codex_home: Path, session_id: str) -> Path | None:
    if not session_id:
        return None
    for path in sorted((Path(codex_home) / "sessions").glob(f"*/*/*/rollout-*-{session_id}.jsonl")):
        return path
    return None


def continued_session(job) -> int | None:
    """The Timeline session a continuation job continues (its turns are added there, although that
    session is another device's), else None (a job's own session is a ``COMMIS_DEVICE`` session)."""
    options = getattr(job, "options", None)
    sid = options.get("continues_session") if isinstance(options, dict) else None
    return sid if isinstance(sid, int) and not isinstance(sid, bool) else None


#: the Timeline provider of each backend's sessions (the agent writes transcripts; the shell has none)
TIMELINE_PROVIDERS = {"claude": "claude", "codex": "codex", "agent": "zerg-agent"}


def timeline_session(job) -> int | None:
    """The Timeline session a job's turns are in (Zerg's id, for the job page's link), None while
    it has none (yet): a continuation's continued session, else this job's own ``COMMIS_DEVICE``
    session of its backend's provider. By id, never by the provider id alone: another device may
    have shipped a session of that name."""
    # lazy: `import commis.backends.agent` (it imports this module) needs no django.setup()
    # (tests/commis/test_backend_agent.py imports it bare): no models at import time
    from timeline.models import Session

    continued = continued_session(job)
    if continued is not None:
        return continued if Session.objects.filter(id=continued).exists() else None
    provider = TIMELINE_PROVIDERS.get(job.backend)
    if not provider or not job.session_id:
        return None
    return (
        Session.objects.filter(device=COMMIS_DEVICE, provider=provider, provider_session_id=job.session_id)
        .values_list("id", flat=True)
        .first()
    )


def session_file_ready(job, path: Path, source: str) -> None:
    """Ingest the session file the ``source`` CLI ("claude" or "codex") wrote for ``job``.

    Called from the backend's ``on_exit`` after every attempt: ingest is idempotent, so
    a resumed session only adds its new lines. The Timeline session is the job's by its
    provider session id (``job.session_id``; the Timeline API accepts it as the id). A
    failed ingest is logged, never fails the job: the file stays in the job's state dir.
    """
    # lazy: `import commis.backends.agent` (it imports this module) needs no django.setup()
    # (tests/commis/test_backend_agent.py imports it bare): no models at import time
    from agents_ingest.importer import import_file

    try:
        totals = import_file(source, Path(path), device=COMMIS_DEVICE, session=continued_session(job))
    except Exception:
        log.exception("job %s: could not ingest %s session file %s", getattr(job, "id", "?"), source, path)
        return
    log.info("job %s: ingested %s session file %s: %s", getattr(job, "id", "?"), source, path, totals)


def is_job_row(job) -> bool:
    """A real ``Job`` (the runner's), not a stand-in: only those are ingested live."""
    return isinstance(job, Model)


class LiveIngest:
    """Ingest a running CLI's session file as it grows, so its turns show in the Timeline live.

    Called from the runner's output-reader thread on every output line; acts at most
    every ``interval`` seconds and sends only the complete lines after what the server
    already acknowledged (``on_exit`` ingests whatever is left). That thread's database
    connection is closed after each round: the thread ends with the job.
    """

    MAX_BYTES = 4 * 1024 * 1024

    def __init__(self, source: str, interval: float = 1.0):
        self.source = source
        self.interval = interval
        self.offset = 0
        self.path: Path | None = None
        self.last = 0.0

    def poll(self, job, find) -> None:
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        try:
            path = self.path or find()
            if path is None:
                return
            self.path = Path(path).resolve()
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read(self.MAX_BYTES)
            data = data[: data.rfind(b"\n") + 1]
            if not data:
                return
            from agents_ingest.ingest import FileChunk, ingest_files  # lazy: no models at import (see above)

            result = ingest_files(
                COMMIS_DEVICE,
                [FileChunk(self.source, str(self.path), data, offset=self.offset, session=continued_session(job))],
            )
            self.offset = max(self.offset, int(result["files"][0]["acked_offset"]))
        except Exception:
            log.exception("job %s: live ingest of the session file failed", getattr(job, "id", "?"))
        finally:
            if threading.current_thread() is not threading.main_thread():
                connection.close()
