"""What a session's tokens cost: list prices in USD per million tokens, by model name.

Session files record tokens, not money (Claude Code, Codex and Gemini CLI alike), so the
cost is computed at ingest from the prices below. A model that is not in the table (a
new one, a local one) is not guessed at: its tokens are left unpriced and the session
says so (``cost_partial``). ``[timeline] prices`` in config.toml (or ``ZERG_PRICES`` as
JSON) adds models or corrects a price; a change applies to what is ingested afterwards.

Each entry is (input, output, cache read, cache write); a name matches the longest
prefix, after dropping a context-size suffix such as ``[1m]`` and a ``vendor/`` prefix.
Anthropic bills a one-hour cache write at twice the input price (the table's cache write
is the five-minute one). OpenAI and Gemini count cached tokens inside the input tokens.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings

from agents_ingest.parsers.base import tokens

Price = tuple[float, float, float, float]

PRICES: dict[str, Price] = {
    # Anthropic (https://docs.anthropic.com/en/docs/about-claude/pricing)
    "claude-opus-4-5": (5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-1": (15.0, 75.0, 1.50, 18.75),
    "claude-opus-4-0": (15.0, 75.0, 1.50, 18.75),
    "claude-opus-4-2025": (15.0, 75.0, 1.50, 18.75),
    "claude-3-opus": (15.0, 75.0, 1.50, 18.75),
    "claude-sonnet-4-5": (3.0, 15.0, 0.30, 3.75),
    "claude-sonnet-4-0": (3.0, 15.0, 0.30, 3.75),
    "claude-sonnet-4-2025": (3.0, 15.0, 0.30, 3.75),
    "claude-3-7-sonnet": (3.0, 15.0, 0.30, 3.75),
    "claude-3-5-sonnet": (3.0, 15.0, 0.30, 3.75),
    "claude-haiku-4-5": (1.0, 5.0, 0.10, 1.25),
    "claude-3-5-haiku": (0.80, 4.0, 0.08, 1.0),
    "claude-3-haiku": (0.25, 1.25, 0.03, 0.30),
    # OpenAI (https://openai.com/api/pricing/)
    "gpt-5-mini": (0.25, 2.0, 0.025, 0.25),
    "gpt-5-nano": (0.05, 0.40, 0.005, 0.05),
    "gpt-5-codex": (1.25, 10.0, 0.125, 1.25),
    "gpt-5.1-codex-mini": (0.25, 2.0, 0.025, 0.25),
    "gpt-5.1": (1.25, 10.0, 0.125, 1.25),
    "gpt-5-2025": (1.25, 10.0, 0.125, 1.25),
    "o4-mini": (1.10, 4.40, 0.275, 1.10),
    "o3": (2.0, 8.0, 0.50, 2.0),
    "o3-mini": (1.10, 4.40, 0.55, 1.10),
    "o3-pro": (20.0, 80.0, 20.0, 20.0),
    "codex-mini": (1.50, 6.0, 0.375, 1.50),
    "gpt-4.1-mini": (0.40, 1.60, 0.10, 0.40),
    "gpt-4.1": (2.0, 8.0, 0.50, 2.0),
    # Google (https://ai.google.dev/gemini-api/docs/pricing; prompts up to 200k tokens)
    "gemini-2.5-pro": (1.25, 10.0, 0.125, 1.25),
    "gemini-2.5-flash-lite": (0.10, 0.40, 0.01, 0.10),
    "gemini-2.5-flash": (0.30, 2.50, 0.03, 0.30),
}
# "gpt-5" alone is the model; "gpt-5.4" is another one, not priced here.
EXACT: dict[str, Price] = {"gpt-5": PRICES["gpt-5-2025"]}

_SUFFIX = re.compile(r"\[[^\]]*\]$")


def _normal(model: str) -> str:
    return _SUFFIX.sub("", model.strip().lower()).rsplit("/", 1)[-1]


def price_of(model: str, overrides: dict[str, Price] | None = None) -> Price | None:
    """The price of ``model``: an override or built-in entry, exact name first, then the longest prefix."""
    name = _normal(model or "")
    if not name:
        return None
    for table in (overrides or {}, EXACT, PRICES):
        if name in table:
            return table[name]
    for table in (overrides or {}, PRICES):
        best = max((p for p in table if name.startswith(p) and p not in EXACT), key=len, default=None)
        if best is not None:
            return table[best]
    return None


_NO_OVERRIDES: dict[str, Price] = {}
_memo: dict = {"table": None, "prices": {}}


def _price(model: str) -> Price | None:
    """``price_of`` with the configured overrides, remembered per model name (an ingest asks once
    per response; the overrides are the settings' own object, so a new one starts afresh)."""
    table = getattr(getattr(settings, "ZERG", None), "prices", None)
    table = _NO_OVERRIDES if table is None else table  # the same object each time: the memo stays
    if _memo["table"] is not table:
        _memo["table"], _memo["prices"] = table, {}
    prices = _memo["prices"]
    if model not in prices:
        if len(prices) > 1000:  # model names come from shipped files: keep the memo bounded
            prices.clear()
        prices[model] = price_of(model, table)
    return prices[model]


def _dollars(price: Price, fresh_input: int, output: int, cache_read: int, cache_write: int,
             cache_write_1h: int = 0) -> float:
    return (fresh_input * price[0] + output * price[1] + cache_read * price[2] + cache_write * price[3]
            + cache_write_1h * 2 * price[0]) / 1e6


def response_cost(provider: str, model: str, usage: dict[str, Any]) -> float | None:
    """The cost of one Claude Code or Gemini response's ``usage``; None when its model has no price
    (0.0 when it used no tokens, whatever the model: Claude Code's ``<synthetic>`` messages)."""
    if provider == "gemini":
        cached = tokens(usage, "cached")
        parts = (max(0, tokens(usage, "input") - cached) + tokens(usage, "tool"),
                 tokens(usage, "output") + tokens(usage, "thoughts"), cached, 0, 0)
    else:
        write = tokens(usage, "cache_creation_input_tokens")
        split = usage.get("cache_creation")
        hour = tokens(split, "ephemeral_1h_input_tokens") if isinstance(split, dict) else 0
        hour = min(hour, write)
        parts = (tokens(usage, "input_tokens"), tokens(usage, "output_tokens"),
                 tokens(usage, "cache_read_input_tokens"), write - hour, hour)
    if not any(parts):
        return 0.0
    price = _price(model)
    return None if price is None else _dollars(price, *parts)


def running_cost(model: str, input_tokens: int, cached_tokens: int, output_tokens: int) -> float | None:
    """The cost of a Codex session's running totals (cached tokens are part of the input)."""
    if not (input_tokens or output_tokens):
        return 0.0
    price = _price(model)
    if price is None:
        return None
    cached = min(cached_tokens, input_tokens)
    return _dollars(price, input_tokens - cached, output_tokens, cached, 0)


def add_cost(session: Any, cost: float | None) -> None:
    """Add one response's cost (None: unpriced) to a session's ``cost_usd`` / ``cost_partial``."""
    if cost is None:
        session.cost_partial = True
    else:
        session.cost_usd = (session.cost_usd or 0.0) + cost


def reprice(session_model, event_model, session_ids=None) -> int:
    """Recompute ``cost_usd`` / ``cost_partial`` of sessions from their stored usage (at today's
    prices); the model classes are arguments so that a migration can pass its historical ones.
    Returns how many sessions changed."""
    sessions = session_model.objects.all() if session_ids is None else session_model.objects.filter(id__in=session_ids)
    changed = []
    for session in sessions.only("id", "provider", "model", "input_tokens", "output_tokens", "cache_read_tokens",
                                 "cost_usd", "cost_partial").iterator(chunk_size=500):
        before = (session.cost_usd, session.cost_partial)
        session.cost_usd, session.cost_partial = None, False
        if session.provider == "codex":
            session.cost_usd = running_cost(session.model, session.input_tokens, session.cache_read_tokens,
                                            session.output_tokens)
            session.cost_partial = session.cost_usd is None and session.input_tokens + session.output_tokens > 0
        else:
            usages = (event_model.objects.filter(session_id=session.id, usage__isnull=False)
                      .values_list("model", "usage"))
            for model, usage in usages.iterator(chunk_size=2000):
                if isinstance(usage, dict):
                    add_cost(session, response_cost(session.provider, model or session.model, usage))
        if (session.cost_usd, session.cost_partial) != before:
            changed.append(session)
    session_model.objects.bulk_update(changed, ["cost_usd", "cost_partial"], batch_size=500)
    return len(changed)
