"""Recount stored sessions' tokens from their archived lines (timeline migrations 0008, 0009).

Claude Code (0008):
A response's usage is its final snapshot (``timeline.usage.later_snapshot``):
Claude Code writes a line per content block, each with the usage as it stood then. Sessions
stored before that rule counted each response's first line, about 30 % of the output tokens
too few over the fixtures. Only message ids with several lines need a look: their lines are
read back from the archive, the final snapshot moves to its own event, and the session's
totals and cost are summed again from the usage its events hold (as the ingest sums them).

Codex (0009): a session's tokens were its last running total, priced at its last model, so a
``/model`` switch priced every turn at the new model and a resumed rollout (whose totals start
again) lost the turns before it. Each response's usage now counts once (its identity is the
running total it reached, ``timeline.usage.usage_identity``) at its turn's model.
"""

from __future__ import annotations

from collections import defaultdict

from django.db import transaction

from timeline.chunks import decompress, line_at
from timeline.pricing import recompute_cost
from timeline.usage import USAGE_KEYS, add_usage, later_snapshot, usage_identity
from zerg_site.safejson import loads


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


class _Lines:
    """An event's source line; events come in file order, so one chunk is held at a time."""

    def __init__(self, chunk_model):
        self.chunk_model, self.id, self.offset, self.data = chunk_model, None, 0, b""

    def __call__(self, chunk_id, offset) -> bytes:
        if chunk_id is None or offset is None:
            return b""
        if self.id != chunk_id:
            found = self.chunk_model.objects.filter(id=chunk_id).values_list("offset", "data").first()
            if found is None:
                return b""
            self.id, self.offset, self.data = chunk_id, found[0], decompress(bytes(found[1]))
        return line_at(self.offset, self.data, offset)


def _resum(session, provider: str, event_model) -> None:
    """Sum the session's token totals and cost again from the usage its events hold, and save them."""
    totals = [attr for attr, _ in USAGE_KEYS[provider]]
    for attr in totals:
        setattr(session, attr, 0)
    for usage in event_model.objects.filter(session_id=session.id, usage__isnull=False).values_list("usage", flat=True):
        if isinstance(usage, dict):
            add_usage(session, usage, provider)
    recompute_cost(session, event_model)
    session.save(update_fields=[*totals, "cost_usd", "cost_partial"])


def _recount(pk: int, session_model, event_model, chunk_model) -> bool:
    groups = defaultdict(list)
    for row in (
        event_model.objects.filter(session_id=pk)
        .exclude(message_id="")
        .order_by("ordinal")
        .values_list("id", "message_id", "usage", "chunk_id", "offset")
    ):
        groups[row[1]].append(row)
    line = _Lines(chunk_model)
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
    _resum(session_model.objects.get(id=pk), "claude", event_model)
    return True


def recount_codex(session_model, event_model, chunk_model) -> int:
    """Give stored Codex token_count events their identity and turn model, count each response's usage
    once, and sum every Codex session again; returns how many sessions' figures changed."""

    def figures(session) -> tuple:
        return (
            session.input_tokens,
            session.output_tokens,
            session.cache_read_tokens,
            session.cost_usd,
            session.cost_partial,
        )

    changed = 0
    for pk in list(session_model.objects.filter(provider="codex").values_list("id", flat=True)):
        with transaction.atomic():
            session = session_model.objects.filter(id=pk).first()
            if session is None:
                continue
            before = figures(session)
            _restamp_codex(pk, event_model, chunk_model)
            _resum(session, "codex", event_model)
            changed += figures(session) != before
    return changed


def _restamp_codex(pk: int, event_model, chunk_model) -> None:
    """As the parser now reads them: each token_count's identity (its running total) and the model
    of its turn (the last turn_context before it); a repeated identity holds no usage."""
    line = _Lines(chunk_model)
    model, counted = "", set()
    rows = (
        event_model.objects.filter(session_id=pk, record_type__in=("turn_context", "event_msg/token_count"))
        .order_by("ordinal")
        .values_list("id", "record_type", "text", "usage", "message_id", "model", "chunk_id", "offset")
    )
    for eid, record_type, text, usage, message_id, old_model, chunk_id, offset in rows:
        if record_type == "turn_context":
            model = text[:100] or model  # the events' model column, as the ingest clips it
            continue
        record, error = loads(line(chunk_id, offset) or b"null")
        payload = record.get("payload") if error is None and isinstance(record, dict) else None
        info = payload.get("info") if isinstance(payload, dict) and isinstance(payload.get("info"), dict) else {}
        last = info.get("last_token_usage")
        if not usage and not (isinstance(last, dict) and last):
            continue
        identity = usage_identity(info.get("total_token_usage"))
        new_usage = usage if isinstance(usage, dict) and usage and identity not in counted else None
        if identity:
            counted.add(identity)
        if (new_usage, identity, model) != (usage, message_id, old_model):
            event_model.objects.filter(id=eid).update(usage=new_usage, message_id=identity, model=model)
