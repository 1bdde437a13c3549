"""Integers that a request carries (ids, offsets, limits, counts), bounded where they are declared.

Both databases hold 64-bit integers, and a request's integer has no bound of its own: an
``offset`` of 10**20 reached SQLite's ``LIMIT ... OFFSET`` as a real number ("datatype
mismatch", a 500), one of 2**63 - 1 reached a file ``seek`` (a 500). Every integer parameter of
the API is ``Int64`` (or a narrower bound), so a value outside it is refused before the view
runs: a 400 naming the parameter (see ``zerg_site.api``), and nothing is read or stored.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

#: any integer a database column or a query can hold
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]


def param_errors_detail(errors: list[dict]) -> str | None:
    """One sentence for ninja's validation errors if they are all about the query string or the
    path (a bad ``offset``, an id that is not a number...), else None (a body keeps ninja's 422)."""
    if not errors or any(not e.get("loc") or e["loc"][0] not in ("query", "path") for e in errors):
        return None
    return "; ".join(f"{e['loc'][0]} parameter {e['loc'][-1]}: {e.get('msg', 'invalid')}" for e in errors)
