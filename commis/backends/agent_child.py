"""One attempt of an ``agent`` job, in a process of its own that ends with the job.

The django-q worker never imports the LLM stack (langgraph, the providers of
``zerg_site.llm`` and their SDKs): it hands the job to this code
in a separate process (forked from ``commis.backends.agent_host``, or started as
``python -m commis.backends.agent_child`` with the spec on stdin) and reads its events.
No Django here: the worker (``commis.backends.agent``) records everything.

Protocol. In: the first line of fd 0 is the job spec (JSON, see ``AgentBackend.spec``).
Out, on fd 1: the child's pid first (``{"kind": "pid", ...}``), then one JSON event per
line (``{"kind", "text", "payload"}``, as ``JobEvent``), and last ``{"kind": "outcome",
"payload": {status, summary, usage, session_id}}``. Anything else on fd 1/2 (a library's
warning, a traceback) is a plain line the worker logs as output.

Stopping. fd 0 stays open while the worker runs the job: EOF there means the worker
died, and the child ends at once. SIGTERM (the worker's cancel, timeout or lost lease,
sent to this process group) ends it at once too, even while a model call waits for its
first byte. Both kill the process group of a running tool command first. The step in
progress is abandoned: a re-run resumes from the last checkpoint (``durability="sync"``),
exactly as after a kill -9.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time

from commis.agent.tools import WorkspaceTools
from commis.backends.agent_transcript import Transcript
from commis.backends.base import FAILED, SUCCEEDED, JobEvent, Outcome
from commis.backends.streamjson import describe_tool_call
from zerg_site.llm.base import ProviderError
from zerg_site.pdeathsig import die_with_parent

RERUN_PROMPT = (
    "This job is being run again (attempt {attempt}): it is a retry, or the previous run was interrupted "
    "right at its end. Check the workspace, redo what is missing, and finish with a short summary. "
    "The task:\n\n{task}"
)
TOOL_RESULT_EVENT_CHARS = 4000
#: tools this process runs itself (stdlib, inside the workspace); any other tool is run by the worker
LOCAL_TOOLS = {"run_command", "read_file", "write_file", "edit_file", "list_dir", "grep"}


# --- checkpoints


_set_up: set[str] = set()


def _setup_postgres(saver, conninfo: str) -> None:
    """``saver.setup()`` once per process, retried: two processes creating the checkpoint
    tables at once collide in ``CREATE TABLE IF NOT EXISTS`` (UniqueViolation on pg_type),
    which failed a chat turn (tests/system/test_faults_kill.py on Postgres). The loser's retry finds
    the tables made."""
    if conninfo in _set_up:
        return
    from psycopg import errors  # lazy: psycopg is the optional `postgres` extra

    for attempt in range(5):
        try:
            saver.setup()
            break
        except (errors.UniqueViolation, errors.DuplicateTable, errors.DuplicateObject):
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    _set_up.add(conninfo)


class Checkpointer:
    """The spec's checkpointer: ``{"postgres": conninfo}`` or ``{"sqlite": path}``."""

    def __init__(self, where: dict):
        self.where = where

    def __enter__(self):
        if self.where.get("postgres"):
            from langgraph.checkpoint.postgres import PostgresSaver  # lazy: the optional `postgres` extra

            self._cm = PostgresSaver.from_conn_string(self.where["postgres"])
            saver = self._cm.__enter__()
            _setup_postgres(saver, self.where["postgres"])
            return saver

        # lazy: the LLM stack (langgraph +35-38 MB RSS, ~0.2-0.8 s): the agent host preloads it, while `zerg serve`
        # imports this module (oikos.turns) long before its first turn needs it
        from langgraph.checkpoint.sqlite import SqliteSaver

        self._cm = None
        path = self.where["sqlite"]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        saver = SqliteSaver(self._conn)
        saver.setup()
        return saver

    def __exit__(self, *exc):
        if self._cm is not None:
            return self._cm.__exit__(*exc)
        self._conn.close()
        return False


# --- the agent run (usable in-process with any RunContext, as the tests do)


def _describe(call: dict) -> str:
    return describe_tool_call(call.get("name", "?"), call.get("input"))


