"""The durable turn runner: turns run in a small pool of daemon threads in the web process.

Not on the django-q queue: a turn must not wait for a busy commis slot, and its first token
must reach the browser fast. A turn row is claimed atomically (``queued -> running`` with a
lease), heartbeats while it runs, and every graph step is checkpointed (langgraph, synchronous
durability). If the process dies, ``resume_on_start`` (``zerg serve``) or the periodic check
puts the turn back in the queue and the graph continues from its last checkpoint
(``invoke(None)``); a turn waiting for the owner's answer resumes with ``Command(resume=...)``
whenever the answer comes, restart or not. Nothing heavy is imported until a turn runs.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from commis.backends.agent import checkpoint_target
from commis.backends.agent_child import Checkpointer
from commis.backends.streamjson import describe_tool_call
from forum import services as forum
from oikos import services, slash, tools, untrusted
from oikos.models import Message, Thread, Turn
from timeline.pricing import response_cost
from zerg_site.heartbeat import pid_alive
from zerg_site.llm import HOW_TO_CONFIGURE, configured, get_provider
from zerg_site.llm.base import ProviderError

log = logging.getLogger("zerg.oikos")

POOL_SIZE = 4  # turns at once per process; more wait in the queue (they are short between model calls)
FLUSH_INTERVAL = 0.1  # seconds between two oikos.delta events of one reply
TOOL_OUTPUT_LIMIT = 12_000  # characters of a tool result the model gets; the rest is fetched on demand
CONTEXT_BUDGET_CHARS = 400_000  # ~100k tokens
MAX_TOKENS = 8192
MAX_STEPS = 25


class Busy(Exception):
    """The thread has a turn that is not finished (running, or waiting for an answer)."""


def runner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def graph_thread_id(thread_id: int) -> str:
    return f"oikos-{thread_id}"


# --- starting turns (the API calls these)


def post_message(
    thread: Thread, text: str, *, data: dict | None = None, run_now: bool = True, role: str = "owner"
) -> tuple[Message, Turn]:
    """The owner's message and its turn. Slash commands, and any text when no model is
    configured, are answered right here; a model turn goes to the pool (``run_now``), or waits
    for the serving process's periodic pickup (a process that is not ``zerg serve``).
    ``role="untrusted"``: text that is not the owner's (a job's Forum mention) starts the turn;
    it never runs a slash command and reaches the model marked (:mod:`oikos.untrusted`)."""
    text = text.strip()
    if not text:
        raise ValueError("the message is empty")
    with transaction.atomic():
        if connection.features.has_select_for_update:  # Postgres: one new turn per thread at a time
            Thread.objects.select_for_update().filter(id=thread.id).first()
        pending = thread.turns.filter(status__in=(Turn.QUEUED, Turn.RUNNING, Turn.WAITING)).first()
        if pending is not None:
            what = "is waiting for your answer" if pending.status == Turn.WAITING else "is still running"
            raise Busy(f"turn {pending.id} of this thread {what}; wait for it or answer it first")
        if not thread.title and role == "owner":
            Thread.objects.filter(id=thread.id).update(title=text[:80])
            thread.title = text[:80]
        turn = Turn.objects.create(thread=thread)
        message = services.add_message(thread.id, role, text, turn_id=turn.id, data=data)
        Turn.objects.filter(id=turn.id).update(message=message)
        turn.message = message
    command = role == "owner" and slash.is_slash(text)
    if command or not configured():
        _answer_here(thread, turn, text, command)
    elif run_now:  # the 202 carries the queued turn; the runner announces it running within milliseconds
        transaction.on_commit(lambda: submit(turn.id))
    turn.refresh_from_db()
    return message, turn


def _answer_here(thread: Thread, turn: Turn, text: str, command: bool) -> None:
    ctx = tools.Context(thread_id=thread.id, turn_id=turn.id)
    if not command:
        services.add_message(thread.id, "assistant", HOW_TO_CONFIGURE, turn_id=turn.id, data={"no_model": True})
    elif text.split()[0].lower() in SLASH_TOOLS:
        name = SLASH_TOOLS[text.split()[0].lower()]
        tool_use_id = f"slash-{turn.id}"
        call = services.add_message(
            thread.id,
            "tool_call",
            text,
            turn_id=turn.id,
            data={"name": name, "input": {"command": text}, "tool_use_id": tool_use_id},
        )
        result = slash.run(text, ctx)
        if result.job_id:
            services.update_message(call, data={**call.data, "job_id": result.job_id})
        services.add_message(
            thread.id,
            "tool_result",
            result.text,
            turn_id=turn.id,
            truncate=TOOL_OUTPUT_LIMIT,
            data={"tool_use_id": tool_use_id, "name": name, "is_error": result.is_error, "job_id": result.job_id},
        )
    else:
        result = slash.run(text, ctx)
        services.add_message(thread.id, "assistant", result.text, turn_id=turn.id, data={"slash": True})
    Turn.objects.filter(id=turn.id).update(status=Turn.DONE, finished_at=timezone.now())
    turn.refresh_from_db()
    services.publish_turn(turn)


SLASH_TOOLS = {
    "/spawn": "spawn_commis",
    "/status": "commis_status",
    "/logs": "commis_result",
    "/cancel": "cancel_commis",
    "/search": "search_timeline",
}


def answer(turn_id: int, reply: str) -> Turn:
    """The owner's answer to a pending interrupt; the turn goes back to the pool to resume."""
    if reply not in ("approve", "reject"):
        raise ValueError("answer must be approve or reject")
    if not Turn.objects.filter(id=turn_id, status=Turn.WAITING).update(status=Turn.QUEUED, answer=reply):
        raise Busy(f"turn {turn_id} has no pending question")
    turn = Turn.objects.get(id=turn_id)
    services.publish_turn(turn)
    transaction.on_commit(lambda: submit(turn_id))
    return turn


