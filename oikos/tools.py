"""Oikos's tools: thin wrappers over the services the API uses (commis jobs, Timeline search,
Forum, Sauron schedules), never the HTTP API. Stdlib and Django only: slash commands use
them with no model configured.

Each tool returns a :class:`ToolResult`; bad input raises :class:`ToolError` and reaches the
model (or the owner) as an error result. Forum and schedules are imported lazily: if the
module is not there yet the tool answers "not available".
"""

from __future__ import annotations

import html
import importlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from commis import jobs
from commis.models import Job
from commis.slots import slot_usage
from oikos.models import Message
from oikos.untrusted import wrap
from timeline.models import Event, Session
from timeline.search import search
from zerg_site import budget

MAX_SPAWNS_WITHOUT_ASKING = 3  # more commis than this in one turn needs the owner's approval ([llm] oikos_max_spawns)
DESTRUCTIVE = {"cancel_commis": "cancel a commis job", "schedule_remove": "remove a schedule"}
# every tool that changes something: a turn started by untrusted text asks before each of them
SIDE_EFFECTS = {
    **DESTRUCTIVE,
    "spawn_commis": "spawn a commis",
    "schedule_add": "add a schedule",
    "forum_post": "post in the Forum",
    "forum_new_thread": "start a Forum thread",
}
# tools whose results carry text from jobs, agents, sessions or the Forum: the model gets it marked
UNTRUSTED_RESULTS = {
    "list_commis": "commis job tasks and summaries",
    "commis_status": "a commis job",
    "commis_result": "a commis job log and diff",
    "search_timeline": "Timeline sessions",
    "read_session": "a Timeline session",
    "read_full_output": "a tool output",
    "forum_read_board": "Forum threads",
    "forum_read_thread": "Forum posts",
    "schedule_list": "schedules",
}
BACKENDS = ["shell", "claude", "codex", "agent"]


def max_spawns() -> int:
    return int(getattr(settings.ZERG, "oikos_max_spawns", MAX_SPAWNS_WITHOUT_ASKING))


class ToolError(Exception):
    """Refused or failed; the message goes back as an error result."""


@dataclass
class ToolResult:
    text: str
    is_error: bool = False
    job_id: int | None = None


@dataclass
class Context:
    thread_id: int | None = None
    turn_id: int | None = None


def _obj(properties: dict, required: list[str] = ()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required)}


STR, INT = {"type": "string"}, {"type": "integer"}
SCHEMAS: list[dict[str, Any]] = [
    {
        "name": "spawn_commis",
        "description": "Start a commis (a background agent job). backend: shell runs the task "
        "as a bash command; claude/codex/agent run it as a prompt for a coding agent. repo_url: a git repository to "
        "clone into its workspace (optional). The owner is told when it finishes.",
        "input_schema": _obj(
            {
                "task": STR,
                "backend": {"type": "string", "enum": BACKENDS},
                "repo_url": STR,
                "timeout": {"type": "integer", "description": "seconds"},
                "budget_usd": {"type": "number", "description": "stop the job once it has cost this many US dollars"},
            },
            ["task"],
        ),
    },
    {
        "name": "list_commis",
        "description": "List commis jobs, newest first, optionally by status "
        "(queued, running, succeeded, failed, cancelled, timed_out; comma-separated).",
        "input_schema": _obj({"status": STR, "limit": INT}),
    },
    {
        "name": "commis_status",
        "description": "One commis job's status, task, timing and summary.",
        "input_schema": _obj({"job_id": INT}, ["job_id"]),
    },
    {
        "name": "commis_result",
        "description": "A commis job's summary, the end of its log and its diff (git changes).",
        "input_schema": _obj({"job_id": INT, "log_chars": INT}, ["job_id"]),
    },
    {
        "name": "cancel_commis",
        "description": "Cancel a queued or running commis job (asks the owner first).",
        "input_schema": _obj({"job_id": INT}, ["job_id"]),
    },
    {
        "name": "search_timeline",
        "description": "Full-text search of the Timeline: every agent session (Claude Code, "
        'Codex, Gemini, commis and earlier Oikos chats). All words must match; "quote phrases".',
        "input_schema": _obj({"q": STR, "limit": INT}, ["q"]),
    },
    {
        "name": "read_session",
        "description": "Read a Timeline session's events (session_id from search_timeline), from ordinal `after`.",
        "input_schema": _obj({"session_id": STR, "after": INT, "limit": INT}, ["session_id"]),
    },
    {
        "name": "read_full_output",
        "description": "Read a tool output that was cut short, by its message id, from a character offset.",
        "input_schema": _obj({"message_id": INT, "offset": INT, "limit": INT}, ["message_id"]),
    },
    {
        "name": "forum_read_board",
        "description": "Read the newest threads of a Forum board.",
        "input_schema": _obj({"board": STR, "limit": INT}, ["board"]),
    },
    {
        "name": "forum_read_thread",
        "description": "Read a Forum thread's posts.",
        "input_schema": _obj({"thread_id": INT, "limit": INT}, ["thread_id"]),
    },
    {
        "name": "forum_post",
        "description": "Post in a Forum thread as Oikos.",
        "input_schema": _obj({"thread_id": INT, "text": STR}, ["thread_id", "text"]),
    },
    {
        "name": "forum_new_thread",
        "description": "Start a Forum thread on a board as Oikos.",
        "input_schema": _obj({"board": STR, "title": STR, "text": STR}, ["board", "title", "text"]),
    },
    {
        "name": "schedule_add",
        "description": 'Schedule a recurring commis: cron (e.g. "0 3 * * *") with tz, or interval in seconds.',
        "input_schema": _obj(
            {
                "name": STR,
                "task": STR,
                "backend": {"type": "string", "enum": BACKENDS},
                "cron": STR,
                "tz": STR,
                "interval": INT,
                "repo_url": STR,
            },
            ["name", "task"],
        ),
    },
    {"name": "schedule_list", "description": "List the schedules with their next runs.", "input_schema": _obj({})},
    {
        "name": "schedule_remove",
        "description": "Remove a schedule by name (asks the owner first).",
        "input_schema": _obj({"name": STR}, ["name"]),
    },
]
NAMES = {s["name"] for s in SCHEMAS}


