"""Tools of the built-in agent, confined to the job's workspace.

Every path is resolved (symlinks followed, ``..`` collapsed) and refused unless it lies
inside the workspace root; ``grep`` and ``list_dir`` skip entries that resolve outside.
``run_command`` runs ``bash -c`` with the workspace as cwd and a timeout, through the
runner's ``run_subprocess`` so cancel kills its process group. The shell itself is not a
sandbox: a command may ``cd`` elsewhere, as with the other agent backends.

Stdlib only (no langgraph/anthropic here).
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_READ_BYTES = 200_000
MAX_OUTPUT_CHARS = 30_000
MAX_MATCHES = 200
MAX_LIST = 500
DEFAULT_TIMEOUT = 120
MAX_TIMEOUT = 1800
SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv"}


class ToolError(Exception):
    """A tool refused or failed; its message goes back to the model as an error result."""


def clip(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n… [{len(text) - limit} characters cut] …\n{text[-half:]}"


def _default_run(argv: list[str], cwd: str, timeout: float | None = None, env: dict | None = None) -> tuple[int, str]:
    try:
        done = subprocess.run(
            argv,
            check=False,
            cwd=cwd,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.output.decode("utf-8", "replace") if exc.output else ""
        return -9, out + f"\n[killed after {timeout}s]"
    return done.returncode, done.stdout.decode("utf-8", "replace")


SCHEMAS: list[dict[str, Any]] = [
    {
        "name": "run_command",
        "description": "Run a bash command in the workspace directory and return its exit code and output "
        "(stdout and stderr). Use it for builds, tests, git, and anything else a shell does.",
        "input_schema": {
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": "the bash command"},
                "timeout": {
                    "type": "integer",
                    "description": f"seconds before it is killed (default {DEFAULT_TIMEOUT})",
                },
            },
            "required": ["command"],
        },
    },
    {
        "name": "read_file",
        "description": "Read a text file of the workspace. Lines are numbered. Use offset/limit (lines) for big files.",
        "input_schema": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "path relative to the workspace"},
                "offset": {"type": "integer", "description": "first line, 1-based"},
                "limit": {"type": "integer", "description": "number of lines"},
            },
            "required": ["path"],
        },
    },
    {
        "name": "write_file",
        "description": "Create or overwrite a file of the workspace with the given content (parent folders are made).",
        "input_schema": {
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "content": {"type": "string"},
            },
            "required": ["path", "content"],
        },
    },
    {
        "name": "edit_file",
        "description": "Replace old_text by new_text in a workspace file. old_text must occur exactly once "
        "unless replace_all is true.",
        "input_schema": {
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "old_text": {"type": "string"},
                "new_text": {"type": "string"},
                "replace_all": {"type": "boolean"},
            },
            "required": ["path", "old_text", "new_text"],
        },
    },
    {
        "name": "list_dir",
        "description": "List a workspace directory (folders end with /).",
        "input_schema": {"type": "object", "properties": {"path": {"type": "string", "description": "default ."}}},
    },
    {
        "name": "grep",
        "description": "Search workspace files for a regular expression; returns path:line: text matches.",
        "input_schema": {
            "type": "object",
            "properties": {
                "pattern": {"type": "string"},
                "path": {"type": "string", "description": "folder or file, default ."},
                "glob": {"type": "string", "description": "only files whose name matches, e.g. *.py"},
            },
            "required": ["pattern"],
        },
    },
]


class WorkspaceTools:
    def __init__(self, root: str | Path, run_subprocess: Callable[..., tuple[int, str]] | None = None):
        self.root = Path(os.path.realpath(root))
        self.run_subprocess = run_subprocess or _default_run

    # --- paths

    def resolve(self, path: str | None, *, must_exist: bool = False) -> Path:
        if path is None or str(path).strip() == "":
            path = "."
        if "\x00" in str(path):
            raise ToolError("invalid path")
        candidate = Path(path).expanduser()
        if not candidate.is_absolute():
            candidate = self.root / candidate
        resolved = Path(os.path.realpath(candidate))
        if resolved != self.root and self.root not in resolved.parents:
            raise ToolError(f"{path}: outside the workspace ({self.root}); refused")
        if must_exist and not resolved.exists():
            raise ToolError(f"{path}: no such file or directory")
        return resolved

    def rel(self, path: Path) -> str:
        return "." if path == self.root else str(path.relative_to(self.root))

    def _inside(self, path: Path) -> bool:
        real = Path(os.path.realpath(path))
        return real == self.root or self.root in real.parents

    # --- dispatch

    def call(self, name: str, args: dict) -> tuple[str, bool]:
        """``(result text, is_error)``; never raises."""
        method = getattr(self, "tool_" + str(name), None)
        if method is None:
            return f"unknown tool {name!r}", True
        if not isinstance(args, dict):
            return "tool input must be an object", True
        try:
            return method(**args), False
        except ToolError as exc:
            return str(exc), True
        except TypeError as exc:
            return f"bad arguments for {name}: {exc}", True
        except OSError as exc:
            return f"{name} failed: {exc.strerror or exc}", True

    # --- tools

    def tool_run_command(self, command: str, timeout: float | None = None) -> str:
        timeout = DEFAULT_TIMEOUT if not timeout else max(1, min(float(timeout), MAX_TIMEOUT))
        code, output = self.run_subprocess(["bash", "-c", command], str(self.root), timeout=timeout)
        return f"exit code {code}\n{clip(output)}"

    def tool_read_file(self, path: str, offset: int | None = None, limit: int | None = None) -> str:
        target = self.resolve(path, must_exist=True)
        if target.is_dir():
            raise ToolError(f"{path} is a directory; use list_dir")
        with open(target, "rb") as fh:
            data = fh.read(MAX_READ_BYTES + 1)
        if b"\x00" in data[:8192]:
            raise ToolError(f"{path} looks binary ({target.stat().st_size} bytes)")
        truncated = len(data) > MAX_READ_BYTES
        lines = data[:MAX_READ_BYTES].decode("utf-8", "replace").splitlines()
        start = max(1, int(offset or 1))
        end = len(lines) if not limit else min(len(lines), start - 1 + int(limit))
        body = "\n".join(f"{n:6}\t{lines[n - 1]}" for n in range(start, end + 1))
        if truncated:
            body += f"\n[file longer than {MAX_READ_BYTES} bytes: read with offset/limit or grep]"
        return body or "(empty file)"

    def tool_write_file(self, path: str, content: str) -> str:
        target = self.resolve(path)
        if target.is_dir():
            raise ToolError(f"{path} is a directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        return f"wrote {len(content)} characters to {self.rel(target)}"

    def tool_edit_file(self, path: str, old_text: str, new_text: str, replace_all: bool = False) -> str:
        target = self.resolve(path, must_exist=True)
        text = target.read_text(encoding="utf-8")
        count = text.count(old_text) if old_text else 0
        if count == 0:
            raise ToolError(f"old_text not found in {path}")
        if count > 1 and not replace_all:
            raise ToolError(f"old_text occurs {count} times in {path}; add context or set replace_all")
        target.write_text(text.replace(old_text, new_text), encoding="utf-8")
        return f"replaced {count if replace_all else 1} occurrence(s) in {self.rel(target)}"

    def tool_list_dir(self, path: str = ".") -> str:
        target = self.resolve(path, must_exist=True)
        if not target.is_dir():
            raise ToolError(f"{path} is not a directory")
        entries = []
        for entry in sorted(os.scandir(target), key=lambda e: e.name):
            if entry.is_symlink() and not self._inside(Path(entry.path)):
                entries.append(f"{entry.name} -> (outside the workspace)")
            elif entry.is_dir():
                entries.append(entry.name + "/")
            else:
                entries.append(entry.name)
            if len(entries) >= MAX_LIST:
                entries.append("… (more entries)")
                break
        return "\n".join(entries) or "(empty directory)"

    def tool_grep(self, pattern: str, path: str = ".", glob: str | None = None) -> str:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ToolError(f"bad pattern: {exc}") from None
        target = self.resolve(path, must_exist=True)
        files = [target] if target.is_file() else self._walk(target)
        matches = []
        for file in files:
            if glob and not fnmatch.fnmatch(file.name, glob):
                continue
            try:
                with open(file, "rb") as fh:
                    data = fh.read(MAX_READ_BYTES)
            except OSError:
                continue
            if b"\x00" in data[:8192]:
                continue
            for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
                if regex.search(line):
                    matches.append(f"{self.rel(file)}:{number}: {line[:300]}")
                    if len(matches) >= MAX_MATCHES:
                        return "\n".join(matches) + "\n… (more matches)"
        return "\n".join(matches) or "no matches"

    def _walk(self, top: Path):
        for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for name in sorted(filenames):
                file = Path(dirpath) / name
                if self._inside(file) and file.is_file():
                    yield file


# --- Forum tools: read boards and threads, post, claim and release named resources. Their schemas
# are here, so that the agent child (no Django) offers them to the model; their code is the Forum's
# (``forum/agent_tools.py``), registered with :func:`register_tool` when Django starts (in the worker,
# which answers the child's remote tool calls). Commis never imports the Forum.

FORUM_SCHEMAS: list[dict[str, Any]] = [
    {
        "name": "forum_read",
        "description": "Read the Forum, where other agents and the owner leave messages: a board's threads "
        "(board, e.g. 'commis' or 'general') or one thread's posts (thread id). Also shows the "
        "job's own thread id.",
        "input_schema": {
            "type": "object",
            "properties": {
                "board": {"type": "string"},
                "thread": {"type": "integer"},
                "limit": {"type": "integer", "description": "default 20"},
            },
        },
    },
    {
        "name": "forum_post",
        "description": "Post Markdown in a Forum thread (default: this job's own thread), or start a new thread "
        "with board and title. Mention @oikos to hand a question to the coordinator.",
        "input_schema": {
            "type": "object",
            "properties": {
                "text": {"type": "string"},
                "thread": {"type": "integer"},
                "board": {"type": "string"},
                "title": {"type": "string"},
            },
            "required": ["text"],
        },
    },
    {
        "name": "forum_claim",
        "description": "Claim a named resource (a file path, a repository) so other agents know you are changing "
        "it. Fails, naming the holder, if someone else holds it: then work on something else or "
        "ask in the Forum. Claims are released when this job ends.",
        "input_schema": {
            "type": "object",
            "properties": {
                "resource": {"type": "string"},
                "note": {"type": "string", "description": "what you are doing"},
            },
            "required": ["resource"],
        },
    },
    {
        "name": "forum_release",
        "description": "Release a resource you claimed.",
        "input_schema": {"type": "object", "properties": {"resource": {"type": "string"}}, "required": ["resource"]},
    },
    {
        "name": "forum_claims",
        "description": "List every claimed resource with its holder and note.",
        "input_schema": {"type": "object", "properties": {}},
    },
]
SCHEMAS.extend(FORUM_SCHEMAS)


def register_tool(name: str, function: Callable[..., str]) -> None:
    """Make ``function(tools, **args)`` the tool ``name`` (its schema is in SCHEMAS): how an app above
    commis (the Forum) gives the agent a tool that needs that app."""
    setattr(WorkspaceTools, "tool_" + name, function)