# --- the pool (daemon threads: a stopping server must not wait for a model call)

_queue: queue.Queue[int] = queue.Queue()
_threads: list[threading.Thread] = []
_queued: set[int] = set()  # in _queue, not yet taken: no duplicates from the periodic pickup
_running: dict[int, str] = {}  # turn id -> lease, for the heartbeat
_active = 0  # turns a pool thread is running now
_lock = threading.Lock()
_beat: threading.Thread | None = None
_serving = False


def serving() -> bool:
    """Whether this process runs turns for everyone (``zerg serve``), not only its own."""
    return _serving


def idle() -> bool:
    """No turn queued in or running on this process's pool (its pushes and events are sent)."""
    with _lock:
        return not _active and not _queued


def _start_beat() -> None:
    global _beat
    with _lock:
        if _beat is None:
            _beat = threading.Thread(target=_beat_loop, name="oikos-heartbeat", daemon=True)
            _beat.start()


def submit(turn_id: int) -> None:
    with _lock:
        if not _threads:
            for n in range(POOL_SIZE):
                _threads.append(threading.Thread(target=_worker, name=f"oikos-turn-{n}", daemon=True))
                _threads[-1].start()
        if turn_id in _queued:
            return
        _queued.add(turn_id)
    _queue.put(turn_id)
    _start_beat()  # after the turn is counted, so a beat that is just ending cannot miss it


def _worker() -> None:
    while True:
        turn_id = _queue.get()
        global _active
        with _lock:
            _active += 1
            _queued.discard(turn_id)
        try:
            run_turn(turn_id)
        except Exception:
            log.exception("oikos turn %s crashed", turn_id)
        finally:
            with _lock:
                _active -= 1
            close_old_connections()
            connection.close()


def _beat_loop() -> None:
    """Heartbeats for this process's running turns and the reclaim pass. Outside ``zerg serve``
    (a worker that ran a turn for a Forum mention, a test) it ends once nothing is left to run."""
    global _beat
    while True:
        time.sleep(settings.ZERG.heartbeat_interval)
        with _lock:
            if not _serving and not _active and not _queued:
                _beat = None
                return
        try:
            close_old_connections()
            for turn_id, lease in list(_running.items()):
                Turn.objects.filter(id=turn_id, lease=lease, status=Turn.RUNNING).update(heartbeat_at=timezone.now())
            reclaim()
            if _serving:  # turns queued by other processes (a Forum mention in a worker)
                for turn_id in Turn.objects.filter(
                    status=Turn.QUEUED, created_at__lt=timezone.now() - timedelta(seconds=2)
                ).values_list("id", flat=True):
                    submit(turn_id)  # duplicates are harmless: the claim turns them away
        except Exception:  # the database may be briefly unavailable
            log.exception("oikos heartbeat failed")
        finally:
            connection.close()


def claim(turn_id: int) -> str | None:
    lease = uuid.uuid4().hex
    now = timezone.now()
    taken = Turn.objects.filter(id=turn_id, status=Turn.QUEUED).update(
        status=Turn.RUNNING,
        lease=lease,
        runner=runner_name(),
        heartbeat_at=now,
        started_at=Coalesce(F("started_at"), Value(now)),
        attempts=F("attempts") + 1,
    )
    return lease if taken == 1 else None


