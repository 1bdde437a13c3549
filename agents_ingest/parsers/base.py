"""What every parser produces: events and session metadata. Pure Python, no Django.

A parser is stateful: feed it one raw line at a time (the bytes as they are in the
file, with the byte offset where the line starts) and it returns the events that line
yields, while it accumulates the session's metadata. Nothing a line contains is ever
fatal: undecodable or non-JSON lines become ``malformed`` events, records of a type
the parser does not know become ``unknown`` events; both are counted. A line nested deeper
than ``MAX_DEPTH`` is unreadable too (malformed, "nested too deeply"), so that no later step
that walks a record recursively (the standard library's JSON, ``repr``) can fail a request.

Event kinds (``ParsedEvent.kind``):
    message      text said by the user, the assistant or the system prompt
    thinking     reasoning / thinking blocks
    tool_call    a tool invocation (tool_name, tool_input, tool_call_id)
    tool_result  a tool's output (tool_output, tool_call_id)
    image        an image block (text names the media type; the bytes stay in the raw line)
    system       Claude Code system records (hooks, notices, init)
    summary      session summaries / titles
    compaction   a compaction boundary or compacted summary
    meta         bookkeeping records (attachments, snapshots, queue operations,
                 Codex session_meta / turn_context / event_msg ...)
    unknown      a record type the parser does not know (kept raw)
    malformed    a line that is not valid JSON (kept raw)
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Re-exported: the parsers' JSON reading is core's (``zerg_site.safejson``), the usage and instant
# rules are the Timeline's (``timeline.usage``); both were defined here before.
from timeline.usage import (  # noqa: F401
    TOKEN_LIMIT,
    USAGE_KEYS,
    add_usage,
    instant,
    later_snapshot,
    tokens,
)
from zerg_site.safejson import (  # noqa: F401
    MAX_DEPTH,
    REFUSED,
    TOO_DEEP,
    TOO_DEEP_VALUE,
    fast_loads,
    has_long_number,
    json_value,
    loads,
    orjson,
    stdlib_loads,
)

KINDS = (
    "message",
    "thinking",
    "tool_call",
    "tool_result",
    "image",
    "system",
    "summary",
    "compaction",
    "meta",
    "unknown",
    "malformed",
)
TEXT_LIMIT = 200_000  # characters of text kept per event field (the raw line keeps everything)


@dataclass(slots=True)  # slots: a little faster to build and read, and smaller
class ParsedEvent:
    offset: int  # byte offset of the source line in its file
    index: int  # position of this event within its line (a line may hold several blocks)
    kind: str
    role: str = ""
    record_type: str = ""
    text: str = ""
    tool_name: str = ""
    tool_input: str = ""
    tool_output: str = ""
    tool_call_id: str = ""
    message_id: str = ""  # the API response this came from (Codex: its running total): usage counts once per id
    usage: dict | None = None
    model: str = ""
    timestamp: str | None = None
    uuid: str = ""
    parent_uuid: str = ""
    is_sidechain: bool = False
    key: str = ""  # a stable identity within the session, set by the parser when it has one


@dataclass
class SessionMeta:
    session_id: str = ""
    parent_session_id: str = ""
    cwd: str = ""
    git_branch: str = ""
    git_commit: str = ""
    git_remote: str = ""
    version: str = ""
    model: str = ""
    title: str = ""
    started_at: str | None = None
    ended_at: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    record_types: Counter = field(default_factory=Counter)
    event_kinds: Counter = field(default_factory=Counter)
    malformed: list = field(default_factory=list)  # [(offset, error)]
    unknown: int = 0
    duplicates: int = 0  # records that repeat another record's content (Codex event_msg copies)

    def see_time(self, ts: Any) -> None:
        """Widen [started_at, ended_at] to a record's timestamp (compared as times: zones differ)."""
        moment = instant(ts)
        if moment is None:
            return
        if self.started_at is None or moment < instant(self.started_at):
            self.started_at = ts
        if self.ended_at is None or moment > instant(self.ended_at):
            self.ended_at = ts


def clip(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value[:TEXT_LIMIT]


def decode_line(raw: bytes) -> tuple[Any, str | None]:
    """(record, None) or (None, error) for one raw line (trailing newline allowed)."""
    # orjson reads the bytes as they are: it refuses what is not UTF-8 and accepts only JSON's
    # whitespace around the value, so what it reads is what decoding and stripping would give.
    # Whatever it refuses takes the standard library's path below, for the exact error message.
    record = fast_loads(raw, raw)
    if record is TOO_DEEP_VALUE:
        return None, TOO_DEEP
    if record is not REFUSED:
        return record, None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8: {exc.reason} at byte {exc.start}"
    text = text.strip()
    if not text:
        return None, "empty line"
    record, error = stdlib_loads(text, raw)
    if error is None and _SURROGATE_ESCAPE.search(raw):
        # The standard library reads an escaped lone surrogate ("\\ud800", which orjson refuses) into
        # a str that is not valid Unicode, and no database can store it: in the events it becomes
        # U+FFFD, as the Postgres NUL does (the raw line keeps its bytes).
        record = _replace_surrogates(record)
    return record, error


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    return value


class LineParser:
    """Base for line-oriented (JSONL) parsers."""

    provider = ""

    def __init__(self, path: str = ""):
        self.path = path
        self.meta = SessionMeta()

    def feed(self, raw: bytes, offset: int) -> list[ParsedEvent]:
        if not raw or raw.isspace():  # as `not raw.strip()`, without copying the line
            return []  # blank lines hold nothing; the archive still keeps their bytes
        record, error = decode_line(raw)
        if error is None and not isinstance(record, dict):
            error = f"a JSON {type(record).__name__}, not an object"
        if error is not None:
            self.meta.malformed.append((offset, error))
            self.meta.record_types["<malformed>"] += 1
            return self._count([ParsedEvent(offset, 0, "malformed", text=clip(raw.decode("utf-8", "replace")))])
        rtype = record.get("type")
        rtype = rtype if isinstance(rtype, str) else "<none>"
        self.meta.record_types[rtype] += 1
        return self._count(self.parse(record, rtype, offset))

    def _count(self, events: list[ParsedEvent]) -> list[ParsedEvent]:
        for event in events:
            self.meta.event_kinds[event.kind] += 1
        return events

    def unknown(self, record: dict, rtype: str, offset: int) -> list[ParsedEvent]:
        self.meta.unknown += 1
        return [
            ParsedEvent(
                offset,
                0,
                "unknown",
                record_type=rtype,
                text=clip(record)[:2000],
                timestamp=record.get("timestamp") if isinstance(record.get("timestamp"), str) else None,
            )
        ]

    def parse(self, record: dict, rtype: str, offset: int) -> list[ParsedEvent]:  # pragma: no cover
        raise NotImplementedError


def iter_lines(data: bytes, offset: int = 0):
    """(line bytes incl. newline, offset) for each complete line; the incomplete tail is not yielded."""
    start = 0
    n = len(data)
    while start < n:
        end = data.find(b"\n", start)
        if end < 0:
            return
        yield data[start : end + 1], offset + start
        start = end + 1


def complete_length(data: bytes) -> int:
    """How many bytes of ``data`` are complete lines (through the last newline)."""
    return data.rfind(b"\n") + 1
