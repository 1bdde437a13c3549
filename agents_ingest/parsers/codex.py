"""Codex rollouts (``~/.codex/sessions/YYYY/MM/DD/rollout-<time>-<uuid>.jsonl``).

Each line is ``{"timestamp", "type", "payload"}`` with type session_meta (the session
id, cwd, git info, CLI version), turn_context (model, cwd per turn), response_item
(message, reasoning, function_call / function_call_output, custom_tool_call /
custom_tool_call_output, web_search_call, local_shell_call), event_msg (token_count,
task_started, exec_command_end, ... and copies of the conversation: user_message,
agent_message, agent_reasoning) and compacted.

The conversation is written twice: as response_item messages and as event_msg
user_message / agent_message / agent_reasoning. The response items are the complete
record, so those event_msg copies yield no event (they are counted as duplicates; the
raw lines are archived like every other line).

When parsing starts mid-file (a later batch of a tailed file) the session id comes from
the file name, which ends with the same uuid session_meta carries.
"""

from __future__ import annotations

import os
import re

from agents_ingest.parsers.base import LineParser, ParsedEvent, add_usage, clip
from timeline.usage import usage_identity

UUID_TAIL = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.jsonl$", re.IGNORECASE)
DUPLICATE_EVENT_MSGS = {"user_message", "agent_message", "agent_reasoning", "agent_reasoning_raw_content"}


def session_id_from_path(path: str) -> str:
    match = UUID_TAIL.search(os.path.basename(path or ""))
    return match.group(1) if match else ""


def _content_text(content) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = []
    for item in content:
        if isinstance(item, dict):
            if isinstance(item.get("text"), str):
                parts.append(item["text"])
            elif item.get("type") in ("input_image", "image"):
                parts.append("[image]")
        elif isinstance(item, str):
            parts.append(item)
    return "\n".join(parts)


class CodexParser(LineParser):
    provider = "codex"

    def __init__(self, path: str = ""):
        super().__init__(path)
        self.meta.session_id = session_id_from_path(path)
        self.seen_meta = False
        self.counted: set[str] = set()  # usage identities counted in this file

    def parse(self, record: dict, rtype: str, offset: int) -> list[ParsedEvent]:
        ts = record.get("timestamp")
        ts = ts if isinstance(ts, str) else None
        self.meta.see_time(ts)
        payload = record.get("payload")
        payload = payload if isinstance(payload, dict) else {}
        ptype = payload.get("type")
        ptype = ptype if isinstance(ptype, str) else ""
        base = dict(timestamp=ts, record_type=f"{rtype}/{ptype}" if ptype else rtype)
        if rtype == "session_meta":
            self._session_meta(payload)
            return [ParsedEvent(offset, 0, "meta", text=clip(payload.get("cwd")), **base)]
        if rtype == "turn_context":
            if isinstance(payload.get("model"), str):
                self.meta.model = payload["model"]
            if isinstance(payload.get("cwd"), str) and not self.meta.cwd:
                self.meta.cwd = payload["cwd"]
            return [ParsedEvent(offset, 0, "meta", text=clip(payload.get("model")), **base)]
        if rtype == "response_item":
            return self._response_item(payload, ptype, offset, base, record)
        if rtype == "event_msg":
            if ptype in DUPLICATE_EVENT_MSGS:
                self.meta.duplicates += 1
                return []
            event = ParsedEvent(offset, 0, "meta", text=ptype, **base)
            if ptype == "token_count":
                self._token_count(payload, event)
            return [event]
        if rtype == "compacted":
            return [ParsedEvent(offset, 0, "compaction", role="system", text=clip(payload.get("message")), **base)]
        return self.unknown(record, rtype, offset)

    def _session_meta(self, payload: dict) -> None:
        meta = self.meta
        if not self.seen_meta:  # a forked rollout repeats its parent's meta after its own
            self.seen_meta = True
            if isinstance(payload.get("id"), str) and payload["id"]:
                meta.session_id = payload["id"]
            if isinstance(payload.get("cwd"), str):
                meta.cwd = payload["cwd"]
            if isinstance(payload.get("cli_version"), str):
                meta.version = payload["cli_version"]
            meta.see_time(payload.get("timestamp"))
            git = payload.get("git") if isinstance(payload.get("git"), dict) else {}
            meta.git_branch = clip(git.get("branch")) or meta.git_branch
            meta.git_commit = clip(git.get("commit_hash")) or meta.git_commit
            meta.git_remote = clip(git.get("repository_url")) or meta.git_remote

    def _token_count(self, payload: dict, event: ParsedEvent) -> None:
        """One response's usage (``last_token_usage``), priced at the model of its turn. Its identity
        (the event's ``message_id``) is the running total it brought the session to: Codex writes a
        token_count again without a new response (the same totals), and a resumed rollout replays
        the old ones; each counts once, in this file and against what the session already has."""
        info = payload.get("info") if isinstance(payload.get("info"), dict) else {}
        last = info.get("last_token_usage")
        if not isinstance(last, dict) or not last:
            return
        event.message_id = usage_identity(info.get("total_token_usage"))
        event.model = self.meta.model
        if event.message_id in self.counted:
            return
        if event.message_id:
            self.counted.add(event.message_id)
        event.usage = last
        add_usage(self.meta, last, "codex")

    def _response_item(self, payload: dict, ptype: str, offset: int, base: dict, record: dict) -> list[ParsedEvent]:
        if ptype == "message":
            role = payload.get("role") if isinstance(payload.get("role"), str) else ""
            return [
                ParsedEvent(
                    offset,
                    0,
                    "message",
                    role=role,
                    text=clip(_content_text(payload.get("content"))),
                    model=self.meta.model if role == "assistant" else "",
                    **base,
                )
            ]
        if ptype == "reasoning":
            text = "\n".join(
                filter(None, [_content_text(payload.get("summary")), _content_text(payload.get("content"))])
            )
            return [ParsedEvent(offset, 0, "thinking", role="assistant", text=clip(text), **base)]
        if ptype in ("function_call", "custom_tool_call"):
            tool_input = payload.get("arguments") if ptype == "function_call" else payload.get("input")
            return [
                ParsedEvent(
                    offset,
                    0,
                    "tool_call",
                    role="assistant",
                    tool_name=clip(payload.get("name")),
                    tool_input=clip(tool_input),
                    tool_call_id=clip(payload.get("call_id")),
                    **base,
                )
            ]
        if ptype in ("function_call_output", "custom_tool_call_output"):
            output = payload.get("output")
            if isinstance(output, dict) and isinstance(output.get("content"), str):
                output = output["content"]
            return [
                ParsedEvent(
                    offset,
                    0,
                    "tool_result",
                    role="tool",
                    tool_output=clip(output),
                    tool_call_id=clip(payload.get("call_id")),
                    **base,
                )
            ]
        if ptype in ("web_search_call", "local_shell_call"):
            name = "web_search" if ptype == "web_search_call" else "local_shell"
            return [
                ParsedEvent(
                    offset,
                    0,
                    "tool_call",
                    role="assistant",
                    tool_name=name,
                    tool_input=clip(payload.get("action")),
                    tool_call_id=clip(payload.get("call_id")),
                    **base,
                )
            ]
        return self.unknown(record, base["record_type"], offset)
