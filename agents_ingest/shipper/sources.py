"""Where agent session files live on this machine, and which provider wrote each.

- Claude Code: ``$CLAUDE_CONFIG_DIR/projects/**/*.jsonl`` (default ``~/.claude``;
  ``CLAUDE_CONFIG_DIR`` may list several directories separated by commas). Subagent
  files, ``agent-*.jsonl`` beside the sessions (old layout) and
  ``<session>/subagents/*.jsonl`` (new layout), belong to their parent session.
- Codex: ``$CODEX_HOME/sessions/**/rollout-*.jsonl`` and ``$CODEX_HOME/archived_sessions/``
  (default ``~/.codex``).
- Gemini CLI: ``~/.gemini/tmp/*/chats/*.json``, whole JSON documents rewritten in place.

Everything is resolved against ``HOME`` at call time, so tests point HOME at a temp dir.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Root:
    provider: str
    directory: Path


def home() -> Path:
    return Path(os.environ.get("HOME") or Path.home())


def claude_dirs() -> list[Path]:
    configured = os.environ.get("CLAUDE_CONFIG_DIR", "").strip()
    if configured:
        return [Path(p.strip()).expanduser() for p in configured.split(",") if p.strip()]
    return [home() / ".claude"]


def codex_dir() -> Path:
    configured = os.environ.get("CODEX_HOME", "").strip()
    return Path(configured).expanduser() if configured else home() / ".codex"


def roots() -> list[Root]:
    """The directories to watch, one per provider location."""
    found = [Root("claude", d / "projects") for d in claude_dirs()]
    found.append(Root("codex", codex_dir() / "sessions"))
    found.append(Root("codex", codex_dir() / "archived_sessions"))
    found.append(Root("gemini", home() / ".gemini" / "tmp"))
    return found


def classify(path: Path) -> str | None:
    """The provider of a session file under one of the roots, or None if it is not one."""
    path = Path(path)
    for root in roots():
        try:
            rel = path.relative_to(root.directory)
        except ValueError:
            continue
        parts = rel.parts
        if root.provider == "claude" and path.suffix == ".jsonl":
            return "claude"
        if root.provider == "codex" and path.suffix == ".jsonl" and path.name.startswith("rollout-"):
            return "codex"
        if root.provider == "gemini" and path.suffix == ".json" and len(parts) == 3 and parts[1] == "chats":
            return "gemini"
    return None


def _walk(directory: Path) -> Iterator[Path]:
    """Files under ``directory`` (no symlinked directories followed), sorted per level."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(Path(entry.path))
            elif entry.is_file():
                yield Path(entry.path)
        except OSError:
            continue


def discover() -> Iterator[tuple[str, Path]]:
    """Every session file there is now, as ``(provider, absolute path)``."""
    seen: set[Path] = set()
    for root in roots():
        for path in _walk(root.directory):
            if path in seen:
                continue
            provider = classify(path)
            if provider == root.provider:
                seen.add(path)
                yield provider, path.absolute()


def parent_session_from_path(path: Path) -> str | None:
    """``<session>/subagents/agent-x.jsonl`` -> ``<session>`` (the new layout)."""
    path = Path(path)
    if path.parent.name == "subagents":
        return path.parent.parent.name
    return None


def is_old_subagent(path: Path) -> bool:
    """``agent-*.jsonl`` beside the session files: its lines carry the parent's sessionId."""
    path = Path(path)
    return path.name.startswith("agent-") and path.parent.name != "subagents"