def _last_text(messages: list[dict]) -> str:
    for message in reversed(messages):
        if message.get("role") == "assistant" and isinstance(message.get("content"), list):
            texts = [b.get("text", "") for b in message["content"] if b.get("type") == "text"]
            if any(texts):
                return "\n".join(t for t in texts if t)
    return ""


_ssl = None


def ssl_context():
    """One TLS context per process (loading the CA store costs ~10 MB): the agent host
    makes it before it forks, so every child shares it."""
    global _ssl
    if _ssl is None:
        try:
            # lazy: httpx2 or httpx, whichever the installed anthropic brings (+18 MB RSS / 0.1 s)
            from httpx2 import create_ssl_context  # the HTTP client of anthropic >= 2
        except ImportError:
            from httpx import create_ssl_context
        _ssl = create_ssl_context()
    return _ssl


def make_provider(spec: dict):
    """The spec's model provider (``provider``: "anthropic", the default, or "openai"),
    built without Django from what ``AgentBackend.spec`` put there."""
    from zerg_site.llm import make_provider  # lazy: this function has the same name

    return make_provider(
        spec.get("provider") or "anthropic",
        api_key=spec.get("api_key") or "",
        base_url=spec.get("base_url") or "",
        model=spec["model"],
        max_retries=int(spec["max_retries"]),
        timeout=float(spec["request_timeout"]),
        ssl_context=ssl_context(),
    )


def run(spec: dict, ctx, provider=None) -> Outcome:
    """Run (or resume) the agent of ``spec`` with ``ctx`` (``emit``, ``should_stop``,
    ``run_subprocess``, as ``commis.backends.base.RunContext``); return its Outcome.
    ``provider``: a ``zerg_site.llm`` Provider to use instead of the one the spec names.
    The conversation goes to the spec's ``transcript`` file as it grows (``agent_transcript``)."""
    transcript = Transcript(str(spec.get("transcript") or ""), spec["thread_id"])
    outcome = _run(spec, ctx, provider, transcript)
    transcript.end(outcome.status, outcome.summary)
    return outcome


