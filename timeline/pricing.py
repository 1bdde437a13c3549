"""What a session's tokens cost, in USD, from the prices of ``genai-prices`` (a maintained price
database, bundled with the package: no network at run time) or the owner's own.

Session files record tokens, not money (Claude Code, Codex and Gemini CLI alike), so the cost is
computed at ingest from the response's usage; Oikos's turns and commis's jobs are priced the same
way. A model neither the owner nor the library knows (a new one, a local one) is never guessed at:
its tokens are left unpriced and the session says so (``cost_partial``), as are tokens billed at a
rate nobody lists (a fast mode or a service tier the library has no price for).
``[timeline.prices]`` in config.toml (or ``ZERG_PRICES`` as JSON) adds models or corrects a price
and wins over the library; after either changes (an upgrade of genai-prices, a new override)
``manage.py reprice_sessions`` recomputes what is stored.

A response is split into the parts every provider bills: fresh input, output, cache reads, cache
writes for five minutes and for one hour (Anthropic's ``cache_creation`` split; OpenAI and Gemini
count cached tokens inside the input). The library's prices apply as it applies them: a part it has
no price for costs what its parent costs (a one-hour write the five-minute price, a cache write the
input price), and a tiered price (a long-context rate: Sonnet 4.5 over 200k prompt tokens, GPT-5.5
over 272k) takes the rate of the highest tier the prompt (input with cache reads and writes) passes,
for all its tokens. Prices are today's (the library's current ones): a price change reprices history
when ``reprice_sessions`` runs, as the owner's overrides always did.

The library's own ``calc_price`` costs ~200 us a call (Decimal arithmetic over its unit tree), too
much for the ingest's hot path: the rates of a model are resolved through it once, kept as floats
per (provider, model, tier, day), and a response costs a few multiplications: 6.5 us per response
over the fixtures' usage with the memo warm, as the hand-written table's 5.9 us (most of it reading
the usage); the library's import and snapshot, ~0.35 s, are paid once, at the first price asked.
tests/timeline/test_pricing.py checks the arithmetic against ``calc_price`` for every Anthropic, OpenAI and
Google model of the snapshot.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from timeline.usage import tokens

Price = tuple[float, float, float, float]  # an owner's price: input, output, cache read, cache write
# A model's rates: ((prompt tokens above which they apply, USD per million tokens of each part in
# PARTS order), ...), highest threshold first, ending with the base rates at -1 (every prompt passes).
Rates = tuple[tuple[int, tuple[float, float, float, float, float]], ...]
PARTS = ("fresh input", "output", "cache read", "cache write 5m", "cache write 1h")

# the session provider -> the genai-prices provider whose price list to look in first; the others
# (zerg-agent, Oikos, a Claude Code pointed at another vendor's model) are found by model name
LIBRARY_PROVIDER = {"claude": "anthropic", "codex": "openai", "gemini": "google"}
# usage["speed"] / usage["service_tier"] values billed at the list price
STANDARD = {None, "", "standard", "default", "auto"}

_SUFFIX = re.compile(r"\[[^\]]*\]$")
_RELEASE = re.compile(r"[-@](\d{4}-?\d{2}-?\d{2}|latest)$")


def _normal(model: str) -> str:
    """``anthropic/claude-opus-4-8[1m]`` -> ``claude-opus-4-8``: no context-size suffix, no vendor."""
    return _SUFFIX.sub("", model.strip().lower()).rsplit("/", 1)[-1]


def _entry(name: str, table: dict) -> str | None:
    """The key of ``table`` that names ``name`` (normalised): itself, or itself without a release date."""
    if name in table:
        return name
    undated = _RELEASE.sub("", name)
    return undated if undated != name and undated in table else None


def _owner_rates(price: Price) -> Rates:
    """An owner's price, flat; a one-hour cache write at twice the input price (Anthropic's rule; the
    owner's list has no column for it)."""
    return ((-1, (float(price[0]), float(price[1]), float(price[2]), float(price[3]), 2.0 * price[0])),)


def _tiered(prices: list) -> Rates:
    """genai-prices' prices of the parts (a Decimal each, or TieredPrices: a base and tiers by prompt
    size) as Rates: one row per threshold any part has, each part at its rate above it."""
    starts = sorted({int(t.start) for p in prices for t in getattr(p, "tiers", None) or ()} | {-1}, reverse=True)

    def at(price, start: int) -> float:
        for tier in sorted(getattr(price, "tiers", None) or (), key=lambda t: t.start, reverse=True):
            if start >= tier.start:
                return float(tier.price)
        return float(getattr(price, "base", price))

    return tuple((start, tuple(at(p, start) for p in prices)) for start in starts)