def reclaim(on_start: bool = False) -> list[int]:
    """Back to the queue: running turns whose runner is gone (a dead pid on this host, or a
    stale heartbeat); at start also every queued turn (its queue entry died with the process)."""
    stale = timezone.now() - timedelta(seconds=settings.ZERG.stale_threshold)
    host = socket.gethostname()
    ids = []
    for turn in Turn.objects.filter(status=Turn.RUNNING):
        r_host, _, r_pid = turn.runner.rpartition(":")
        dead = (r_host == host and r_pid.isdigit() and int(r_pid) != os.getpid() and not pid_alive(int(r_pid))) or (
            turn.heartbeat_at is not None and turn.heartbeat_at < stale
        )
        if dead and Turn.objects.filter(id=turn.id, status=Turn.RUNNING, lease=turn.lease).update(
            status=Turn.QUEUED, lease=""
        ):
            log.warning("oikos turn %s: runner %s is gone, resuming it", turn.id, turn.runner)
            ids.append(turn.id)
    if on_start:
        ids += [i for i in Turn.objects.filter(status=Turn.QUEUED).values_list("id", flat=True) if i not in ids]
    for turn_id in ids:
        submit(turn_id)
    return ids


def resume_on_start() -> list[int]:
    """``zerg serve`` start: turns cut off by the last stop or crash continue now, and this
    process becomes the one that runs queued turns (a light thread; no LLM import)."""
    global _serving
    _serving = True
    _start_beat()
    return reclaim(on_start=True)


# --- running one turn


def _still_mine(turn_id: int, lease: str) -> bool:
    return Turn.objects.filter(id=turn_id, lease=lease, status=Turn.RUNNING).exists()


def run_turn(turn_id: int) -> None:
    with transaction.atomic():  # the claim and its announcement: one commit
        lease = claim(turn_id)
        if lease is None:
            return
        turn = Turn.objects.get(id=turn_id)
        services.publish_turn(turn)
    _running[turn_id] = lease
    try:
        _execute(turn, lease)
    except Exception as exc:
        if not _still_mine(turn_id, lease):
            return  # reclaimed meanwhile: the new runner owns it
        error = exc.message if isinstance(exc, ProviderError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, ProviderError):
            log.exception("oikos turn %s failed", turn_id)
        services.add_message(
            turn.thread_id, "system", f"The turn failed: {error}", turn_id=turn.id, data={"error": True}
        )
        _end(turn, lease, Turn.FAILED, error=error[:2000])
    finally:
        _running.pop(turn_id, None)


def _end(turn: Turn, lease: str, status: str, **fields) -> None:
    for row in Message.objects.filter(turn=turn, streaming=True):  # a reply cut off mid-way
        services.update_message(row, streaming=False)
    # The status and its events commit together: whoever sees the turn waiting also finds its
    # oikos.interrupt event (push notifications go out after the commit, on_commit).
    with transaction.atomic():
        if Turn.objects.filter(id=turn.id, lease=lease, status=Turn.RUNNING).update(
            status=status, lease="", finished_at=timezone.now() if status != Turn.WAITING else None, **fields
        ):
            turn.refresh_from_db()
            services.publish_turn(turn)


def _new_input(turn: Turn, values: dict) -> dict:
    """The turn's message, after any notices (finished commis, mentions) that arrived since the
    last turn; text that is not the owner's is marked, and ``untrusted`` names who wrote the
    mentions in it (the gate then asks the owner before any side effect)."""
    # lazy: the LLM stack (langgraph, anthropic) is +38 MB RSS / ~800 modules / 0.8 s after django.setup();
    # `zerg serve` loads it at its first turn, the worker never (tests/oikos/test_oikos_chat.py)
    from commis.agent.graph import tool_calls

    previous = (
        Turn.objects.filter(thread_id=turn.thread_id, id__lt=turn.id)
        .exclude(message=None)
        .exclude(message__role="owner", message__text__startswith="/")
        .order_by("-id")
        .first()
    )  # the last one the model saw
    notices = Message.objects.filter(
        thread_id=turn.thread_id, role__in=("system", untrusted.ROLE), turn=None, id__lt=turn.message_id
    )
    if previous is not None:
        notices = notices.filter(id__gt=previous.message_id)
    notices = [n for n in notices if not n.data.get("error")]
    blocks = [
        {
            "type": "tool_result",
            "tool_use_id": call["id"],
            "is_error": True,
            "content": "not run: the previous turn ended before it",
        }
        for call in tool_calls((values.get("messages") or [None])[-1])
    ]
    blocks += [{"type": "text", "text": untrusted.notice_for_model(n)} for n in notices]
    blocks.append({"type": "text", "text": untrusted.for_model(turn.message) if turn.message else ""})
    authors = [untrusted.author_of(m) for m in notices + [turn.message] if m and untrusted.is_untrusted(m)]
    return {
        "messages": [{"role": "user", "content": blocks}],
        "turn": turn.id,
        "decisions": {},
        "untrusted": "; ".join(dict.fromkeys(authors)),
        "step_limit": int(values.get("steps") or 0) + MAX_STEPS,
    }