def _run(spec: dict, ctx, provider, transcript: Transcript) -> Outcome:
    # lazy: the LLM stack (langgraph +35-38 MB RSS, ~0.2-0.8 s): the agent host preloads it, while `zerg serve`
    # imports this module (oikos.turns) long before its first turn needs it
    from commis.agent.graph import AgentDeps, Stopped, compiled_graph, tool_calls

    thread = spec["thread_id"]
    max_steps = int(spec["max_steps"])
    remote = getattr(ctx, "remote_tool", None)

    class Tools(WorkspaceTools):
        """Workspace tools run here; the others (the Forum's, which need Django and the
        database) are asked of the worker when the context can (``remote_tool``)."""

        def call(self, name, args):
            if remote is None or name in LOCAL_TOOLS:
                return super().call(name, args)
            return remote(name, args)

    tools = Tools(spec["workspace"], run_subprocess=ctx.run_subprocess)
    tools.job_id = spec.get("job_id")
    config = {"configurable": {"thread_id": thread}, "recursion_limit": 2 * max_steps + 10}
    provider = provider or make_provider(spec)
    usage_total: dict = {}
    calls: list[dict] = []
    conversation: list[dict] = []  # every message so far, as the checkpoint holds them

    def on_update(node: str, delta: dict) -> None:
        if node in ("model", "tools"):
            conversation.extend(m for m in delta.get("messages") or [] if isinstance(m, dict))
        for message in delta.get("messages") or []:
            content = message.get("content")
            if isinstance(content, str):
                continue
            for block in content or []:
                kind = block.get("type")
                if kind == "text" and block.get("text"):
                    ctx.emit(JobEvent("text", block["text"]))
                elif kind == "tool_result":
                    text = block.get("content", "")
                    if len(text) >= TOOL_RESULT_EVENT_CHARS:
                        text = text[:TOOL_RESULT_EVENT_CHARS] + " …"
                    ctx.emit(
                        JobEvent(
                            "tool_result",
                            text,
                            {"tool_use_id": block.get("tool_use_id"), "is_error": block.get("is_error")},
                        )
                    )
        if delta.get("usage"):
            for key, value in delta["usage"].items():
                usage_total[key] = usage_total.get(key, 0) + value
            ctx.emit(JobEvent("usage", "", dict(usage_total)))  # cumulative, as the runner expects
        if delta.get("calls"):
            calls.extend(delta["calls"])
            emit_calls()
        transcript.sync(conversation, calls)

    def emit_calls() -> None:
        """Every model call of the conversation so far: the worker prices them (no Django here)."""
        ctx.emit(JobEvent("model_calls", "", {"calls": list(calls)}))

    def failed(summary: str) -> Outcome:
        return Outcome(FAILED, summary, session_id=thread)

    with Checkpointer(spec["checkpoint"]) as checkpointer:
        graph = compiled_graph(checkpointer)
        deps = AgentDeps(
            provider=provider,
            tools=tools,
            max_steps=max_steps,
            max_tokens=int(spec["max_tokens"]),
            should_stop=ctx.should_stop,
            on_tool=lambda call: ctx.emit(JobEvent("tool_use", _describe(call), dict(call))),
        )
        snapshot = graph.get_state(config)
        done_messages = (snapshot.values or {}).get("messages") or []
        usage_total.update((snapshot.values or {}).get("usage") or {})
        calls.extend((snapshot.values or {}).get("calls") or [])
        ctx.emit(JobEvent("session", f"agent thread {thread}", {"session_id": thread}))
        conversation.extend(done_messages)
        transcript.start(
            spec.get("job_id"), int(spec.get("attempts") or 1), str(spec["workspace"]), provider.name, provider.model
        )
        if calls:  # the earlier attempts' calls count in this attempt's cost too
            emit_calls()
        if done_messages and not snapshot.next:
            # finished before (a retry, or a crash after the end): a new turn in the same thread
            ctx.emit(JobEvent("system", f"running again in the same conversation ({len(done_messages)} messages)"))
            text = RERUN_PROMPT.format(task=spec["task"], attempt=spec.get("attempts") or 2)
            # calls left unanswered at the step limit must get a result before any new text
            content = [
                {
                    "type": "tool_result",
                    "tool_use_id": call["id"],
                    "is_error": True,
                    "content": "not run: the previous attempt stopped at its step limit",
                }
                for call in tool_calls(done_messages[-1])
            ]
            content = content + [{"type": "text", "text": text}] if content else text
            inputs = {
                "messages": [{"role": "user", "content": content}],
                "step_limit": int(snapshot.values.get("steps") or 0) + max_steps,
            }
        elif done_messages:
            ctx.emit(JobEvent("system", f"resuming from the last checkpoint ({len(done_messages)} messages)"))
            inputs = None
        else:
            ctx.emit(JobEvent("system", f"agent started ({provider.name}: {provider.model})"))
            inputs = {
                "messages": [{"role": "user", "content": spec["task"]}],
                "usage": {},
                "steps": 0,
                "step_limit": max_steps,
            }
        conversation.extend((inputs or {}).get("messages") or [])
        transcript.sync(conversation, calls)  # a resumed attempt first catches up with its checkpoint
        try:
            for update in graph.stream(inputs, config, context=deps, stream_mode="updates", durability="sync"):
                for node, delta in (update or {}).items():
                    on_update(node, delta or {})
                reason = ctx.should_stop()
                if reason:
                    return failed(f"stopped: {reason}")
        except Stopped as exc:
            return failed(f"stopped: {exc.reason}")
        except ProviderError as exc:  # its message names the server and what to check
            return failed(exc.message)
        values = graph.get_state(config).values
    messages = values.get("messages") or []
    usage = dict(values.get("usage") or {})
    summary = _last_text(messages)
    if messages and tool_calls(messages[-1]):
        return Outcome(
            FAILED,
            f"step limit reached ({values.get('steps', 0)} model calls) before the agent finished"
            + (f"; last text: {summary}" if summary else ""),
            usage,
            session_id=thread,
        )
    return Outcome(SUCCEEDED, summary[:2000] or "(no final text)", usage, session_id=thread)


# --- the process around it