def _int(value: Any, name: str, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().lstrip("#").isdigit():
        raise ToolError(f"{name} must be a whole number, got {value!r}")
    return int(str(value).strip().lstrip("#"))


def _job(job_id) -> Any:
    job = Job.objects.filter(id=_int(job_id, "job_id")).first()
    if job is None:
        raise ToolError(f"there is no commis job {job_id}")
    return job


def _job_line(job) -> str:
    line = f"#{job.id} [{job.backend}] {job.status}: {job.task[:80]}"
    return line + (f" — {job.summary[:120]}" if job.summary else "")


def _tail(path: Path, chars: int) -> str:
    if not path.is_file():
        return ""
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - chars * 4))
        return handle.read().decode("utf-8", "replace")[-chars:]


# --- the tools


def spawn_commis(
    ctx: Context, task: str = "", backend: str = "shell", repo_url: str = "", timeout=None, budget_usd=None
) -> ToolResult:
    # over the day's or month's budget the gate asked the owner first (needs_approval): this spawn is approved
    spend = budget.status()
    note = f"spawned with the owner's approval in Oikos although {spend.reason()}" if spend.over else ""
    try:
        job = jobs.spawn(
            str(task),
            backend or "shell",
            repo_url=str(repo_url or ""),
            timeout=_int(timeout, "timeout") if timeout is not None else None,
            origin="oikos",
            origin_ref=str(ctx.thread_id or ""),
            budget_usd=budget_usd,
            budget_note=note,
        )
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    if note:
        budget.decided(
            "overridden",
            {**spend.as_dict(), "job": job.id, "thread": ctx.thread_id},
            jobs.topic(job.id),
            *([f"oikos:{ctx.thread_id}"] if ctx.thread_id else []),
        )
    return ToolResult(
        f"spawned commis #{job.id} ({job.backend}), status {job.status}; you will be told when it "
        f"finishes. Link: /commis/{job.id}" + (f" ({note})" if note else ""),
        job_id=job.id,
    )


def list_commis(ctx: Context, status: str = "", limit=20) -> ToolResult:
    rows = Job.objects.all()
    if status:
        rows = rows.filter(status__in=[s.strip() for s in str(status).split(",") if s.strip()])
    jobs = list(rows[: max(1, min(_int(limit, "limit", 20), 100))])
    slots = slot_usage()
    head = f"slots: {slots['running']} running, {slots['queued']} queued, {slots['max']} max"
    return ToolResult("\n".join([head] + [_job_line(j) for j in jobs] if jobs else [head, "no commis jobs"]))


