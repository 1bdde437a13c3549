"""``GET /api/spend``: spend over the owner's days, as JSON or CSV (owner auth)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from django.http import HttpResponse
from django.utils import timezone as dj_tz
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import ConfigDict, Field

from spend import query
from spend.schemas import SpendOut
from zerg_site.downloads import attachment
from zerg_site.schemas import owner

router = Router(tags=["spend"])
CSV_COLUMNS = ("key", "cost", "input_tokens", "output_tokens", "cache_read_tokens", "sessions", "partial")


class SpendQuery(Schema):
    """The query string (``from`` is a Python keyword, hence the alias)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str | None = Field(None, alias="from", description="first day, YYYY-MM-DD (default: 29 days ago)")
    to: str | None = Field(None, description="last day, YYYY-MM-DD, inclusive (default: today)")
    by: str = Field("day", description="day, model, project, source or device")
    source: str | None = Field(None, description="only this source: claude-code, codex, gemini, oikos or commis")
    format: str | None = Field(None, description="csv for a CSV file (or send Accept: text/csv)")


CSV_BODY = {"responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}}


def wants_csv(request, format: str | None) -> bool:
    if format is not None:
        if format not in ("json", "csv"):
            raise HttpError(400, f"format must be json or csv, got {format!r}")
        return format == "csv"
    accept = request.headers.get("Accept", "")
    return "text/csv" in accept and "application/json" not in accept


def as_csv(document: dict, by: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow((by, *CSV_COLUMNS[1:]))
    for row in document["rows"]:
        # a key is data (a device's project name): never let a spreadsheet read it as a formula
        key = row["key"]
        safe = "'" + key if key[:1] in ("=", "+", "-", "@", "\t", "\r") else key
        writer.writerow(
            (safe, f"{row['cost']:.6f}", *(row[c] for c in CSV_COLUMNS[2:6]), "true" if row["partial"] else "false")
        )
    writer.writerow(("total", f"{document['total']:.6f}", "", "", "", "", "true" if document["partial"] else "false"))
    return out.getvalue()


def default_range(today: date) -> tuple[date, date]:
    return today - timedelta(days=29), today


@router.get("", response=owner(SpendOut, 400), openapi_extra=CSV_BODY)
def spend_view(request, params: Query[SpendQuery]):
    """Spend over the owner's days ``from``..``to`` (inclusive; default the last 30 days) grouped
    ``by`` day, model, project, source or device. CSV with ``Accept: text/csv`` or ``format=csv``."""
    as_file = wants_csv(request, params.format)
    zone = query.owner_zone()
    first, last = default_range(dj_tz.now().astimezone(zone).date())
    try:
        day_from = query.parse_day(params.from_, "from") if params.from_ is not None else first
        day_to = query.parse_day(params.to, "to") if params.to is not None else last
        query.check(day_from, day_to, params.by, params.source)
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None
    report = query.spend(day_from, day_to, params.by, zone, params.source)
    document = report.as_dict(params.by)
    if not as_file:
        return document
    response = HttpResponse(as_csv(document, params.by), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = attachment(f"spend-{day_from}-{day_to}-by-{params.by}.csv")
    return response
