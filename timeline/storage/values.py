"""Python values adapted to column values by hand, for the storage's executemany inserts: a speed trick.

Bulk inserts are plain executemany: Django's bulk_create spent most of an ingest preparing
values field by field. Measured with ``bench/ingest.py`` (bench/README.md, "Figures
(2026-11-26)" and "Plain SQL instead of the ORM"): the ingest went from 2,043 to 3,814 events/s
(1079 MB through the HTTP API) with plain SQL, 18.7 -> 4.6 queries per file; storing an event
now costs ~45-50 us, of which the events' executemany ~26 us ("Ingest, third pass"). Remove the
trick when that bench shows bulk_create within reach.

Each adapter returns what the field would send to the database for the same value;
tests/agents_ingest/test_ingest.py reads the rows back through the ORM on SQLite and Postgres.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, timedelta

from django.db import connection

from zerg_site.safejson import orjson


@functools.cache
def sqlite_utc() -> bool:
    """SQLite with the connection in UTC (always, under zerg's settings): datetimes are naive UTC text."""
    return connection.vendor == "sqlite" and connection.timezone_name == "UTC"


def adapt_dt(value):
    if value is None:
        return None
    if value.tzinfo is not None and sqlite_utc():
        # What adapt_datetimefield_value returns (naive UTC, str), without its per-call checks;
        # str() of a UTC time ends in "+00:00".
        if value.utcoffset() == ZERO:
            return str(value)[:-6]
        return str(value.astimezone(UTC).replace(tzinfo=None))
    return connection.ops.adapt_datetimefield_value(value)


ZERO = timedelta(0)


def adapt_json(value):
    if connection.vendor == "postgresql":
        # lazy: psycopg is the optional `postgres` extra (absent on SQLite installs; 0.12 s, +23 MB)
        from psycopg.types.json import Jsonb

        return Jsonb(value)
    try:
        return orjson().dumps(value).decode()
    except TypeError:  # integers beyond 64 bits, keys that are not strings
        return json.dumps(value)
