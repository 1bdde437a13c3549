"""JSON the server did not write, read with a depth limit: shipped session lines, request bodies,
job output, a model's reply.

Core (``zerg_site``): every app reads untrusted JSON through these, so they live below all of
them (the ingest's parsers, the API's body parser, commis's stream readers, the LLM clients).
Nested past ``MAX_DEPTH`` levels a text is unreadable (an error, never a RecursionError), and
orjson does the reading where it reads exactly what the standard library would.
"""

from __future__ import annotations

import json
from typing import Any

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
    value = fast_loads(text, raw)
    if value is TOO_DEEP_VALUE:
        return None, TOO_DEEP
    return (value, None) if value is not REFUSED else stdlib_loads(text, raw)


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
REFUSED = object()
TOO_DEEP_VALUE = object()


def fast_loads(text: str | bytes, raw: bytes) -> Any:
    """orjson's reading of ``text``, or REFUSED where it refuses it or would misread a number in ``raw``,
    or TOO_DEEP_VALUE."""
    if has_long_number(raw):
        return REFUSED
    fast = orjson()
    try:
        value = fast.loads(text)
    except fast.JSONDecodeError:
        return REFUSED  # past orjson's own depth limit too: the standard library's path says so
    return TOO_DEEP_VALUE if _too_deep(value, raw) else value


def stdlib_loads(text: str | bytes, raw: bytes) -> tuple[Any, str | None]:
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
