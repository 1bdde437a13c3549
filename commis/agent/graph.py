"""The built-in agent as a langgraph graph: ``model`` (Anthropic Messages API through the
``anthropic`` SDK) -> ``tools`` (workspace tools) -> ``model`` ... until the model stops
calling tools or the step limit is reached.

State holds the conversation in Anthropic's own message format (plain dicts), so a
checkpoint is exactly what the next API request sends. Heavy imports: only import this
module when an agent job runs.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Callable, TypedDict

from langgraph.graph import END, START, StateGraph

from commis.agent.tools import SCHEMAS, WorkspaceTools

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


def _add_usage(old: dict | None, new: dict | None) -> dict:
    out = dict(old or {})
    for key, value in (new or {}).items():
        if isinstance(value, (int, float)):
            out[key] = out.get(key, 0) + value
    return out


class AgentState(TypedDict, total=False):
    messages: Annotated[list[dict[str, Any]], operator.add]
    usage: Annotated[dict[str, int], _add_usage]
    steps: Annotated[int, operator.add]
    stop_reason: str
    step_limit: int  # route to END once ``steps`` reaches it (set per run: a retry gets a fresh budget)


def _block_dict(block) -> dict:
    """An API response block as the dict to send back (only the fields requests accept)."""
    data = block.model_dump(exclude_none=True) if hasattr(block, "model_dump") else dict(block)
    kind = data.get("type")
    if kind == "text":
        return {"type": "text", "text": data.get("text", "")}
    if kind == "tool_use":
        return {"type": "tool_use", "id": data["id"], "name": data["name"], "input": data.get("input") or {}}
    return data


def tool_calls(message: dict | None) -> list[dict]:
    if not message or message.get("role") != "assistant":
        return []
    content = message.get("content")
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_use"] if isinstance(content, list) else []


def build_graph(*, client, model: str, tools: WorkspaceTools, max_tokens: int = 8192,
                system: str | None = None, checkpointer=None, max_steps: int = 50,
                on_tool: Callable[[dict], None] | None = None,
                should_stop: Callable[[], str | None] | None = None):
    system_text = system or SYSTEM_PROMPT.format(root=tools.root)

    def model_node(state: AgentState) -> dict:
        # streamed, so a cancel or timeout cuts a long answer short instead of waiting for it
        with client.messages.stream(model=model, max_tokens=max_tokens, system=system_text,
                                    tools=SCHEMAS, messages=state["messages"]) as stream:
            for _ in stream:
                reason = should_stop() if should_stop is not None else None
                if reason:
                    raise Stopped(reason)
            response = stream.get_final_message()
        usage = {}
        if getattr(response, "usage", None) is not None:
            usage = {k: v for k, v in response.usage.model_dump().items() if isinstance(v, int)}
        content = [_block_dict(b) for b in response.content]
        return {"messages": [{"role": "assistant", "content": content}], "usage": usage, "steps": 1,
                "stop_reason": response.stop_reason or ""}

    def tools_node(state: AgentState) -> dict:
        results = []
        for call in tool_calls(state["messages"][-1]):
            if on_tool is not None:
                on_tool(call)
            text, is_error = tools.call(call.get("name"), call.get("input") or {})
            results.append({"type": "tool_result", "tool_use_id": call["id"], "content": text, "is_error": is_error})
        return {"messages": [{"role": "user", "content": results}]}

    def route(state: AgentState) -> str:
        if tool_calls(state["messages"][-1]) and state.get("steps", 0) < (state.get("step_limit") or max_steps):
            return "tools"
        return END  # done, or the step limit: the caller sees the unanswered tool calls

    graph = StateGraph(AgentState)
    graph.add_node("model", model_node)
    graph.add_node("tools", tools_node)
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", route, {"tools": "tools", END: END})
    graph.add_edge("tools", "model")
    return graph.compile(checkpointer=checkpointer)
