"""Thread and message bookkeeping shared by the API, the turn runner, slash commands and notices.

Every change is a short transaction followed by an event (topic ``oikos:<thread>``, and
``oikos`` for the thread list), and every finished message is mirrored into the Timeline
as an event of the thread's session (provider ``oikos``), so Timeline search finds chats.
"""

from __future__ import annotations

import json
import logging

from django.db import connection, transaction
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone

from oikos.models import Message, Thread, Turn
from timeline.models import Event, Session
from zerg_site.events import publish

log = logging.getLogger("zerg.oikos")

TOPIC = "oikos"
TIMELINE_PROVIDER = "oikos"
TIMELINE_DEVICE = "zerg-oikos"
USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def topic(thread_id: int) -> str:
    return f"oikos:{thread_id}"


def emit(thread_id: int, kind: str, payload: dict, *, listing: bool = False) -> None:
    with transaction.atomic():  # both rows in one commit
        publish(topic(thread_id), kind, payload)
        if listing:
            publish(TOPIC, kind, payload)


# --- threads


def create_thread(title: str = "") -> Thread:
    thread = Thread.objects.create(title=title.strip()[:300])
    emit(thread.id, "oikos.thread", {"thread": thread_dict(thread)}, listing=True)
    return thread


def thread_dict(thread: Thread) -> dict:
    last = (
        thread.messages.exclude(role__in=("tool_call", "tool_result"))
        .order_by("-id")
        .values_list("text", flat=True)
        .first()
        or ""
    )
    turns = thread.turns.filter(status__in=(Turn.QUEUED, Turn.RUNNING, Turn.WAITING))
    return thread.as_dict(
        preview=last[:200],
        running=turns.filter(status__in=Turn.ACTIVE).exists(),
        interrupt=turns.filter(status=Turn.WAITING).exists(),
    )


def list_threads(q: str = "", limit: int = 100) -> list[dict]:
    rows = Thread.objects.all()
    if q.strip():
        ids = Message.objects.filter(text__icontains=q.strip()).values("thread_id")
        rows = rows.filter(Q(title__icontains=q.strip()) | Q(id__in=ids))
    return [thread_dict(t) for t in rows[: max(1, min(limit, 500))]]


# --- messages


TRUNCATED_NOTE = (
    "\n[output cut at {cut} of {total} characters; the rest: read_full_output with message_id={id} and offset={cut}]"
)


def add_message(
    thread_id: int,
    role: str,
    text: str = "",
    *,
    turn_id: int | None = None,
    data: dict | None = None,
    streaming: bool = False,
    truncate: int | None = None,
) -> Message:
    """A new message row, announced and mirrored. ``truncate``: a longer text is kept whole in
    ``full_text`` and ``text`` (what the model gets) is cut, with a note on how to read the rest."""
    data = dict(data or {})
    cut = truncate is not None and len(text) > truncate
    if truncate is not None:
        data["truncated"] = cut
    message = Message.objects.create(
        thread_id=thread_id,
        turn_id=turn_id,
        role=role,
        text=text[:truncate] if cut else text,
        data=data,
        streaming=streaming,
        full_text=text if cut else "",
    )
    if cut:
        message.text += TRUNCATED_NOTE.format(cut=truncate, total=len(text), id=message.id)
        Message.objects.filter(id=message.id).update(text=message.text)
    if not streaming:  # a streamed reply touches the thread when it is finished
        Thread.objects.filter(id=thread_id).update(updated_at=timezone.now())
    emit(
        thread_id,
        "oikos.message",
        {"thread": thread_id, "message": message.as_dict()},
        listing=role in ("owner", "system", "untrusted"),
    )
    if not streaming:
        mirror(message)
    return message


def update_message(message: Message, **fields) -> Message:
    """Change a message (e.g. finish a streamed reply, add a job id) and tell the clients."""
    for key, value in fields.items():
        setattr(message, key, value)
    message.save(update_fields=list(fields))
    emit(message.thread_id, "oikos.message", {"thread": message.thread_id, "message": message.as_dict()})
    if not message.streaming:
        if "streaming" in fields:
            Thread.objects.filter(id=message.thread_id).update(updated_at=timezone.now())
        mirror(message)
    return message


# --- turns


# sender=Turn, turn=<Turn>: a turn's status changed (sent by publish_turn)
turn_changed = Signal()


def publish_turn(turn: Turn) -> None:
    emit(turn.thread_id, "oikos.turn", {"thread": turn.thread_id, "turn": turn.as_dict()}, listing=True)
    interrupt = turn.interrupt_dict()
    if interrupt:
        emit(turn.thread_id, "oikos.interrupt", {"thread": turn.thread_id, "interrupt": interrupt}, listing=True)
    turn_changed.send_robust(sender=Turn, turn=turn)  # push notifications (zerg_site/push/receivers.py)


