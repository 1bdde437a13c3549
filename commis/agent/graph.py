"""The built-in agent as a langgraph graph: ``model`` (a ``zerg_site.llm`` Provider:
Anthropic, or any OpenAI-compatible endpoint, as for Oikos) -> ``tools`` (workspace tools)
-> ``model`` ... until the model stops calling tools or the step limit is reached.

State holds the conversation in Anthropic's message format (plain dicts, whichever
provider answers), so a checkpoint is exactly what the next request sends. Heavy
imports: only import this module when an agent job runs.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from commis.agent.tools import SCHEMAS, WorkspaceTools
from zerg_site.llm.base import Stopped as ProviderStopped

SYSTEM_PROMPT = """You are a coding agent running unattended as a background job of Zerg.
Your workspace is {root}: every file tool works inside it, and run_command runs there.
Work step by step with the tools until the task is done; nobody can answer questions,
so make reasonable choices yourself. When you are finished, reply without calling a tool,
with a short summary of what you did and anything left open."""


class Stopped(Exception):
    """The runner asked to stop (cancelled, timed_out, lost_lease) during a model call; the
    step is abandoned and, on a re-run, starts again from the last checkpoint."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def sum_usage(old: dict | None, new: dict | None) -> dict:
    out = dict(old or {})
    for key, value in (new or {}).items():
        if isinstance(value, (int, float)):
            out[key] = out.get(key, 0) + value
    return out


class AgentState(TypedDict, total=False):
    messages: Annotated[list[dict[str, Any]], operator.add]
    usage: Annotated[dict[str, int], sum_usage]
    steps: Annotated[int, operator.add]
    stop_reason: str
    step_limit: int  # route to END once ``steps`` reaches it (set per run: a retry gets a fresh budget)
    calls: Annotated[list[dict[str, Any]], operator.add]  # {"model", "usage"} per model call: what prices it


def tool_calls(message: dict | None) -> list[dict]:
    if not message or message.get("role") != "assistant":
        return []
    content = message.get("content")
    return (
        [b for b in content if isinstance(b, dict) and b.get("type") == "tool_use"] if isinstance(content, list) else []
    )


@dataclass
class AgentDeps:
    """What the nodes need besides the state, per run (``graph.stream(..., context=deps)``):
    kept out of the compiled graph so one compiled graph serves every job (the agent host
    compiles it once, before it forks the children)."""

    provider: Any  # a zerg_site.llm Provider
    tools: WorkspaceTools
    max_tokens: int = 8192
    max_steps: int = 50
    system: str | None = None
    on_tool: Callable[[dict], None] | None = None
    should_stop: Callable[[], str | None] | None = None


def _ignore_text(text: str) -> None:
    """The agent emits a reply's text once the step is done (nobody watches it token by token)."""


def _model_node(state: AgentState, runtime: Runtime[AgentDeps]) -> dict:
    deps = runtime.context
    system_text = deps.system or SYSTEM_PROMPT.format(root=deps.tools.root)
    reasons: list[str] = []

    def should_stop() -> bool:
        reason = deps.should_stop() if deps.should_stop is not None else None
        if reason:
            reasons.append(reason)
        return bool(reason)

    # streamed, so a cancel or timeout cuts a long answer short instead of waiting for it
    try:
        reply = deps.provider.stream(
            system=system_text,
            messages=state["messages"],
            tools=SCHEMAS,
            max_tokens=deps.max_tokens,
            on_text=_ignore_text,
            should_stop=should_stop,
        )
    except ProviderStopped:
        raise Stopped(reasons[-1] if reasons else "stopped") from None
    usage = dict(reply.usage or {})
    return {
        "messages": [{"role": "assistant", "content": reply.content}],
        "usage": usage,
        "steps": 1,
        "stop_reason": reply.stop_reason or "",
        "calls": [{"model": reply.model or deps.provider.model, "usage": usage}],
    }


def _tools_node(state: AgentState, runtime: Runtime[AgentDeps]) -> dict:
    deps = runtime.context
    results = []
    for call in tool_calls(state["messages"][-1]):
        if deps.on_tool is not None:
            deps.on_tool(call)
        text, is_error = deps.tools.call(call.get("name"), call.get("input") or {})
        results.append({"type": "tool_result", "tool_use_id": call["id"], "content": text, "is_error": is_error})
    return {"messages": [{"role": "user", "content": results}]}


def _route(state: AgentState, runtime: Runtime[AgentDeps]) -> str:
    limit = state.get("step_limit") or runtime.context.max_steps
    if tool_calls(state["messages"][-1]) and state.get("steps", 0) < limit:
        return "tools"
    return END  # done, or the step limit: the caller sees the unanswered tool calls


_compiled = None


def compiled_graph(checkpointer=None):
    """``model`` -> ``tools`` -> ``model`` ..., compiled once per process; a checkpointer
    gives a copy that uses it. Run it with ``context=AgentDeps(...)``."""
    global _compiled
    if _compiled is None:
        graph = StateGraph(AgentState, context_schema=AgentDeps)
        graph.add_node("model", _model_node)
        graph.add_node("tools", _tools_node)
        graph.add_edge(START, "model")
        graph.add_conditional_edges("model", _route, {"tools": "tools", END: END})
        graph.add_edge("tools", "model")
        _compiled = graph.compile()
    return _compiled if checkpointer is None else _compiled.copy(update={"checkpointer": checkpointer})
