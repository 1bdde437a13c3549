"""Recount stored Claude Code sessions' tokens from their archived lines (timeline migration 0008).

A response's usage is its final snapshot (``agents_ingest.parsers.base.later_snapshot``):
Claude Code writes a line per content block, each with the usage as it stood then. Sessions
stored before that rule counted each response's first line, about 30 % of the output tokens
too few over the fixtures. Only message ids with several lines need a look: their lines are
read back from the archive, the final snapshot moves to its own event, and the session's
totals and cost are summed again from the usage its events hold (as the ingest sums them).
"""

from __future__ import annotations

from collections import defaultdict

from django.db import transaction

from agents_ingest.parsers.base import USAGE_KEYS, add_usage, later_snapshot, loads
from timeline.chunks import decompress, line_at
from timeline.pricing import recompute_cost


def _usage_of(line: bytes) -> dict | None:
    record, error = loads(line)
    message = record.get("message") if error is None and isinstance(record, dict) else None
    usage = message.get("usage") if isinstance(message, dict) else None
    return usage if isinstance(usage, dict) and usage else None


def recount_claude(session_model, event_model, chunk_model) -> int:
    """Fix the Claude Code sessions whose responses span lines; returns how many changed. The
    model classes are arguments so that the migration can pass its historical ones."""
    changed = 0
    ids = list(session_model.objects.filter(provider="claude").values_list("id", flat=True))
    for pk in ids:
        with transaction.atomic():
            if _recount(pk, session_model, event_model, chunk_model):
                changed += 1
    return changed


def _recount(pk: int, session_model, event_model, chunk_model) -> bool:
    groups = defaultdict(list)
    for row in (event_model.objects.filter(session_id=pk).exclude(message_id="").order_by("ordinal")
                .values_list("id", "message_id", "usage", "chunk_id", "offset")):
        groups[row[1]].append(row)
    chunk = {"id": None, "offset": 0, "data": b""}  # events come in file order: one chunk at a time

    def line(chunk_id, offset) -> bytes:
        if chunk_id is None or offset is None:
            return b""
        if chunk["id"] != chunk_id:
            found = chunk_model.objects.filter(id=chunk_id).values_list("offset", "data").first()
            if found is None:
                return b""
            chunk.update(id=chunk_id, offset=found[0], data=decompress(bytes(found[1])))
        return line_at(chunk["offset"], chunk["data"], offset)

    moves = []
    for rows in groups.values():
        if len(rows) < 2 or not any(usage for _, _, usage, _, _ in rows):
            continue
        holder = next(eid for eid, _, usage, _, _ in rows if usage)
        best_id, best = None, None
        for eid, _, _, chunk_id, offset in rows:
            usage = _usage_of(line(chunk_id, offset))
            if usage is not None and (best is None or later_snapshot(usage, best)):
                best_id, best = eid, usage
        if best_id is not None and best_id != holder:
            moves.append((holder, best_id, best))
    if not moves:
        return False
    for holder, best_id, best in moves:
        event_model.objects.filter(id=holder).update(usage=None)
        event_model.objects.filter(id=best_id).update(usage=best)
    session = session_model.objects.get(id=pk)
    totals = [attr for attr, _ in USAGE_KEYS["claude"]]
    for attr in totals:
        setattr(session, attr, 0)
    for usage in event_model.objects.filter(session_id=pk, usage__isnull=False).values_list("usage", flat=True):
        if isinstance(usage, dict):
            add_usage(session, usage, "claude")
    recompute_cost(session, event_model)
    session.save(update_fields=[*totals, "cost_usd", "cost_partial"])
    return True