def _execute(turn: Turn, lease: str) -> None:
    # lazy: the LLM stack (langgraph, anthropic) is +38 MB RSS / ~800 modules / 0.8 s after django.setup();
    # `zerg serve` loads it at its first turn, the worker never (tests/oikos/test_oikos_chat.py)
    from langgraph.types import Command

    from oikos.graph import build_graph

    provider = get_provider()
    if provider is None:
        services.add_message(turn.thread_id, "assistant", HOW_TO_CONFIGURE, turn_id=turn.id, data={"no_model": True})
        return _end(turn, lease, Turn.DONE)
    recorder = Recorder(turn, lease, provider)
    config = {"configurable": {"thread_id": graph_thread_id(turn.thread_id)}, "recursion_limit": 4 * MAX_STEPS + 10}
    with Checkpointer(checkpoint_target()) as checkpointer:  # the agent backend's store
        graph = build_graph(
            recorder=recorder, checkpointer=checkpointer, max_steps=MAX_STEPS, budget_chars=CONTEXT_BUDGET_CHARS
        )
        snapshot = graph.get_state(config)
        values = snapshot.values or {}
        run, inputs = True, None
        if values.get("turn") == turn.id and snapshot.next:  # resume: after a restart, or with an answer
            inputs = Command(resume=turn.answer) if turn.answer and _interrupts(snapshot) else None
        elif values.get("turn") == turn.id:
            run = False  # the graph finished before the runner could say so
        else:
            inputs = _new_input(turn, values)
        if run:
            if turn.answer:
                Turn.objects.filter(id=turn.id, lease=lease).update(answer="")
            graph.invoke(inputs, config, durability="sync")
        snapshot = graph.get_state(config)
    if not _still_mine(turn.id, lease):
        return
    pending = _interrupts(snapshot)
    if snapshot.next and pending:
        _end(turn, lease, Turn.WAITING, interrupt=pending[0], answer="")
    else:
        _reply_to_forum(turn)  # before "done", so whoever waits for it sees the Forum post too
        _end(turn, lease, Turn.DONE, interrupt=None)


def _reply_to_forum(turn: Turn) -> None:
    """A turn of a thread tied to a Forum thread: its last reply is posted there, as Oikos."""
    forum_thread = Thread.objects.filter(id=turn.thread_id).values_list("forum_thread", flat=True).first()
    reply = Message.objects.filter(turn=turn, role="assistant").exclude(text="").order_by("-id").first()
    if not forum_thread or reply is None:
        return
    try:
        forum.post(forum_thread, reply.text, "oikos", str(turn.thread_id))
    except Exception as exc:  # the Forum may be gone or refuse it: say so in the chat
        log.warning("oikos turn %s: cannot post to forum thread %s: %s", turn.id, forum_thread, exc)
        services.add_message(
            turn.thread_id,
            "system",
            f"Could not post the reply to the Forum: {exc}",
            turn_id=turn.id,
            data={"error": True},
        )


def _interrupts(snapshot) -> list[dict]:
    found = list(getattr(snapshot, "interrupts", ()) or ())
    if not found:
        for task in snapshot.tasks or ():
            found.extend(task.interrupts or ())
    return [i.value for i in found if isinstance(getattr(i, "value", None), dict)]


