"""Session files in each provider's own format, for benches that build an archive.

The archive is built the way a Shipper fills it. These files go through the product's ingest
(``agents_ingest.ingest.ingest_files``: the parsers, then ``timeline.storage``). A bench that
wrote rows with its own SQL broke each time the schema changed (``cost_partial``, the source
chunks). This one breaks only when the storage API itself changes.

Each event comes from a template: a parsed fixture event with ``kind``, ``role``, ``text``,
``tool_name``, ``tool_input`` and ``tool_output``. It is written as the record of that provider
that parses back to the same kind of event. Claude Code and Codex write JSONL. Gemini CLI
writes one JSON document per session.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass
class Spec:
    """One session to write: who, where, when, and its events (templates + words mixed in)."""

    provider: str
    number: int
    project: str
    branch: str
    started: datetime
    events: list  # (template, extra words)

    @property
    def sid(self) -> str:
        return str(uuid.UUID(int=self.number + 1))

    @property
    def cwd(self) -> str:
        return f"/home/dev/{self.project}"

    def at(self, k: int) -> str:
        return (self.started + timedelta(seconds=k * 7)).isoformat().replace("+00:00", "Z")


def _tool_input(e, extra: str) -> dict:
    try:
        value = json.loads(e.tool_input)
    except ValueError:
        value = None
    value = value if isinstance(value, dict) else {"input": e.tool_input}
    return {**value, "note": extra} if extra else value


def _with(text: str, extra: str) -> str:
    return f"{text} {extra}".strip()


def claude(spec: Spec) -> tuple[str, bytes]:
    """A Claude Code session file: one user/assistant record per event."""
    lines = []
    for k, (e, extra) in enumerate(spec.events):
        head = {
            "sessionId": spec.sid,
            "uuid": f"{spec.sid[:-6]}{k:06x}",
            "timestamp": spec.at(k),
            "cwd": spec.cwd,
            "gitBranch": spec.branch,
            "version": "2.1.0",
        }
        if e.kind == "tool_result":
            block = {"type": "tool_result", "tool_use_id": f"toolu_{k - 1}", "content": _with(e.tool_output, extra)}
            lines.append({"type": "user", **head, "message": {"role": "user", "content": [block]}})
            continue
        if e.kind == "tool_call":
            block = {"type": "tool_use", "id": f"toolu_{k}", "name": e.tool_name, "input": _tool_input(e, extra)}
        elif e.kind == "thinking":
            block = {"type": "thinking", "thinking": _with(e.text, extra)}
        elif e.role == "user":
            lines.append({"type": "user", **head, "message": {"role": "user", "content": _with(e.text, extra)}})
            continue
        else:
            block = {"type": "text", "text": _with(e.text, extra)}
        message = {
            "id": f"msg_{spec.number}_{k}",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [block],
        }
        lines.append({"type": "assistant", **head, "message": message})
    path = f"/bench/.claude/projects/-home-dev-{spec.project}/{spec.sid}.jsonl"
    return path, b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def codex(spec: Spec) -> tuple[str, bytes]:
    """A Codex rollout: session_meta, turn_context, then one response_item per event."""
    lines = [
        {
            "timestamp": spec.at(0),
            "type": "session_meta",
            "payload": {
                "id": spec.sid,
                "timestamp": spec.at(0),
                "cwd": spec.cwd,
                "cli_version": "0.125.0",
                "git": {"branch": spec.branch},
            },
        },
        {"timestamp": spec.at(0), "type": "turn_context", "payload": {"cwd": spec.cwd, "model": "gpt-5-codex"}},
    ]
    for k, (e, extra) in enumerate(spec.events):
        if e.kind == "tool_call":
            payload = {
                "type": "function_call",
                "name": e.tool_name,
                "call_id": f"call_{k}",
                "arguments": json.dumps(_tool_input(e, extra)),
            }
        elif e.kind == "tool_result":
            payload = {
                "type": "function_call_output",
                "call_id": f"call_{k - 1}",
                "output": _with(e.tool_output, extra),
            }
        elif e.kind == "thinking":
            payload = {"type": "reasoning", "summary": [{"type": "summary_text", "text": _with(e.text, extra)}]}
        else:
            role = "user" if e.role == "user" else "assistant"
            kind = "input_text" if role == "user" else "output_text"
            payload = {"type": "message", "role": role, "content": [{"type": kind, "text": _with(e.text, extra)}]}
        lines.append({"timestamp": spec.at(k), "type": "response_item", "payload": payload})
    path = f"/bench/.codex/sessions/rollout-{spec.started:%Y-%m-%dT%H-%M-%S}-{spec.sid}.jsonl"
    return path, b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def gemini(spec: Spec) -> tuple[str, bytes]:
    """A Gemini CLI chat document: one message per event (a tool result rides on its call)."""
    messages = []
    for k, (e, extra) in enumerate(spec.events):
        message = {"id": f"m{k}", "timestamp": spec.at(k), "type": "user" if e.role == "user" else "gemini"}
        if e.kind == "tool_call":
            message.update(
                content="",
                model="gemini-2.5-pro",
                toolCalls=[
                    {"id": f"call_{k}", "name": e.tool_name, "args": _tool_input(e, extra), "status": "success"}
                ],
            )
        elif e.kind == "tool_result":
            message.update(
                type="gemini",
                content="",
                model="gemini-2.5-pro",
                toolCalls=[
                    {
                        "id": f"call_{k}",
                        "name": e.tool_name or "tool",
                        "args": {},
                        "result": [{"functionResponse": {"response": {"output": _with(e.tool_output, extra)}}}],
                        "status": "success",
                    }
                ],
            )
        elif e.kind == "thinking":
            message.update(
                type="gemini",
                content="",
                model="gemini-2.5-pro",
                thoughts=[{"subject": "", "description": _with(e.text, extra)}],
            )
        else:
            message["content"] = _with(e.text, extra)
        messages.append(message)
    doc = {
        "sessionId": spec.sid,
        "projectHash": spec.project,
        "startTime": spec.at(0),
        "lastUpdated": spec.at(len(spec.events)),
        "messages": messages,
    }
    return f"/bench/.gemini/tmp/{spec.project}/chats/session-{spec.sid}.json", json.dumps(doc).encode()


WRITERS = {"claude": claude, "codex": codex, "gemini": gemini}


def session_file(spec: Spec) -> tuple[str, bytes]:
    """(path, bytes) of the session as its provider writes it."""
    return WRITERS[spec.provider](spec)