def _find(name: str, provider: str | None):
    """(library provider, library model) of ``name``: in the session provider's list first, then by name."""
    # lazy: genai-prices is +25 MB RSS / 0.13-0.2 s measured alone (1.8 MB / 40 ms after django.setup()),
    # paid at the first price asked, not when the ingest's modules load
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    for provider_id in dict.fromkeys((LIBRARY_PROVIDER.get(provider or ""), None)):
        try:
            return snapshot.find_provider_model(name, None, provider_id, None)
        except LookupError:
            continue
    return None


def library_rates(provider: str, model: str, context: tuple = ()) -> Rates | None:
    """Today's rates of ``model`` in genai-prices' bundled data; ``context``: the non-standard
    ``(("speed", "fast"), ...)`` of the response, priced only where the library lists a price for it.
    None: the library does not know the model (or the tier, or it prices the model other than by tokens)."""
    found = _find(_normal(model or ""), provider) if model else None
    if found is None:
        return None
    vendor, info = found
    now = datetime.now(UTC)
    if context:
        listed = [v for v in info.price_variants or () if v.constraint is None or v.constraint.active(now)]
        if not all(any(v.when.get(key) == value for v in listed) for key, value in context):
            return None
        if not any(info is m for m in vendor.models):  # as calc_price: a borrowed model has no variants
            return None
    price = info.get_prices(now, dict(context) or None)
    if price.input_mtok is None or price.output_mtok is None:
        return None  # an embedding, audio or image model: not what a session's tokens are
    cache_write = price.cache_write_mtok if price.cache_write_mtok is not None else price.input_mtok
    write_5m = price.cache_write_5m_mtok if price.cache_write_5m_mtok is not None else cache_write
    write_1h = price.cache_write_1h_mtok if price.cache_write_1h_mtok is not None else cache_write
    read = price.cache_read_mtok if price.cache_read_mtok is not None else price.input_mtok
    return _tiered([price.input_mtok, price.output_mtok, read, write_5m, write_1h])


def price_of(model: str, overrides: dict[str, Price] | None = None, provider: str = "") -> Rates | None:
    """The rates of ``model``: the owner's override first (by normalised name, or that name less a
    release date), then the library's."""
    name = _normal(model or "")
    if not name:
        return None
    key = _entry(name, overrides or {})
    if key is not None:
        return _owner_rates(overrides[key])
    return library_rates(provider, name)


_NO_OVERRIDES: dict[str, Price] = {}
_memo: dict = {"table": None, "day": None, "overrides": {}, "rates": {}}


