"""``/api/oikos``: threads, messages, turns and interrupt answers (owner auth; see the contract).

Posting a message returns at once (202): the turn runs in the web process's turn pool and
streams through the event log (``oikos.*`` events on topic ``oikos:<thread id>``).
"""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from ninja.errors import HttpError

from oikos import services, turns
from oikos.models import Message, Thread, Turn
from oikos.schemas import (
    MessageTextOut,
    OikosPostedOut,
    OikosThreadDetailOut,
    OikosThreadOut,
    OikosTurnDetailOut,
    OikosTurnOut,
)
from zerg_site.params import Int64
from zerg_site.schemas import owner

router = Router(tags=["oikos"])
MAX_TEXT = 100_000


class OikosThreadIn(Schema):
    title: str = ""


class OikosMessageIn(Schema):
    text: str


class AnswerIn(Schema):
    answer: str


@router.get("/threads", response=owner(list[OikosThreadOut], 400))
def list_threads(request, q: str = "", limit: Int64 = 100):
    """Threads, newest activity first; ``q`` matches titles and message text."""
    return services.list_threads(q, limit)


@router.post("/threads", response=owner(OikosThreadOut, 400, 422))
def create_thread(request, body: OikosThreadIn | None = None):
    title = (body.title if body else "") or ""
    if len(title) > 300:
        raise HttpError(400, "the title is longer than 300 characters")
    return services.thread_dict(services.create_thread(title))


@router.get("/threads/{thread_id}", response=owner(OikosThreadDetailOut, 400, 404))
def thread_detail(request, thread_id: Int64):
    """The thread, all its messages (a reconnecting client catches up here), its latest turn and question."""
    thread = get_object_or_404(Thread, id=thread_id)
    turn = thread.turns.order_by("-id").first()
    return {
        "thread": services.thread_dict(thread),
        "messages": [m.as_dict() for m in thread.messages.order_by("id")],
        "turn": turn.as_dict() if turn else None,
        "interrupt": turn.interrupt_dict() if turn else None,
        "timeline_session": services.timeline_session_id(thread.id),
    }


@router.post("/threads/{thread_id}/messages", response=owner(OikosPostedOut, 400, 404, 409, 422, status=202))
def post_message(request, thread_id: Int64, body: OikosMessageIn):
    """The owner says something: 202 with the stored message and its turn."""
    thread = get_object_or_404(Thread, id=thread_id)
    if not body.text.strip():
        raise HttpError(400, "the message is empty")
    if len(body.text) > MAX_TEXT:
        raise HttpError(400, f"the message is longer than {MAX_TEXT} characters")
    try:
        with transaction.atomic():
            message, turn = turns.post_message(thread, body.text)
    except turns.Busy as exc:
        raise HttpError(409, str(exc)) from None
    return Status(202, {"message": message.as_dict(), "turn": turn.as_dict()})


@router.get("/turns/{turn_id}", response=owner(OikosTurnDetailOut, 400, 404))
def turn_detail(request, turn_id: Int64):
    turn = get_object_or_404(Turn, id=turn_id)
    return {**turn.as_dict(), "interrupt": turn.interrupt_dict()}


@router.post("/turns/{turn_id}/answer", response=owner(OikosTurnOut, 400, 404, 409, 422))
def answer_turn(request, turn_id: Int64, body: AnswerIn):
    """Approve or reject the pending question; the turn resumes (also after a restart)."""
    get_object_or_404(Turn, id=turn_id)
    if body.answer not in ("approve", "reject"):
        raise HttpError(400, "answer must be approve or reject")
    try:
        with transaction.atomic():
            turn = turns.answer(turn_id, body.answer)
    except turns.Busy as exc:
        raise HttpError(409, str(exc)) from None
    return turn.as_dict()


@router.get("/messages/{message_id}/full", response=owner(MessageTextOut, 400, 404))
def message_full(request, message_id: Int64):
    """A message's whole text (a large tool output is cut in the thread)."""
    message = get_object_or_404(Message, id=message_id)
    return {"id": message.id, "text": message.full_text or message.text}
