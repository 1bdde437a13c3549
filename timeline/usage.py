"""A response's token usage and an event's instant, as the Timeline counts them.

The parsers (``agents_ingest.parsers``) add usage up into a session's metadata, the storage
(``timeline.storage``) into the stored session, and ``timeline.recount`` again from the
archive: all three with these rules, so the totals agree. Pure Python, no Django.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any


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
        moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))  # noqa: FURB162 (kept: the archive's reading)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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
    "codex": (
        ("input_tokens", "input_tokens"),
        ("output_tokens", "output_tokens"),
        ("cache_read_tokens", "cached_input_tokens"),
    ),
    "claude": (
        ("input_tokens", "input_tokens"),
        ("output_tokens", "output_tokens"),
        ("cache_read_tokens", "cache_read_input_tokens"),
        ("cache_creation_tokens", "cache_creation_input_tokens"),
    ),
    "gemini": (("input_tokens", "input"), ("output_tokens", "output"), ("cache_read_tokens", "cached")),
}
USAGE_KEYS["zerg-agent"] = USAGE_KEYS["claude"]  # Zerg's agent reports Anthropic's keys, whichever provider answered


def add_usage(totals: Any, usage: dict, provider: str, sign: int = 1) -> None:
    """Add one response's ``usage`` to ``totals`` (a SessionMeta or a Session); ``sign=-1`` takes
    back a usage that a later snapshot of the same response replaces."""
    for attr, key in USAGE_KEYS[provider]:
        setattr(totals, attr, getattr(totals, attr) + sign * tokens(usage, key))


def later_snapshot(usage: dict, held: dict) -> bool:
    """Whether ``usage`` supersedes ``held``, both of one API response: Claude Code writes a line per
    content block, each with the usage as it stood then, so the last one (most output) is final."""
    return tokens(usage, "output_tokens") > tokens(held, "output_tokens")


# Codex writes a response's usage with the running total it reached: that total names the response.
TOTAL_KEYS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens", "total_tokens")


def usage_identity(total) -> str:
    """``total:<input>:<cached>:<output>:<reasoning>:<all>`` of a token_count's running total, or ""
    without one: the same response's usage written twice has the same running total."""
    if not isinstance(total, dict) or not total:
        return ""
    return "total:" + ":".join(str(tokens(total, key)) for key in TOTAL_KEYS)
