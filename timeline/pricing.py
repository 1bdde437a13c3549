"""What a session's tokens cost: list prices in USD per million tokens, by model name.

Session files record tokens, not money (Claude Code, Codex and Gemini CLI alike), so the
cost is computed at ingest from the prices below; Oikos prices its own turns with them too.
A model that is not in the table (a new one, a local one) is never guessed at: its tokens
are left unpriced and the session says so (``cost_partial``), as are tokens billed at a rate
the table does not know (fast mode, priority tier, a long-context rate not listed).
``[timeline.prices]`` in config.toml (or ``ZERG_PRICES`` as JSON) adds models or corrects a
price; ``manage.py reprice_sessions`` then recomputes what is stored.

Each entry is (input, output, cache read, cache write). A name matches an entry exactly or
as the entry plus a release date (``claude-sonnet-4-5-20250929``, ``gpt-5-2025-08-07``) or
``-latest``, after dropping a context-size suffix such as ``[1m]`` and a ``vendor/`` prefix:
``gpt-4.1-nano`` or ``claude-opus-4-7`` do not borrow ``gpt-4.1``'s or ``claude-opus-4``'s price.
Anthropic bills a one-hour cache write at twice the input price (the table's cache write is
the five-minute one). OpenAI and Gemini count cached tokens inside the input tokens.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings

from timeline.usage import tokens

Price = tuple[float, float, float, float]

_OPUS_4 = (15.0, 75.0, 1.50, 18.75)
_SONNET = (3.0, 15.0, 0.30, 3.75)
_SONNET_LONG = (6.0, 22.5, 0.60, 7.50)  # a prompt over 200k tokens (the 1M context window)
_OPUS_4_5 = (5.0, 25.0, 0.50, 6.25)
_GPT_5 = (1.25, 10.0, 0.125, 1.25)
_GPT_5_MINI = (0.25, 2.0, 0.025, 0.25)

PRICES: dict[str, Price] = {
    # Anthropic (https://docs.anthropic.com/en/docs/about-claude/pricing)
    "claude-opus-4-6": _OPUS_4_5,
    "claude-opus-4-5": _OPUS_4_5,
    "claude-opus-4-1": _OPUS_4,
    "claude-opus-4-0": _OPUS_4,
    "claude-opus-4": _OPUS_4,  # claude-opus-4-20250514
    "claude-3-opus": _OPUS_4,
    "claude-sonnet-4-6": _SONNET,
    "claude-sonnet-4-5": _SONNET,
    "claude-sonnet-4-0": _SONNET,
    "claude-sonnet-4": _SONNET,  # claude-sonnet-4-20250514
    "claude-3-7-sonnet": _SONNET,
    "claude-3-5-sonnet": _SONNET,
    "claude-haiku-4-5": (1.0, 5.0, 0.10, 1.25),
    "claude-3-5-haiku": (0.80, 4.0, 0.08, 1.0),
    "claude-3-haiku": (0.25, 1.25, 0.03, 0.30),
    # OpenAI (https://openai.com/api/pricing/)
    "gpt-5": _GPT_5,
    "gpt-5-codex": _GPT_5,
    "gpt-5-mini": _GPT_5_MINI,
    "gpt-5-nano": (0.05, 0.40, 0.005, 0.05),
    "gpt-5.1": _GPT_5,
    "gpt-5.1-codex": _GPT_5,
    "gpt-5.1-codex-max": _GPT_5,
    "gpt-5.1-codex-mini": _GPT_5_MINI,
    "o4-mini": (1.10, 4.40, 0.275, 1.10),
    "o3": (2.0, 8.0, 0.50, 2.0),
    "o3-mini": (1.10, 4.40, 0.55, 1.10),
    "o3-pro": (20.0, 80.0, 20.0, 20.0),
    "codex-mini-latest": (1.50, 6.0, 0.375, 1.50),
    "gpt-4.1": (2.0, 8.0, 0.50, 2.0),
    "gpt-4.1-mini": (0.40, 1.60, 0.10, 0.40),
    "gpt-4.1-nano": (0.10, 0.40, 0.025, 0.10),
    # Google (https://ai.google.dev/gemini-api/docs/pricing)
    "gemini-2.5-pro": (1.25, 10.0, 0.125, 1.25),
    "gemini-2.5-flash": (0.30, 2.50, 0.03, 0.30),
    "gemini-2.5-flash-lite": (0.10, 0.40, 0.01, 0.10),
}
# What a prompt of more than LONG_PROMPT tokens costs where that differs; None: not known.
# (The other models either have one rate or no context window that large.)
LONG_PROMPT = 200_000
LONG: dict[str, Price | None] = {
    "claude-sonnet-4-5": _SONNET_LONG, "claude-sonnet-4-0": _SONNET_LONG, "claude-sonnet-4": _SONNET_LONG,
    "claude-sonnet-4-6": None, "claude-opus-4-6": None,
    "gemini-2.5-pro": (2.50, 15.0, 0.25, 2.50),
}
# usage["speed"] / usage["service_tier"] values billed at the list price
STANDARD = {None, "", "standard", "default", "auto"}

def _standard(tier: Any) -> bool:
    return tier is None or (isinstance(tier, str) and tier in STANDARD)


_SUFFIX = re.compile(r"\[[^\]]*\]$")
_RELEASE = re.compile(r"[-@](\d{4}-?\d{2}-?\d{2}|latest)$")


def _normal(model: str) -> str:
    return _SUFFIX.sub("", model.strip().lower()).rsplit("/", 1)[-1]


def _entry(name: str, table: dict) -> str | None:
    """The key of ``table`` that names ``name`` (normalised): itself, or itself without a release date."""
    if name in table:
        return name
    undated = _RELEASE.sub("", name)
    return undated if undated != name and undated in table else None


def price_of(model: str, overrides: dict[str, Price] | None = None, long: bool = False) -> Price | None:
    """The price of ``model`` (an override first, then the built-in list); ``long``: for a prompt of
    more than LONG_PROMPT tokens."""
    name = _normal(model or "")
    if not name:
        return None
    for table in (overrides or {}, PRICES):
        key = _entry(name, table)
        if key is not None:
            if long and table is PRICES and key in LONG:
                return LONG[key]
            return table[key]
    return None


_NO_OVERRIDES: dict[str, Price] = {}
_memo: dict = {"table": None, "overrides": {}, "prices": {}}


def _price(model: str, long: bool = False) -> Price | None:
    """``price_of`` with the configured overrides, remembered per model name (an ingest asks once
    per response; the overrides are the settings' own object, so a new one starts afresh)."""
    table = getattr(getattr(settings, "ZERG", None), "prices", None)
    table = _NO_OVERRIDES if table is None else table  # the same object each time: the memo stays
    if _memo["table"] is not table:
        _memo.update(table=table, overrides={_normal(k): v for k, v in table.items()}, prices={})
    prices = _memo["prices"]
    key = (model, long)
    if key in prices:
        return prices[key]
    found = price_of(model, _memo["overrides"], long)
    if len(prices) > 1000:  # model names come from shipped files: keep the memo bounded
        prices.clear()
    prices[key] = found
    return found


def _dollars(price: Price, fresh_input: int, output: int, cache_read: int, cache_write: int,
             cache_write_1h: int = 0) -> float:
    return (fresh_input * price[0] + output * price[1] + cache_read * price[2] + cache_write * price[3]
            + cache_write_1h * 2 * price[0]) / 1e6


def response_cost(provider: str, model: str, usage: dict[str, Any]) -> float | None:
    """The cost of one Claude Code, Codex or Gemini response's ``usage``; None when its model has no
    price (0.0 when it used no tokens, whatever the model: Claude Code's ``<synthetic>`` messages)."""
    if provider == "codex":  # cached tokens are part of the input; reasoning is part of the output
        prompt = tokens(usage, "input_tokens")
        cached = min(tokens(usage, "cached_input_tokens"), prompt)
        parts = (prompt - cached, tokens(usage, "output_tokens"), cached, 0, 0)
    elif provider == "gemini":
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
    if not (_standard(usage.get("speed")) and _standard(usage.get("service_tier"))):
        return None  # fast mode, priority or batch tier: a rate the table does not hold
    prompt = sum(parts) - parts[1]
    price = _price(model, long=prompt > LONG_PROMPT)
    return None if price is None else _dollars(price, *parts)


def add_cost(session: Any, cost: float | None) -> None:
    """Add one response's cost (None: unpriced) to a session's ``cost_usd`` / ``cost_partial``."""
    if cost is None:
        session.cost_partial = True
    else:
        session.cost_usd = (session.cost_usd or 0.0) + cost


def reprice(session_model, event_model, session_ids=None) -> int:
    """Recompute ``cost_usd`` / ``cost_partial`` of sessions from their stored usage (at today's
    prices), one short transaction per session with its row locked (on Postgres; SQLite's write
    lock serialises it with the ingest), so an ingest running meanwhile loses nothing. The model
    classes are arguments so that a migration can pass its historical ones. Returns how many
    sessions changed."""
    from django.db import transaction

    sessions = session_model.objects.all() if session_ids is None else session_model.objects.filter(id__in=session_ids)
    changed = 0
    for pk in list(sessions.values_list("id", flat=True)):
        with transaction.atomic():
            query = session_model.objects.filter(id=pk)
            session = (query.select_for_update() if transaction.get_connection().features.has_select_for_update
                       else query).first()
            if session is None:
                continue
            before = (session.cost_usd, session.cost_partial)
            recompute_cost(session, event_model)
            same = before[1] == session.cost_partial and (
                before[0] == session.cost_usd
                or (None not in (before[0], session.cost_usd) and abs(before[0] - session.cost_usd) < 1e-9))
            if not same:
                session_model.objects.filter(id=pk).update(cost_usd=session.cost_usd,
                                                           cost_partial=session.cost_partial)
                changed += 1
    return changed


def recompute_cost(session, event_model) -> None:
    """Set ``session.cost_usd`` / ``cost_partial`` from its stored usage (not saved)."""
    session.cost_usd, session.cost_partial = None, False
    usages = event_model.objects.filter(session_id=session.id, usage__isnull=False).values_list("model", "usage")
    for model, usage in usages.iterator(chunk_size=2000):
        if isinstance(usage, dict) and usage:  # as the ingest: an empty usage counts nothing
            add_cost(session, response_cost(session.provider, model or session.model, usage))
