"""The ``agent`` backend: Zerg's built-in coding agent, run in the worker process.

A langgraph graph (``commis.agent.graph``) calls Anthropic through the ``anthropic`` SDK
and runs workspace-confined tools (``commis.agent.tools``). Its state is checkpointed
after every step (``durability="sync"``), thread id ``commis-<job id>``:

- SQLite: ``$ZERG_HOME/checkpoints.db`` (langgraph-checkpoint-sqlite, WAL);
- Postgres (the Django database is Postgres and langgraph-checkpoint-postgres is
  installed, ``pip install 'zerg[postgres]'``): the checkpoint tables live in that
  database, so any worker machine can resume the job. Without the package, the SQLite
  file is used on Postgres setups too (then only the machine holding it can resume).

A job interrupted by a restart (attempt >= 2, or any re-run) continues from its last
checkpoint: the steps already done are not repeated (a step cut off mid-way runs again).
A job whose graph had already finished (a retry) gets a new turn in the same conversation.

Job options: ``model`` (else ``[llm] model``, else DEFAULT_MODEL), ``max_steps`` (model
calls, default 50), ``max_tokens``, ``max_retries`` (SDK retries of 429/5xx/connection
errors, default 2).

anthropic and langgraph are imported inside functions only: the idle server never loads them.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

from commis.backends.base import FAILED, SUCCEEDED, Backend, BackendUnavailable, JobEvent, Outcome

DEFAULT_MODEL = "claude-sonnet-4-6"
DEFAULT_MAX_STEPS = 50
RERUN_PROMPT = (
    "This job is being run again (attempt {attempt}): it is a retry, or the previous run was interrupted "
    "right at its end. Check the workspace, redo what is missing, and finish with a short summary. "
    "The task:\n\n{task}"
)
NO_KEY = "set ANTHROPIC_API_KEY or [llm] anthropic_api_key in config.toml to use the agent backend"


def _config():
    from django.conf import settings

    return settings.ZERG


def thread_id(job) -> str:
    return f"commis-{job.id}"


def checkpoint_path() -> Path:
    return Path(_config().home) / "checkpoints.db"


def _postgres_conninfo() -> str | None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    try:
        import langgraph.checkpoint.postgres  # noqa: F401
        from psycopg.conninfo import make_conninfo
    except ImportError:
        return None
    s = connection.settings_dict
    params = {"dbname": s.get("NAME"), "user": s.get("USER"), "password": s.get("PASSWORD"),
              "host": s.get("HOST"), "port": str(s.get("PORT") or "")}
    return make_conninfo(**{k: v for k, v in params.items() if v})


@contextmanager
def open_checkpointer():
    """The checkpointer for this installation (see the module docstring)."""
    conninfo = _postgres_conninfo()
    if conninfo:
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(conninfo) as saver:
            saver.setup()
            yield saver
        return
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    path = checkpoint_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        saver = SqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()


def _describe(call: dict) -> str:
    from commis.backends.streamjson import describe_tool_call

    return describe_tool_call(call.get("name", "?"), call.get("input"))


def _last_text(messages: list[dict]) -> str:
    for message in reversed(messages):
        if message.get("role") == "assistant" and isinstance(message.get("content"), list):
            texts = [b.get("text", "") for b in message["content"] if b.get("type") == "text"]
            if any(texts):
                return "\n".join(t for t in texts if t)
    return ""


class AgentBackend(Backend):
    name = "agent"
    inline = True

    def option(self, job, key, default=None):
        options = getattr(job, "options", None) or {}
        return options.get(key, default) if isinstance(options, dict) else default

    def check(self, job) -> None:
        if not _config().anthropic_api_key:
            raise BackendUnavailable(NO_KEY)
        try:
            import anthropic  # noqa: F401
            import langgraph  # noqa: F401
        except ImportError as exc:
            raise BackendUnavailable(f"the agent backend needs anthropic and langgraph: pip install zerg ({exc})")

    def make_client(self, job):
        import anthropic

        return anthropic.Anthropic(
            api_key=_config().anthropic_api_key,
            base_url=os.environ.get("ANTHROPIC_BASE_URL") or None,
            max_retries=int(self.option(job, "max_retries", 2)),
            timeout=float(self.option(job, "request_timeout", 600)),
        )

    def run_inline(self, job, workspace, ctx) -> Outcome:
        self.check(job)
        import anthropic

        from commis.agent.graph import Stopped, build_graph, tool_calls
        from commis.agent.tools import WorkspaceTools

        model = self.option(job, "model") or _config().model or DEFAULT_MODEL
        max_steps = int(self.option(job, "max_steps", DEFAULT_MAX_STEPS))
        tools = WorkspaceTools(workspace.path, run_subprocess=getattr(ctx, "run_subprocess", None))
        config = {"configurable": {"thread_id": thread_id(job)}, "recursion_limit": 2 * max_steps + 10}
        client = self.make_client(job)
        base_url = str(client.base_url)

        with open_checkpointer() as checkpointer:
            graph = build_graph(client=client, model=model, tools=tools, checkpointer=checkpointer,
                                max_steps=max_steps, max_tokens=int(self.option(job, "max_tokens", 8192)),
                                on_tool=lambda call: ctx.emit(JobEvent("tool_use", _describe(call), dict(call))),
                                should_stop=ctx.should_stop)
            snapshot = graph.get_state(config)
            done_messages = (snapshot.values or {}).get("messages") or []
            self._usage = dict((snapshot.values or {}).get("usage") or {})
            ctx.emit(JobEvent("session", f"agent thread {thread_id(job)}", {"session_id": thread_id(job)}))
            if done_messages and not snapshot.next:
                # finished before (a retry, or a crash after the end): a new turn in the same thread
                ctx.emit(JobEvent("system", f"running again in the same conversation ({len(done_messages)} messages)"))
                text = RERUN_PROMPT.format(task=job.task, attempt=getattr(job, "attempts", 2))
                # calls left unanswered at the step limit must get a result before any new text
                content = [{"type": "tool_result", "tool_use_id": call["id"], "is_error": True,
                            "content": "not run: the previous attempt stopped at its step limit"}
                           for call in tool_calls(done_messages[-1])]
                content = content + [{"type": "text", "text": text}] if content else text
                inputs = {"messages": [{"role": "user", "content": content}],
                          "step_limit": int(snapshot.values.get("steps") or 0) + max_steps}
            elif done_messages:
                ctx.emit(JobEvent("system", f"resuming from the last checkpoint ({len(done_messages)} messages)"))
                inputs = None
            else:
                ctx.emit(JobEvent("system", f"agent started ({model})"))
                inputs = {"messages": [{"role": "user", "content": job.task}], "usage": {}, "steps": 0,
                          "step_limit": max_steps}
            try:
                for update in graph.stream(inputs, config, stream_mode="updates", durability="sync"):
                    for node, delta in (update or {}).items():
                        self._emit_update(ctx, node, delta or {})
                    reason = ctx.should_stop()
                    if reason:
                        return Outcome(FAILED, f"stopped: {reason}", session_id=thread_id(job))
            except Stopped as exc:
                return Outcome(FAILED, f"stopped: {exc.reason}", session_id=thread_id(job))
            except anthropic.AuthenticationError as exc:
                return Outcome(FAILED, f"the Anthropic API refused the key ({exc.status_code}): check "
                                       "ANTHROPIC_API_KEY / [llm] anthropic_api_key", session_id=thread_id(job))
            except anthropic.APIConnectionError as exc:
                return Outcome(FAILED, f"cannot reach the Anthropic API at {base_url}: {exc}",
                               session_id=thread_id(job))
            except anthropic.APIStatusError as exc:
                return Outcome(FAILED, f"Anthropic API error {exc.status_code}: {exc.message}",
                               session_id=thread_id(job))
            return self._finish(job, graph.get_state(config).values, tool_calls)

    def _emit_update(self, ctx, node: str, delta: dict) -> None:
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
                    ctx.emit(JobEvent("tool_result", text if len(text) < 4000 else text[:4000] + " …",
                                      {"tool_use_id": block.get("tool_use_id"), "is_error": block.get("is_error")}))
        if delta.get("usage"):
            for key, value in delta["usage"].items():
                self._usage[key] = self._usage.get(key, 0) + value
            ctx.emit(JobEvent("usage", "", dict(self._usage)))  # cumulative, as the runner expects

    def _finish(self, job, values: dict, tool_calls) -> Outcome:
        messages = values.get("messages") or []
        usage = dict(values.get("usage") or {})
        summary = _last_text(messages)
        if messages and tool_calls(messages[-1]):
            steps = values.get("steps", 0)
            return Outcome(FAILED, f"step limit reached ({steps} model calls) before the agent finished"
                                   + (f"; last text: {summary}" if summary else ""), usage,
                           session_id=thread_id(job))
        return Outcome(SUCCEEDED, summary[:2000] or "(no final text)", usage, session_id=thread_id(job))
