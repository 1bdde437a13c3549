"""Slash commands: the chat's way to run commis with no model configured (and a fast path with one).

They call the same tools the model uses, so a ``/spawn`` is reported back to the thread
when it finishes just like a spawn the model made.
"""

from __future__ import annotations

import shlex

from oikos import tools
from zerg_site.llm import HOW_TO_CONFIGURE, configured

HELP = """Slash commands (they work with or without a model):
/spawn [--backend shell|claude|codex|agent] [--repo URL] TASK — start a commis (default backend: shell)
/status [JOB] — the commis pool, or one job
/logs JOB — the end of a job's log and its diff
/cancel JOB — cancel a job
/search WORDS — search the Timeline
/help — this list"""


class SlashError(ValueError):
    """A malformed command; the message says how to write it."""


def is_slash(text: str) -> bool:
    return text.lstrip().startswith("/")


def _job_arg(args: list[str], usage: str) -> str:
    if len(args) != 1 or not args[0].lstrip("#").isdigit():
        raise SlashError(f"usage: {usage}")
    return args[0].lstrip("#")


def run(text: str, ctx: tools.Context) -> tools.ToolResult:
    """Run one slash command; a malformed one gives an error result with its usage."""
    try:
        words = shlex.split(text.strip())
    except ValueError as exc:
        return tools.ToolResult(f"cannot read that command: {exc}", is_error=True)
    command, args = words[0].lower(), words[1:]
    try:
        if command == "/help":
            note = "" if configured() else "\n\n" + HOW_TO_CONFIGURE
            return tools.ToolResult(HELP + note)
        if command == "/spawn":
            backend, repo, rest = "shell", "", []
            it = iter(args)
            for word in it:
                if word in ("--backend", "-b"):
                    backend = next(it, "")
                elif word in ("--repo", "-r"):
                    repo = next(it, "")
                else:
                    rest.append(word)
            if not rest:
                raise SlashError("usage: /spawn [--backend shell|claude|codex|agent] [--repo URL] TASK")
            return tools.call("spawn_commis", {"task": " ".join(rest), "backend": backend, "repo_url": repo}, ctx)
        if command == "/status":
            if args:
                return tools.call("commis_status", {"job_id": _job_arg(args, "/status [JOB]")}, ctx)
            return tools.call("list_commis", {"limit": 10}, ctx)
        if command == "/logs":
            return tools.call("commis_result", {"job_id": _job_arg(args, "/logs JOB")}, ctx)
        if command == "/cancel":
            return tools.call("cancel_commis", {"job_id": _job_arg(args, "/cancel JOB")}, ctx)
        if command == "/search":
            if not args:
                raise SlashError("usage: /search WORDS")
            return tools.call("search_timeline", {"q": " ".join(args)}, ctx)
    except SlashError as exc:
        return tools.ToolResult(str(exc), is_error=True)
    return tools.ToolResult(f"unknown command {command}; /help lists the commands", is_error=True)
