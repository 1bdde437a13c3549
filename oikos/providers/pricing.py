"""Model prices, so every turn and thread shows what it cost.

USD per million tokens (input, output), Anthropic's list prices. Cache writes cost 1.25x
the input price (5-minute cache), cache reads 0.1x. A model not listed costs ``None``
(unknown), never a guess: a local model behind an OpenAI-compatible endpoint is not free
just because we don't know its price.
"""

from __future__ import annotations

# Longest prefix wins, so dated names ("claude-sonnet-4-5-20250929") match their family.
PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-4-6": (5.0, 25.0),
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-sonnet-4-6": (3.0, 15.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-3-haiku": (0.25, 1.25),
}
CACHE_WRITE, CACHE_READ = 1.25, 0.1


def price(model: str) -> tuple[float, float] | None:
    name = (model or "").lower()
    best = max((p for p in PRICES if name.startswith(p)), key=len, default=None)
    return PRICES[best] if best else None


def cost_usd(model: str, usage: dict) -> float | None:
    """The cost of one call's ``usage`` (Anthropic's keys), or None for an unknown model."""
    rates = price(model)
    if rates is None:
        return None
    per_in, per_out = rates[0] / 1e6, rates[1] / 1e6

    def n(key: str) -> int:
        value = (usage or {}).get(key) or 0
        return value if isinstance(value, int) else 0

    return round(n("input_tokens") * per_in + n("output_tokens") * per_out
                 + n("cache_creation_input_tokens") * per_in * CACHE_WRITE
                 + n("cache_read_input_tokens") * per_in * CACHE_READ, 8)