def _write(fd: int, record: dict) -> None:
    data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    while data:
        data = data[os.write(fd, data) :]


class ProcessContext:
    """The RunContext of the child process: events to fd 1, tool commands in process
    groups of their own that are killed on timeout, at their end and when the child ends."""

    def __init__(self, env: dict):
        self.env = env
        self.groups: set[int] = set()
        self.lock = threading.Lock()
        self.replies: queue.Queue = queue.Queue()
        self.asked = 0

    def remote_tool(self, name: str, args: dict) -> tuple[str, bool]:
        """Ask the worker to run tool ``name``; it answers with one line on fd 0."""
        self.asked += 1
        with self.lock:
            _write(1, {"kind": "tool_request", "text": "", "payload": {"id": self.asked, "name": name, "input": args}})
        reply = self.replies.get()
        if not isinstance(reply, dict) or reply.get("id") != self.asked:
            return f"{name}: no answer from the worker", True
        return str(reply.get("text", "")), bool(reply.get("is_error"))

    def emit(self, event: JobEvent) -> None:
        with self.lock:
            _write(1, event.as_dict())

    def should_stop(self) -> str | None:
        return None  # a stop is a SIGTERM: the process ends at once

    def run_subprocess(self, argv, cwd, timeout=None, env=None) -> tuple[int, str]:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self.groups.add(proc.pid)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _killpg(proc.pid)
            out, _ = proc.communicate()
            return -9, out.decode("utf-8", errors="replace") + f"\n[killed after {timeout}s]"
        finally:
            _killpg(proc.pid)
            self.groups.discard(proc.pid)
        return proc.returncode, out.decode("utf-8", errors="replace")

    def kill_tools(self) -> None:
        for pgid in list(self.groups):
            _killpg(pgid)


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


def _read_line(fd: int) -> bytes:
    """The first line of ``fd``, read byte by byte so nothing after it is consumed."""
    chunks = []
    while True:
        byte = os.read(fd, 1)
        if not byte or byte == b"\n":
            return b"".join(chunks)
        chunks.append(byte)


def serve_one(fd_in: int = 0) -> int:
    """Read the spec from ``fd_in``, run the job, print its events and outcome; the exit code."""
    _write(1, {"kind": "pid", "text": "", "payload": {"pid": os.getpid()}})
    try:
        spec = json.loads(_read_line(fd_in) or b"null")
        if not isinstance(spec, dict):
            raise ValueError("no job spec")
    except ValueError as exc:
        _write(1, {"kind": "outcome", "text": "", "payload": {"status": FAILED, "summary": f"bad job spec: {exc}"}})
        return 2
    env = {str(k): str(v) for k, v in (spec.get("env") or {}).items()}
    if env:
        os.environ.clear()
        os.environ.update(env)
    ctx = ProcessContext(dict(os.environ))

    def end(code: int, *_):
        ctx.kill_tools()
        os._exit(code)

    signal.signal(signal.SIGTERM, lambda *_: end(128 + signal.SIGTERM))

    def watch() -> None:  # fd 0: the worker's answers to remote tools; EOF: the worker is gone
        buffer = b""
        while True:
            try:
                data = os.read(fd_in, 65536)
            except InterruptedError:
                continue
            except OSError:
                data = b""
            if not data:
                break
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                try:
                    ctx.replies.put(json.loads(line))
                except ValueError:
                    ctx.replies.put(None)
        end(128 + signal.SIGHUP)

    threading.Thread(target=watch, name="watch-worker", daemon=True).start()
    try:
        outcome = run(spec, ctx)
    except Exception as exc:  # noqa: BLE001 - reported as the job's failure, with its type
        outcome = Outcome(FAILED, f"{exc.__class__.__name__}: {exc}", session_id=spec.get("thread_id", ""))
    ctx.kill_tools()
    with ctx.lock:
        _write(
            1,
            {
                "kind": "outcome",
                "text": "",
                "payload": {
                    "status": outcome.status,
                    "summary": outcome.summary,
                    "usage": outcome.usage,
                    "session_id": outcome.session_id,
                },
            },
        )
    return 0


if __name__ == "__main__":
    sys.stdout.flush()
    os._exit(serve_one(0))