class Recorder:
    """The graph's side effects for one turn: streamed reply rows, tool rows, usage."""

    def __init__(self, turn: Turn, lease: str, provider):
        self.turn, self.lease, self.provider = turn, lease, provider
        self.ctx = tools.Context(thread_id=turn.thread_id, turn_id=turn.id)
        self._checked = 0.0
        self._lost = False

    def should_stop(self) -> bool:
        now = time.monotonic()
        if now - self._checked >= 1.0:
            self._checked = now
            self._lost = not _still_mine(self.turn.id, self.lease)
        return self._lost

    def call_model(self, messages: list[dict]):
        from oikos.graph import SYSTEM_PROMPT  # lazy: the LLM stack, see _execute()

        streamer = Streamer(self.turn)
        system = SYSTEM_PROMPT + f"\nToday is {timezone.now():%A %Y-%m-%d} (UTC)."  # "last week" needs a date
        reply = self.provider.stream(
            system=system,
            messages=messages,
            tools=tools.SCHEMAS,
            max_tokens=MAX_TOKENS,
            on_text=streamer.add,
            should_stop=self.should_stop,
        )
        streamer.finish("".join(b.get("text", "") for b in reply.content if b.get("type") == "text"))
        for block in reply.content:
            if block.get("type") == "tool_use":
                services.add_message(
                    self.turn.thread_id,
                    "tool_call",
                    _describe(block),
                    turn_id=self.turn.id,
                    data={"name": block["name"], "input": block.get("input") or {}, "tool_use_id": block["id"]},
                )
        usage = reply.usage or {}
        # both providers report Anthropic's usage keys (the OpenAI one splits cached tokens out alike)
        services.add_usage(self.turn.id, usage, response_cost("claude", reply.model or self.provider.model, usage))
        return reply

    def spawned_in_turn(self) -> int:
        return Message.objects.filter(
            turn=self.turn, role="tool_result", data__name="spawn_commis", data__is_error=False
        ).count()

    def run_tool(self, call: dict, decision: str | None) -> tuple[str, bool]:
        done = Message.objects.filter(
            thread_id=self.turn.thread_id, role="tool_result", data__tool_use_id=call["id"]
        ).first()
        if done is not None:  # ran before a crash: never run a tool twice
            return tools.for_model(call.get("name", ""), done.text, bool(done.data.get("is_error"))), bool(
                done.data.get("is_error")
            )
        if decision == "reject":
            result = tools.ToolResult("The owner rejected this action; it was not done.", is_error=True)
        else:
            result = tools.call(call.get("name", ""), call.get("input") or {}, self.ctx)
        if result.job_id:
            for row in Message.objects.filter(
                thread_id=self.turn.thread_id, role="tool_call", data__tool_use_id=call["id"]
            ):
                services.update_message(row, data={**row.data, "job_id": result.job_id})
        row = services.add_message(
            self.turn.thread_id,
            "tool_result",
            result.text,
            turn_id=self.turn.id,
            truncate=TOOL_OUTPUT_LIMIT,
            data={
                "tool_use_id": call["id"],
                "name": call.get("name", ""),
                "is_error": result.is_error,
                "job_id": result.job_id,
            },
        )
        return tools.for_model(call.get("name", ""), row.text, result.is_error), result.is_error


def _describe(block: dict) -> str:
    return describe_tool_call(block.get("name", "?"), block.get("input"))


class Streamer:
    """Text deltas -> one assistant row (created at the first delta) and ``oikos.delta``
    events, batched every FLUSH_INTERVAL (the first one at once, for a fast first token)."""

    def __init__(self, turn: Turn):
        self.turn = turn
        self.text = self.pending = ""
        self.row: Message | None = None
        self.last = 0.0

    def add(self, chunk: str) -> None:
        if not chunk:
            return
        self.text += chunk
        self.pending += chunk
        if self.row is None:
            with transaction.atomic():  # row, its announcement and the first delta: one commit (one fsync)
                self.row = Message.objects.filter(turn=self.turn, role="assistant", streaming=True).first()
                if self.row is not None:  # left by a runner that died mid-reply: start it over
                    services.update_message(self.row, text="")
                else:
                    self.row = services.add_message(
                        self.turn.thread_id, "assistant", "", turn_id=self.turn.id, streaming=True
                    )
                self.flush()
        elif time.monotonic() - self.last >= FLUSH_INTERVAL:
            self.flush()

    def flush(self) -> None:
        if not self.pending or self.row is None:
            return
        with transaction.atomic():
            Message.objects.filter(id=self.row.id).update(text=self.text)
            services.emit(
                self.turn.thread_id,
                "oikos.delta",
                {
                    "thread": self.turn.thread_id,
                    "turn": self.turn.id,
                    "message": self.row.id,
                    "text": self.pending,
                    "offset": len(self.text) - len(self.pending),
                },
            )
        self.pending = ""
        self.last = time.monotonic()

    def finish(self, text: str) -> None:
        self.flush()
        if self.row is not None:
            services.update_message(self.row, text=text or self.text, streaming=False)
        elif text:
            services.add_message(self.turn.thread_id, "assistant", text, turn_id=self.turn.id)
