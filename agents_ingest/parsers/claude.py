"""Claude Code session files (``~/.claude/projects/<project>/<session>.jsonl``).

Record types: user / assistant (``message.content`` a string or a list of text,
thinking, tool_use, tool_result and image blocks), system (hook notices, compaction
boundaries ``subtype: compact_boundary``), summary (a title for a conversation leaf),
and bookkeeping records (attachment, progress, file-history-snapshot, queue-operation,
permission-mode, last-prompt, custom-title, the stream-json ``result``): any other type
is kept as ``unknown``.

One API response can be written as several lines (one per content block) that repeat
the same ``message.id`` and ``usage``: token usage is counted once per message id.

Subagent files (``agent-*.jsonl`` beside the sessions, or ``<session>/subagents/*.jsonl``)
carry their parent's ``sessionId``; their own session id is the file's stem.
"""

from __future__ import annotations

import os

from agents_ingest.parsers.base import LineParser, ParsedEvent, add_usage, clip, later_snapshot

META_TYPES = {
    "attachment",
    "progress",
    "file-history-snapshot",
    "queue-operation",
    "permission-mode",
    "last-prompt",
    "custom-title",
    "ai-title",
    "result",
    "agent-name",
    "tag",
}
BLOCK_KINDS = {
    "text": "message",
    "thinking": "thinking",
    "redacted_thinking": "thinking",
    "tool_use": "tool_call",
    "server_tool_use": "tool_call",
    "tool_result": "tool_result",
    "image": "image",
    "document": "image",
}


def is_subagent_path(path: str) -> bool:
    name = os.path.basename(path)
    return name.startswith("agent-") or os.path.basename(os.path.dirname(path)) == "subagents"


def session_id_from_path(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0] if path else ""


def parent_from_path(path: str) -> str:
    """``<session>/subagents/agent-x.jsonl`` names its parent in the path."""
    parent_dir = os.path.dirname(path)
    if os.path.basename(parent_dir) == "subagents":
        return os.path.basename(os.path.dirname(parent_dir))
    return ""


def _tool_output(content) -> str:
    if isinstance(content, str):
        return clip(content)
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif isinstance(block, dict) and block.get("type") == "image":
                parts.append("[image]")
            else:
                parts.append(clip(block))
        return clip("\n".join(parts))
    return clip(content)


