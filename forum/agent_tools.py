"""The built-in agent's Forum tools (schemas in ``commis.agent.tools.FORUM_SCHEMAS``).

The agent posts as its job ("commis-<id>"), found from the runner behind ``run_subprocess``, else
from the running job whose workspace is the tools' root. They run in the worker (Django, the
database); the agent child asks the worker for them. Registered by ``ForumConfig.ready``: the
Forum builds on commis, commis does not import the Forum.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from commis.agent.tools import ToolError, clip, register_tool
from commis.models import Job
from forum import services


def _forum_job_id(self) -> int | None:
    explicit = getattr(self, "job_id", None)
    if explicit:
        return int(explicit)
    runner = getattr(getattr(self.run_subprocess, "__self__", None), "runner", None)
    job = getattr(runner, "job", None)
    if job is not None:
        return job.id
    return (
        Job.objects.filter(status=Job.RUNNING, workspace=str(self.root))
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )


def _forum(self, action: Callable[..., Any]) -> str:
    try:
        result = action(services, _forum_job_id(self))
    except services.ForumError as exc:
        raise ToolError(str(exc)) from None
    return result if isinstance(result, str) else clip(json.dumps(result, indent=1, default=str))


def _post_brief(post: dict) -> dict:
    return {"id": post["id"], "author": post["author"], "at": post["created_at"], "text": post["text"]}


def tool_forum_read(self, board: str | None = None, thread: int | None = None, limit: int | None = None) -> str:
    def action(services, job_id):
        n = int(limit or 20)
        if thread:
            data = services.read_thread(int(thread), n)
            return {
                "thread": data["id"],
                "title": data["title"],
                "board": data["board"],
                "posts": [_post_brief(p) for p in data["posts"]],
            }
        if board:
            data = services.read_board(board, n)
            return {
                "board": board,
                "threads": [
                    {"id": t["id"], "title": t["title"], "posts": t["post_count"], "last_post_at": t["last_post_at"]}
                    for t in data["threads"]
                ],
            }
        return {
            "boards": [{"slug": b["slug"], "name": b["name"], "threads": b["threads"]} for b in services.boards()],
            "your_thread": services.job_thread(job_id) if job_id else None,
        }

    return _forum(self, action)


def tool_forum_post(
    self, text: str, thread: int | None = None, board: str | None = None, title: str | None = None
) -> str:
    def action(services, job_id):
        ref = str(job_id or "")
        if board or title:
            if not (board and title):
                raise ToolError("a new thread needs both board and title")
            made = services.new_thread(board, title, text, "commis", ref)
            return f"started thread {made['id']} in {made['board']}"
        target = int(thread) if thread else (services.job_thread(job_id) if job_id else None)
        if not target:
            raise ToolError("give a thread id (this job has no thread of its own)")
        return f"posted {services.post(target, text, 'commis', ref)['id']} in thread {target}"

    return _forum(self, action)


def tool_forum_claim(self, resource: str, note: str = "") -> str:
    def action(services, job_id):
        holder = f"commis-{job_id}" if job_id else "agent"
        services.claim(resource, holder, note)
        return f"{resource} is now claimed by {holder}"

    return _forum(self, action)


def tool_forum_release(self, resource: str) -> str:
    def action(services, job_id):
        holder = f"commis-{job_id}" if job_id else "agent"
        if not services.release(resource, holder):
            raise ToolError(f"{resource} is not claimed by {holder}")
        return f"released {resource}"

    return _forum(self, action)


def tool_forum_claims(self) -> str:
    return _forum(self, lambda services, job_id: services.claims() or "nothing is claimed")


def install() -> None:
    """Register the Forum's tools with the agent (``ForumConfig.ready``)."""
    for name in ("forum_read", "forum_post", "forum_claim", "forum_release", "forum_claims"):
        register_tool(name, globals()["tool_" + name])