def _rates(provider: str, model: str, context: tuple) -> Rates | None:
    """``price_of`` with the configured overrides and the response's tier, remembered per (provider,
    model, tier) for the day (the overrides are the settings' own object, so a new one starts afresh;
    a new day may bring a dated price of the library's)."""
    table = getattr(getattr(settings, "ZERG", None), "prices", None)
    table = _NO_OVERRIDES if table is None else table  # the same object each time: the memo stays
    day = int(time.time() // 86400)
    if _memo["table"] is not table or _memo["day"] != day:
        _memo.update(table=table, day=day, overrides={_normal(k): v for k, v in table.items()}, rates={})
    rates = _memo["rates"]
    key = (provider, model, context)
    if key in rates:
        return rates[key]
    name = _normal(model or "")
    own = _entry(name, _memo["overrides"]) if name else None
    if own is not None:  # the owner's list has no tiers: a premium one stays unknown
        found = None if context else _owner_rates(_memo["overrides"][own])
    else:
        found = library_rates(provider, name, context) if name else None
    if len(rates) > 1000:  # model names come from shipped files: keep the memo bounded
        rates.clear()
    rates[key] = found
    return found


def _tier(usage: dict) -> tuple | None:
    """The response's non-standard ``speed`` / ``service_tier`` as a price context; None if unreadable."""
    context = []
    for key in ("speed", "service_tier"):
        value = usage.get(key)
        if value is None or (isinstance(value, str) and value in STANDARD):
            continue
        if not isinstance(value, str):
            return None
        context.append((key, value))
    return tuple(context)


def parts(provider: str, usage: dict[str, Any]) -> tuple[int, int, int, int, int]:
    """A response's usage as (fresh input, output, cache read, cache write 5m, cache write 1h)."""
    if provider == "codex":  # cached tokens are part of the input; reasoning is part of the output
        prompt = tokens(usage, "input_tokens")
        cached = min(tokens(usage, "cached_input_tokens"), prompt)
        return (prompt - cached, tokens(usage, "output_tokens"), cached, 0, 0)
    if provider == "gemini":
        cached = tokens(usage, "cached")
        return (
            max(0, tokens(usage, "input") - cached) + tokens(usage, "tool"),
            tokens(usage, "output") + tokens(usage, "thoughts"),
            cached,
            0,
            0,
        )
    write = tokens(usage, "cache_creation_input_tokens")
    split = usage.get("cache_creation")
    hour = min(tokens(split, "ephemeral_1h_input_tokens") if isinstance(split, dict) else 0, write)
    return (
        tokens(usage, "input_tokens"),
        tokens(usage, "output_tokens"),
        tokens(usage, "cache_read_input_tokens"),
        write - hour,
        hour,
    )


def cost_of(rates: Rates, counts: tuple[int, int, int, int, int]) -> float:
    """USD of ``counts`` (PARTS order) at ``rates``: every part at the rates of the highest tier the
    prompt (every part but the output) passes."""
    fresh, output, read, write_5m, write_1h = counts
    prompt = fresh + read + write_5m + write_1h
    for start, (p_in, p_out, p_read, p_5m, p_1h) in rates:
        if prompt > start:
            return (fresh * p_in + output * p_out + read * p_read + write_5m * p_5m + write_1h * p_1h) / 1e6
    return 0.0  # not reached: the base rates start at -1


def response_cost(provider: str, model: str, usage: dict[str, Any]) -> float | None:
    """The cost of one response's ``usage`` (Claude Code, Codex, Gemini CLI keys by ``provider``;
    Anthropic keys for every other: zerg-agent, Oikos); None when its model or tier has no price
    (0.0 when it used no tokens, whatever the model: Claude Code's ``<synthetic>`` messages)."""
    counts = parts(provider, usage)
    if not any(counts):
        return 0.0
    context = _tier(usage)
    if context is None:
        return None
    rates = _rates(provider, model, context)
    return None if rates is None else cost_of(rates, counts)


def add_cost(session: Any, cost: float | None) -> None:
    """Add one response's cost (None: unpriced) to a session's ``cost_usd`` / ``cost_partial``."""
    if cost is None:
        session.cost_partial = True
    else:
        session.cost_usd = (session.cost_usd or 0.0) + cost


# Sessions whose figures are another app's, copied over (an Oikos thread's: its events hold no usage);
# that app reprices them (``manage.py reprice_oikos``) and copies them again.
MIRRORED = ("oikos",)


def reprice(session_model, event_model, session_ids=None) -> int:
    """Recompute ``cost_usd`` / ``cost_partial`` of sessions from their stored usage (at today's
    prices), one short transaction per session with its row locked (on Postgres; SQLite's write
    lock serialises it with the ingest), so an ingest running meanwhile loses nothing. The model
    classes are arguments so that a migration can pass its historical ones. Returns how many
    sessions changed."""
    sessions = session_model.objects.exclude(provider__in=MIRRORED)
    sessions = sessions if session_ids is None else sessions.filter(id__in=session_ids)
    changed = 0
    for pk in list(sessions.values_list("id", flat=True)):
        with transaction.atomic():
            query = session_model.objects.filter(id=pk)
            session = (
                query.select_for_update() if transaction.get_connection().features.has_select_for_update else query
            ).first()
            if session is None:
                continue
            before = (session.cost_usd, session.cost_partial)
            recompute_cost(session, event_model)
            same = before[1] == session.cost_partial and (
                before[0] == session.cost_usd
                or (None not in (before[0], session.cost_usd) and abs(before[0] - session.cost_usd) < 1e-9)
            )
            if not same:
                session_model.objects.filter(id=pk).update(cost_usd=session.cost_usd, cost_partial=session.cost_partial)
                changed += 1
    return changed


def recompute_cost(session, event_model) -> None:
    """Set ``session.cost_usd`` / ``cost_partial`` from its stored usage (not saved)."""
    session.cost_usd, session.cost_partial = None, False
    usages = event_model.objects.filter(session_id=session.id, usage__isnull=False).values_list("model", "usage")
    for model, usage in usages.iterator(chunk_size=2000):
        if isinstance(usage, dict) and usage:  # as the ingest: an empty usage counts nothing
            add_cost(session, response_cost(session.provider, model or session.model, usage))