class ClaudeParser(LineParser):
    provider = "claude"

    def __init__(self, path: str = ""):
        super().__init__(path)
        self.subagent = is_subagent_path(path)
        self.usage_events: dict[str, ParsedEvent] = {}  # message id -> the event holding its usage
        if path:
            self.meta.session_id = session_id_from_path(path)
            if self.subagent:
                self.meta.parent_session_id = parent_from_path(path)

    def _common(self, record: dict, ts) -> None:
        meta = self.meta
        sid = record.get("sessionId") or record.get("session_id")
        if isinstance(sid, str) and sid:
            if self.subagent:
                meta.parent_session_id = meta.parent_session_id or sid
            elif not meta.session_id:
                meta.session_id = sid
        # Spelled out rather than looped over (attribute, key) pairs: this runs for every line.
        value = record.get("cwd")
        if value and isinstance(value, str):
            meta.cwd = value
        value = record.get("gitBranch")
        if value and isinstance(value, str):
            meta.git_branch = value
        value = record.get("version")
        if value and isinstance(value, str):
            meta.version = value
        meta.see_time(ts)

    def parse(self, record: dict, rtype: str, offset: int) -> list[ParsedEvent]:
        ts = record.get("timestamp")
        self._common(record, ts)
        if not isinstance(ts, str):
            ts = None
        base = dict(
            record_type=rtype,
            timestamp=ts,
            uuid=str(record.get("uuid") or ""),
            parent_uuid=str(record.get("parentUuid") or ""),
            is_sidechain=bool(record.get("isSidechain")),
        )
        if rtype in ("user", "assistant"):
            return self._message(record, rtype, offset, base)
        if rtype == "system":
            subtype = record.get("subtype") or ""
            kind = "compaction" if subtype == "compact_boundary" else "system"
            if subtype == "init" and isinstance(record.get("model"), str):
                self.meta.model = record["model"]
            text = record.get("content") if isinstance(record.get("content"), str) else subtype
            return [ParsedEvent(offset, 0, kind, role="system", text=clip(text), **base)]
        if rtype == "summary":
            summary = record.get("summary")
            if isinstance(summary, str) and summary:
                self.meta.title = summary
            return [ParsedEvent(offset, 0, "summary", text=clip(summary), **base)]
        if rtype in META_TYPES:
            if rtype == "custom-title" and isinstance(record.get("customTitle"), str):
                self.meta.title = record["customTitle"]
            return [ParsedEvent(offset, 0, "meta", text=self._meta_text(record, rtype), **base)]
        return self.unknown(record, rtype, offset)

    @staticmethod
    def _meta_text(record: dict, rtype: str) -> str:
        if rtype == "last-prompt":
            return clip(record.get("lastPrompt"))
        if rtype == "queue-operation":
            return clip(f"{record.get('operation', '')} {clip(record.get('content'))[:500]}".strip())
        if rtype == "attachment" and isinstance(record.get("attachment"), dict):
            return clip(record["attachment"].get("type"))
        if rtype == "permission-mode":
            return clip(record.get("permissionMode"))
        if rtype == "result":
            return clip(record.get("result"))
        return ""

    def _message(self, record: dict, rtype: str, offset: int, base: dict) -> list[ParsedEvent]:
        message = record.get("message")
        message = message if isinstance(message, dict) else {}
        role = message.get("role")
        role = role if isinstance(role, str) else rtype
        model = message.get("model")
        model = model if isinstance(model, str) else ""
        if model and model != "<synthetic>":
            self.meta.model = model
        usage = None
        mid = message.get("id")
        message_usage = message.get("usage")
        if isinstance(message_usage, dict):
            # once per message id, the final snapshot: it moves to the line that carries it
            held = self.usage_events.get(mid[:200]) if isinstance(mid, str) else None
            if held is None or later_snapshot(message_usage, held.usage):
                usage = message_usage
                add_usage(self.meta, usage, "claude")
                if held is not None:
                    add_usage(self.meta, held.usage, "claude", -1)
                    held.usage = None
        content = message.get("content")
        events: list[ParsedEvent] = []
        if isinstance(content, list) and content:
            for i, block in enumerate(content):
                events.append(self._block(block, i, offset, role, model, base))
        else:
            kind = "compaction" if record.get("isCompactSummary") else "message"
            events.append(ParsedEvent(offset, 0, kind, role=role, model=model, text=clip(content), **base))
        if isinstance(mid, str):
            mid = mid[:200]
            for event in events:
                event.message_id = mid
        if usage is not None:
            events[0].usage = usage
            if isinstance(mid, str):
                self.usage_events[mid[:200]] = events[0]
        return events

    def _block(self, block, i: int, offset: int, role: str, model: str, base: dict) -> ParsedEvent:
        if not isinstance(block, dict):
            return ParsedEvent(offset, i, "message", role=role, model=model, text=clip(block), **base)
        btype = block.get("type")
        kind = BLOCK_KINDS.get(btype, "unknown")
        event = ParsedEvent(offset, i, kind, role=role, model=model, **base)
        if kind == "unknown":
            self.meta.unknown += 1
            event.text = clip(block)[:2000]
            event.record_type = f"{base['record_type']}/{btype}"
        elif btype == "text":
            event.text = clip(block.get("text"))
        elif kind == "thinking":
            event.text = clip(block.get("thinking") or "")
        elif kind == "tool_call":
            event.tool_name = clip(block.get("name"))
            event.tool_input = clip(block.get("input"))
            event.tool_call_id = clip(block.get("id"))
        elif kind == "tool_result":
            event.tool_output = _tool_output(block.get("content"))
            event.tool_call_id = clip(block.get("tool_use_id"))
        elif kind == "image":
            source = block.get("source") if isinstance(block.get("source"), dict) else {}
            event.text = f"[{btype} {source.get('media_type', '')}]".replace(" ]", "]")
        return event
