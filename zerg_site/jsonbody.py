"""JSON request bodies, read with the depth limit of shipped session lines.

The standard library reads JSON recursively: a body nested ~1,000 levels raised RecursionError
(not a ValueError), which the views did not catch, and one nested a little less was accepted
and failed later, when it was stored or printed (a 500 either way). Every body the API reads
goes through :func:`read_json`, ninja's schema bodies through :class:`JsonParser`: nested past
``MAX_DEPTH`` levels it is a 400, and nothing is stored. Job output and model replies are read
with ``zerg_site.safejson.json_value``, for the same reason.
"""

from __future__ import annotations

from ninja.errors import HttpError
from ninja.parser import Parser

from zerg_site.safejson import MAX_DEPTH, loads

__all__ = ["MAX_DEPTH", "JsonParser", "read_json"]


def read_json(raw: bytes, default: bytes = b"{}"):
    """``raw`` (or ``default`` when empty) as JSON; HttpError 400 saying why it is not."""
    value, error = loads(raw or default)
    if error is not None:
        raise HttpError(400, f"the body must be JSON: {error.removeprefix('invalid JSON: ')[:300]}")
    return value


class JsonParser(Parser):
    """ninja's body parser, depth-limited (ninja answers what it raises with 400 "Cannot parse
    request body")."""

    def parse_body(self, request):
        return read_json(request.body)