def add_usage(turn_id: int, usage: dict, cost: float | None) -> None:
    """Add one model call's usage and cost to its turn and thread (cost None = unknown, sticks)."""
    with transaction.atomic():
        turn = (
            Turn.objects.select_for_update().get(id=turn_id)
            if connection.features.has_select_for_update
            else Turn.objects.get(id=turn_id)
        )
        turn.cost_usd = _add_cost(turn.cost_usd, cost, first=not turn.usage)
        turn.usage = _sum(turn.usage, usage)
        Turn.objects.filter(id=turn_id).update(usage=turn.usage, cost_usd=turn.cost_usd)
        thread = Thread.objects.get(id=turn.thread_id)
        thread.cost_usd = _add_cost(thread.cost_usd, cost, first=not thread.usage)
        thread.usage = _sum(thread.usage, usage)
        Thread.objects.filter(id=thread.id).update(usage=thread.usage, cost_usd=thread.cost_usd)
    _mirror_usage(thread)


def _add_cost(total: float | None, cost: float | None, first: bool) -> float | None:
    """A total stays unknown (None) once one call's cost was unknown."""
    if cost is None or (total is None and not first):
        return None
    return (total or 0) + cost


def _sum(old: dict, new: dict) -> dict:
    out = dict(old or {})
    for key in USAGE_KEYS:
        value = (new or {}).get(key) or 0
        if isinstance(value, int):
            out[key] = out.get(key, 0) + value
    return out


# --- the Timeline mirror


def _session(thread: Thread):
    session, _ = Session.objects.get_or_create(
        provider=TIMELINE_PROVIDER,
        provider_session_id=f"oikos-{thread.id}",
        defaults={
            "device": TIMELINE_DEVICE,
            "project": "oikos",
            "title": thread.title or f"Oikos thread {thread.id}",
            "started_at": thread.created_at,
            "model": "",
        },
    )
    if connection.features.has_select_for_update:
        session = Session.objects.select_for_update().get(pk=session.pk)
    return session


EVENT_KIND = {
    "owner": ("message", "user"),
    "assistant": ("message", "assistant"),
    "tool_call": ("tool_call", "assistant"),
    "tool_result": ("tool_result", "user"),
    "system": ("system", "system"),
    "untrusted": ("message", "untrusted"),
}


def mirror(message: Message) -> None:
    """The message as an event of the thread's Timeline session (once per message; a change updates it)."""
    try:
        with transaction.atomic():
            thread = Thread.objects.get(id=message.thread_id)
            session = _session(thread)
            kind, role = EVENT_KIND.get(message.role, ("system", "system"))
            fields = {
                "kind": kind,
                "role": role,
                "record_type": f"oikos.{message.role}",
                "timestamp": message.created_at,
                "message_id": str(message.id),
                "uuid": f"oikos-msg-{message.id}",
            }
            data = message.data or {}
            if message.role == "tool_call":
                fields.update(
                    tool_name=str(data.get("name", ""))[:200],
                    tool_input=json.dumps(data.get("input") or {}),
                    tool_call_id=str(data.get("tool_use_id", ""))[:200],
                )
            elif message.role == "tool_result":
                fields.update(
                    tool_output=message.full_text or message.text, tool_call_id=str(data.get("tool_use_id", ""))[:200]
                )
            else:
                fields["text"] = message.text
            key = f"oikos-msg-{message.id}"
            if not Event.objects.filter(session=session, key=key).update(**fields):
                Event.objects.create(session=session, key=key, ordinal=session.event_count, **fields)
                session.event_count += 1
            session.title = thread.title or session.title
            session.ended_at = message.created_at
            session.save(update_fields=["event_count", "title", "ended_at", "updated_at"])  # auto_now sets it
    except Exception:  # the Timeline copy is secondary: never fail the chat for it
        log.exception("could not mirror oikos message %s into the Timeline", message.id)


def _mirror_usage(thread: Thread) -> None:
    usage = thread.usage or {}
    Session.objects.filter(provider=TIMELINE_PROVIDER, provider_session_id=f"oikos-{thread.id}").update(
        input_tokens=usage.get("input_tokens", 0),
        output_tokens=usage.get("output_tokens", 0),
        cache_read_tokens=usage.get("cache_read_input_tokens", 0),
        cache_creation_tokens=usage.get("cache_creation_input_tokens", 0),
        cost_usd=thread.cost_usd,
    )


def timeline_session_id(thread_id: int) -> int | None:
    return (
        Session.objects.filter(provider=TIMELINE_PROVIDER, provider_session_id=f"oikos-{thread_id}")
        .values_list("id", flat=True)
        .first()
    )
