"""Where agent CLIs leave their session files, and the hook that hands them to the Timeline.

Claude Code writes ``$CLAUDE_CONFIG_DIR/projects/<cwd with every non-alphanumeric
character turned into ->/<session id>.jsonl``; Codex writes
``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<session id>.jsonl``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

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


# The Timeline's device name for sessions that commis ran on this server.
COMMIS_DEVICE = "zerg-commis"


def session_file_ready(job, path: Path, source: str) -> None:
    """Ingest the session file the ``source`` CLI ("claude" or "codex") wrote for ``job``.

    Called from the backend's ``on_exit`` after every attempt: ingest is idempotent, so
    a resumed session only adds its new lines. The Timeline session is the job's by its
    provider session id (``job.session_id``; the Timeline API accepts it as the id). A
    failed ingest is logged, never fails the job: the file stays in the job's state dir.
    """
    from agents_ingest.importer import import_file

    try:
        totals = import_file(source, Path(path), device=COMMIS_DEVICE)
    except Exception:
        log.exception("job %s: could not ingest %s session file %s", getattr(job, "id", "?"), source, path)
        return
    log.info("job %s: ingested %s session file %s: %s", getattr(job, "id", "?"), source, path, totals)
