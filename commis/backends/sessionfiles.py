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


def session_file_ready(job, path: Path, source: str) -> None:
    """HOOK for Timeline ingest: ``path`` is the session file the ``source`` CLI
    ("claude" or "codex") wrote for ``job``; called from the backend's ``on_exit``.

    TODO(timeline): ingest ``path`` into the Timeline (idempotently: it is re-sent
    after each attempt, with lines appended when a session was resumed) and link the
    Timeline session to ``job`` (``job.session_id`` is the session id). Until then
    this only logs; the path is also in the job's "session_file" event.
    """
    log.info("job %s: %s session file %s (Timeline ingest not wired yet)", getattr(job, "id", "?"), source, path)
