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

import functools
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

KINDS = (
    "message", "thinking", "tool_call", "tool_result", "image", "system", "summary",
    "compaction", "meta", "unknown", "malformed",
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


def instant(ts: Any) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (no zone means UTC), or None if it is not one."""
    if not isinstance(ts, str) or not ts:
        return None
    return _instant(ts)


# Memoised: a line's timestamp is read when it is parsed, when the session's bounds are compared
# with it, and again when its events are stored (a request holds a few thousand lines).
@functools.lru_cache(maxsize=8192)
def _instant(ts: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


# One response's token count above this is not a count (a real one is below a million): it counts as 0,
# so that no sum of them can pass a 64-bit column (BigIntegerField) and fail the whole request.
TOKEN_LIMIT = 10**12


def tokens(usage: dict, key: str) -> int:
    """``usage[key]`` if it is a plausible token count (an int from 0 to TOKEN_LIMIT), else 0."""
    value = usage.get(key)
    return value if type(value) is int and 0 <= value <= TOKEN_LIMIT else 0


# (total's attribute, key in one response's usage): a session's parser and the ingest add them up
# alike. Codex's input_tokens include the cached ones (Claude's and Gemini's do not).
USAGE_KEYS = {
    "codex": (("input_tokens", "input_tokens"), ("output_tokens", "output_tokens"),
              ("cache_read_tokens", "cached_input_tokens")),
    "claude": (("input_tokens", "input_tokens"), ("output_tokens", "output_tokens"),
               ("cache_read_tokens", "cache_read_input_tokens"), ("cache_creation_tokens", "cache_creation_input_tokens")),
    "gemini": (("input_tokens", "input"), ("output_tokens", "output"), ("cache_read_tokens", "cached")),
}


def add_usage(totals: Any, usage: dict, provider: str, sign: int = 1) -> None:
    """Add one response's ``usage`` to ``totals`` (a SessionMeta or a Session); ``sign=-1`` takes
    back a usage that a later snapshot of the same response replaces."""
    for attr, key in USAGE_KEYS[provider]:
        setattr(totals, attr, getattr(totals, attr) + sign * tokens(usage, key))


def later_snapshot(usage: dict, held: dict) -> bool:
    """Whether ``usage`` supersedes ``held``, both of one API response: Claude Code writes a line per
    content block, each with the usage as it stood then, so the last one (most output) is final."""
    return tokens(usage, "output_tokens") > tokens(held, "output_tokens")


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
    record = _fast_loads(raw, raw)
    if record is _TOO_DEEP:
        return None, TOO_DEEP
    if record is not _REFUSED:
        return record, None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8: {exc.reason} at byte {exc.start}"
    text = text.strip()
    if not text:
        return None, "empty line"
    record, error = _stdlib_loads(text, raw)
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


# orjson reads an integer beyond 64 bits as a float (12345678901234567890123 -> 1.2345678901234568e+22):
# text with a run of 20 digits goes to the standard library, which keeps it exact. (Found with
# bytes.translate + a substring search: ~10x cheaper than a regular expression, ~1 % of a parse.)
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_TWENTY_DIGITS = b"0" * 20
_NEGATIVE_NINETEEN_DIGITS = b"-" + b"0" * 19  # below -2**63 (-9223372036854775808) orjson reads a float too


def has_long_number(raw: bytes) -> bool:
    digits = raw.translate(_DIGITS_TO_ZERO)
    return _TWENTY_DIGITS in digits or _NEGATIVE_NINETEEN_DIGITS in digits


def orjson():
    """The orjson module, imported on first use: ~2.4 MB that an idle `zerg serve` need not hold."""
    global _orjson
    if _orjson is None:
        import orjson as module

        _orjson = module
    return _orjson


_orjson = None


def loads(text: str | bytes, raw: bytes | None = None) -> tuple[Any, str | None]:
    """orjson (~2.5x faster on session lines), with the standard library's reading of what it refuses
    or reads differently (NaN, integers beyond 64 bits, lone surrogates...) and its error messages.
    ``raw``: the bytes ``text`` was decoded from, if the caller has them. Nested past ``MAX_DEPTH``:
    (None, TOO_DEEP), never an exception."""
    if raw is None:
        raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    value = _fast_loads(text, raw)
    if value is _TOO_DEEP:
        return None, TOO_DEEP
    return (value, None) if value is not _REFUSED else _stdlib_loads(text, raw)


def json_value(text: str | bytes) -> Any:
    """``json.loads`` for data the server did not write (job output, a model's reply): nested past
    ``MAX_DEPTH`` it is a ValueError like any unreadable text, never a RecursionError."""
    value, error = loads(text)
    if error is not None:
        raise ValueError(error)
    return value


#: Arrays and objects nested deeper than this are not read. The standard library's json reads and
#: writes recursively: a line nested ~1,000 levels raised RecursionError (not a ValueError) and
#: failed the whole ingest request, so the Shipper sent it again forever. orjson refuses past 1,024
#: levels on reading and past 254 on writing; no real session record nests beyond a few dozen.
MAX_DEPTH = 200
TOO_DEEP = f"nested too deeply: more than {MAX_DEPTH} levels of arrays and objects"
_REFUSED = object()
_TOO_DEEP = object()


def _fast_loads(text: str | bytes, raw: bytes) -> Any:
    """orjson's reading of ``text``, or _REFUSED where it refuses it or would misread a number in ``raw``,
    or _TOO_DEEP."""
    if has_long_number(raw):
        return _REFUSED
    fast = orjson()
    try:
        value = fast.loads(text)
    except fast.JSONDecodeError:
        return _REFUSED  # past orjson's own depth limit too: the standard library's path says so
    return _TOO_DEEP if _too_deep(value, raw) else value


def _stdlib_loads(text: str | bytes, raw: bytes) -> tuple[Any, str | None]:
    try:
        value = json.loads(text)
    except RecursionError:  # the C scanner checks its depth: nothing is left half-done
        return None, TOO_DEEP
    except ValueError as exc:
        return None, f"invalid JSON: {exc}"
    return (None, TOO_DEEP) if _too_deep(value, raw) else (value, None)


_CONTAINERS = (dict, list)


def _too_deep(value: Any, raw: bytes) -> bool:
    """Whether ``value`` (read from ``raw``) nests past MAX_DEPTH: counted only when ``raw`` holds that
    many brackets, then level by level without recursion. The two byte counts cost ~2 us on a 3.4 KB
    line (the fixtures: 1 % of an ingest's time per event); 1 % of the fixtures' lines are walked."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return False
    level = [value] if type(value) in _CONTAINERS else []
    for _ in range(MAX_DEPTH):
        if not level:
            return False
        below = []
        for item in level:
            children = item.values() if type(item) is dict else item
            below.extend(child for child in children if type(child) in _CONTAINERS)
        level = below
    return bool(level)


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
        return [ParsedEvent(offset, 0, "unknown", record_type=rtype, text=clip(record)[:2000],
                            timestamp=record.get("timestamp") if isinstance(record.get("timestamp"), str) else None)]

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
        yield data[start:end + 1], offset + start
        start = end + 1


def complete_length(data: bytes) -> int:
    """How many bytes of ``data`` are complete lines (through the last newline)."""
    return data.rfind(b"\n") + 1
