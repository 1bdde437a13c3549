"""Transcripts of Zerg's built-in ``agent`` backend (provider ``zerg-agent``).

The agent has no session file of a CLI to ship, so its child process writes one: JSON lines in
``<job workspace>/artifacts/transcript.jsonl`` (``commis.backends.agent_transcript``), ingested
like a Claude Code or Codex file (device ``zerg-commis``, live while it runs and whole at its
end), so the Timeline's search, session page, cost and export cover agent runs too. Records:

``{"type": "start", "session_id": "commis-13", "job": 13, "attempt": 1, "timestamp": ..., "cwd": ...,
"provider": "anthropic", "model": ...}``
    one per attempt; ``session_id`` is the agent's thread id, also the job's ``session_id``.
``{"type": "message", "index": 0, "timestamp": ..., "message": {"role": "user", "content": ...}}``
    one message of the conversation, in Anthropic's format (``content``: a string, or text,
    tool_use, tool_result and thinking blocks), ``index`` its position in the conversation
    (a resumed attempt writes only the messages past the last index). The owner's task is the
    first user message. An assistant message also has ``model`` and ``usage`` (that response's
    tokens, Anthropic keys whichever provider answered): counted once per index.
``{"type": "end", "timestamp": ..., "status": "succeeded", "summary": ...}``
    how the attempt ended.

Any other type is kept as ``unknown``, as for every provider.
"""

from __future__ import annotations

from agents_ingest.parsers.base import LineParser, ParsedEvent, add_usage, clip
from agents_ingest.parsers.claude import BLOCK_KINDS, _tool_output

PROVIDER = "zerg-agent"
TITLE_CHARS = 200


def _str(value) -> str:
    return value if isinstance(value, str) else ""


class ZergAgentParser(LineParser):
    provider = PROVIDER

    def parse(self, record: dict, rtype: str, offset: int) -> list[ParsedEvent]:
        ts = record.get("timestamp")
        ts = ts if isinstance(ts, str) else None
        self.meta.see_time(ts)
        sid = _str(record.get("session_id"))
        if sid and not self.meta.session_id:
            self.meta.session_id = sid
        if rtype == "start":
            meta = self.meta
            meta.cwd = _str(record.get("cwd")) or meta.cwd
            meta.model = _str(record.get("model")) or meta.model
            text = (
                f"attempt {record.get('attempt', '?')} of job {record.get('job', '?')}: "
                f"{_str(record.get('provider'))} {_str(record.get('model'))}".rstrip()
            )
            return [ParsedEvent(offset, 0, "system", role="system", record_type=rtype, text=clip(text), timestamp=ts)]
        if rtype == "end":
            text = f"{_str(record.get('status')) or 'ended'}: {_str(record.get('summary'))}".rstrip(": ")
            return [ParsedEvent(offset, 0, "system", role="system", record_type=rtype, text=clip(text), timestamp=ts)]
        if rtype == "message" and isinstance(record.get("message"), dict):
            return self._message(record, offset, ts)
        return self.unknown(record, rtype, offset)

    def _message(self, record: dict, offset: int, ts: str | None) -> list[ParsedEvent]:
        message = record["message"]
        role = _str(message.get("role")) or "user"
        model = _str(record.get("model"))
        if model:
            self.meta.model = model
        base = {"role": role, "model": model, "record_type": "message", "timestamp": ts}
        content = message.get("content")
        if isinstance(content, list) and content:
            events = [self._block(block, i, offset, base) for i, block in enumerate(content)]
        else:
            events = [ParsedEvent(offset, 0, "message", text=clip(content), **base)]
            if role == "user" and not self.meta.title and isinstance(content, str) and content.strip():
                self.meta.title = content.strip().splitlines()[0][:TITLE_CHARS]
        index = record.get("index")
        if type(index) is int:  # names the response: its usage counts once, however often the line is sent
            for event in events:
                event.message_id = f"{self.meta.session_id}:{index}"[:200]
        usage = record.get("usage")
        if role == "assistant" and isinstance(usage, dict) and usage:
            add_usage(self.meta, usage, PROVIDER)
            events[0].usage = usage
        return events

    def _block(self, block, i: int, offset: int, base: dict) -> ParsedEvent:
        if not isinstance(block, dict):
            return ParsedEvent(offset, i, "message", text=clip(block), **base)
        btype = block.get("type")
        kind = BLOCK_KINDS.get(btype, "unknown")
        event = ParsedEvent(offset, i, kind, **base)
        if kind == "unknown":
            self.meta.unknown += 1
            event.text = clip(block)[:2000]
            event.record_type = f"message/{btype}"
        elif btype == "text":
            event.text = clip(block.get("text"))
            if base["role"] == "user" and not self.meta.title and event.text.strip():
                self.meta.title = event.text.strip().splitlines()[0][:TITLE_CHARS]
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
            event.text = "[image]"
        return event