def commis_status(ctx: Context, job_id=None) -> ToolResult:
    job = _job(job_id)
    data = {
        k: v
        for k, v in job.as_dict().items()
        if k
        in (
            "id",
            "status",
            "backend",
            "task",
            "repo_url",
            "branch",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
            "elapsed",
            "exit_code",
            "summary",
            "cost_usd",
            "origin",
        )
    }
    return ToolResult(json.dumps(data, indent=1), job_id=job.id)


def commis_result(ctx: Context, job_id=None, log_chars=3000) -> ToolResult:
    job = _job(job_id)
    chars = max(100, min(_int(log_chars, "log_chars", 3000), 50_000))
    root = Path(job.artifacts_dir) if job.artifacts_dir else None
    log_text = _tail(root / "log.txt", chars) if root else ""
    diff = (root / "diff.patch").read_text(errors="replace") if root and (root / "diff.patch").is_file() else ""
    parts = [
        _job_line(job),
        f"exit code: {job.exit_code}",
        "--- log (end) ---",
        log_text or "(no log)",
        "--- diff ---",
        diff or "(no changes)",
    ]
    return ToolResult("\n".join(parts), job_id=job.id)


def cancel_commis(ctx: Context, job_id=None) -> ToolResult:
    job = _job(job_id)
    if job.finished:
        return ToolResult(f"commis #{job.id} had already finished ({job.status})", job_id=job.id)
    job = jobs.cancel(job.id)
    return ToolResult(f"cancel requested for commis #{job.id}; status now {job.status}", job_id=job.id)


def search_timeline(ctx: Context, q: str = "", limit=10) -> ToolResult:
    if not str(q).strip():
        raise ToolError("q is empty: give words to search for")
    wanted = max(1, min(_int(limit, "limit", 10), 50))
    own = f"oikos-{ctx.thread_id}"  # this conversation is already in context: leave it out
    hits = [h for h in search(str(q), limit=wanted + 20)["hits"] if h["session"]["provider_session_id"] != own]
    lines = []
    for hit in hits[:wanted]:
        snippet = html.unescape(re.sub(r"</?mark>", "**", hit["snippet"]))
        s = hit["session"]
        lines.append(
            f"session {hit['session_id']} ({s['provider']}, {s['project'] or '-'}: {s['title'][:60]}) "
            f"event {hit['ordinal']} {hit['timestamp'] or ''}: {snippet}"
        )
    return ToolResult("\n".join(lines) if lines else f"nothing found for {q!r}")


def read_session(ctx: Context, session_id: str = "", after=-1, limit=50) -> ToolResult:
    sid = str(session_id).strip()
    session = Session.objects.filter(pk=int(sid)).first() if sid.isdigit() else None
    session = session or Session.objects.filter(provider_session_id=sid).first()
    if session is None:
        raise ToolError(f"there is no Timeline session {session_id!r}")
    start = int(after) if isinstance(after, int) else -1
    count = max(1, min(_int(limit, "limit", 50), 200))
    events = Event.objects.filter(session=session, ordinal__gt=start).order_by("ordinal")[:count]
    lines = [f"session {session.id} ({session.provider}) {session.display_title[:80]}"]
    for e in events:
        body = e.text or (f"{e.tool_name} {e.tool_input}" if e.tool_name else e.tool_output)
        lines.append(f"#{e.ordinal} {e.kind}/{e.role}: {body[:1500]}")
    return ToolResult("\n".join(lines))


def read_full_output(ctx: Context, message_id=None, offset=0, limit=20_000) -> ToolResult:
    msg = Message.objects.filter(id=_int(message_id, "message_id"), thread_id=ctx.thread_id).first()
    if msg is None:
        raise ToolError(f"there is no message {message_id} in this thread")
    full = msg.full_text or msg.text
    start = _int(offset, "offset", 0)
    chunk = full[start : start + max(1, min(_int(limit, "limit", 20_000), 50_000))]
    rest = len(full) - start - len(chunk)
    more = f"\n[{rest} more characters: call again with offset={start + len(chunk)}]" if rest > 0 else ""
    return ToolResult(chunk + more)


def _service(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ToolError(f"{module.split('.')[0]} is not available on this server yet") from None


def _dump(value) -> ToolResult:
    return ToolResult(json.dumps(value, indent=1, default=str))


def forum_read_board(ctx: Context, board: str = "", limit=20) -> ToolResult:
    return _dump(_service("forum.services").read_board(str(board), limit=_int(limit, "limit", 20)))


def forum_read_thread(ctx: Context, thread_id=None, limit=50) -> ToolResult:
    return _dump(_service("forum.services").read_thread(_int(thread_id, "thread_id"), limit=_int(limit, "limit", 50)))


def forum_post(ctx: Context, thread_id=None, text: str = "") -> ToolResult:
    forum = _service("forum.services")
    return _dump(forum.post(_int(thread_id, "thread_id"), str(text), "oikos", str(ctx.thread_id or "")))


def forum_new_thread(ctx: Context, board: str = "", title: str = "", text: str = "") -> ToolResult:
    forum = _service("forum.services")
    return _dump(forum.new_thread(str(board), str(title), str(text), "oikos", str(ctx.thread_id or "")))


def schedule_add(
    ctx: Context,
    name: str = "",
    task: str = "",
    backend: str = "shell",
    cron=None,
    tz: str = "UTC",
    interval=None,
    repo_url: str = "",
) -> ToolResult:
    schedules = _service("commis.schedules")
    try:
        schedule = schedules.add(
            str(name),
            task=str(task),
            backend=backend or "shell",
            cron=cron or None,
            tz=tz or "UTC",
            interval=_int(interval, "interval") if interval is not None else None,
            repo_url=str(repo_url or ""),
        )
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    return _dump(schedule.as_dict() if hasattr(schedule, "as_dict") else schedules.as_dict(schedule))


def schedule_list(ctx: Context) -> ToolResult:
    return _dump(_service("commis.schedules").list_schedules())


def schedule_remove(ctx: Context, name: str = "") -> ToolResult:
    removed = _service("commis.schedules").remove(str(name))
    text = f"removed schedule {name!r}" if removed else f"there is no schedule {name!r}"
    return ToolResult(text, is_error=not removed)


FUNCTIONS: dict[str, Callable[..., ToolResult]] = {s["name"]: globals()[s["name"]] for s in SCHEMAS}


def call(name: str, tool_input: dict | None, ctx: Context) -> ToolResult:
    """Run one tool; errors (bad input, a failing service) become an error result, never an exception."""
    fn = FUNCTIONS.get(name)
    if fn is None:
        return ToolResult(f"unknown tool {name!r}; the tools are {', '.join(sorted(NAMES))}", is_error=True)
    if not isinstance(tool_input, dict):
        return ToolResult("the tool input must be a JSON object", is_error=True)
    try:
        return fn(ctx, **tool_input)
    except TypeError as exc:
        return ToolResult(f"bad arguments for {name}: {exc}", is_error=True)
    except ToolError as exc:
        return ToolResult(str(exc), is_error=True)
    except Exception as exc:  # a broken service must not kill the turn: the model sees what happened
        return ToolResult(f"{name} failed: {type(exc).__name__}: {exc}", is_error=True)


def for_model(name: str, text: str, is_error: bool) -> str:
    """A tool result as the model gets it: output from jobs, sessions or the Forum marked as data."""
    if is_error or name not in UNTRUSTED_RESULTS:
        return text

    return wrap(f"{name} result: {UNTRUSTED_RESULTS[name]}", text)


def needs_approval(calls: list[dict], spawned_before: int, untrusted: bool = False) -> list[tuple[dict, str]]:
    """The calls the owner must confirm: destructive ones, and spawns beyond the per-turn limit;
    in a turn started by untrusted text (``untrusted``), every call with a side effect; every spawn
    while the day's or month's spend is over its budget (``zerg_site.budget``)."""
    risky, spawns, spend = [], spawned_before, None
    for c in calls:
        if untrusted and c.get("name") in SIDE_EFFECTS:
            risky.append((c, SIDE_EFFECTS[c["name"]]))
        elif c.get("name") in DESTRUCTIVE:
            risky.append((c, DESTRUCTIVE[c["name"]]))
        elif c.get("name") == "spawn_commis":
            spawns += 1
            if spend is None:
                spend = budget.status()
            if spend.over:
                risky.append((c, f"spawn a commis although {spend.reason()}"))
            elif spawns > max_spawns():
                risky.append((c, f"spawn commis number {spawns} in this turn (more than {max_spawns()})"))
    return risky
