"""Oikos's langgraph graph: ``model`` -> ``gate`` -> ``tools`` -> ``model`` ... until the model
answers without calling a tool (or the step limit).

Like ``commis.agent.graph``, the state is the conversation in Anthropic's message format
(plain dicts), so a checkpoint is what the next request sends; one langgraph thread per Oikos
thread (``oikos-<id>``), turns appended to it. The model is a Provider (Anthropic or any
OpenAI-compatible endpoint). ``gate`` asks the owner (langgraph ``interrupt``, stored in the
checkpoint, so it survives a restart) before destructive or costly tool calls; it does
nothing else, so re-running it on resume repeats no side effect. Database work (streamed rows,
usage, tool rows) is the runner's (``oikos.turns.Recorder``). Heavy: import only in a turn.
"""

from __future__ import annotations

import json
import operator
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from commis.agent.graph import sum_usage, tool_calls
from oikos import tools as oikos_tools
from oikos.untrusted import RULE

SYSTEM_PROMPT = (
    """You are Oikos, the coordinator of Zerg: the owner's operations center for coding agents.
You talk with the owner (often on a phone: keep answers short and concrete) and delegate work to
commis, background agent jobs (spawn_commis): backend "shell" runs a bash command, "claude",
"codex" and "agent" run a coding agent on a prompt, optionally in a clone of repo_url. Commis keep
running after this conversation; the owner and you are told in this thread when one you spawned
finishes. Answer questions about past work from the Timeline (search_timeline, read_session).
Cancelling jobs, removing schedules and spawning many commis at once need the owner's approval:
just call the tool, Zerg asks. Never invent job ids or results: look them up.
"""
    + RULE
)
TRIM_NOTE = (
    "[{n} earlier messages of this thread were left out to fit the context window; the whole "
    "thread is in the Timeline (search_timeline).]"
)


class OikosState(TypedDict, total=False):
    messages: Annotated[list[dict[str, Any]], operator.add]
    usage: Annotated[dict[str, int], sum_usage]
    steps: Annotated[int, operator.add]
    step_limit: int
    turn: int  # the Turn row the newest input belongs to
    decisions: dict  # tool_use_id -> "approve" | "reject", set by the gate for the calls it asked about
    untrusted: str  # who wrote the untrusted text this turn answers ("" for the owner's own turn)


def _size(message: dict) -> int:
    content = message.get("content")
    return len(content) if isinstance(content, str) else len(json.dumps(content, default=str))


def _plain_user(message: dict) -> bool:
    """A user message that does not answer tool calls: a cut may start there and keep pairs whole."""
    if message.get("role") != "user":
        return False
    content = message.get("content")
    return isinstance(content, str) or not any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)


def trim(messages: list[dict], budget_chars: int) -> list[dict]:
    """The newest messages that fit ``budget_chars`` (about 4 characters a token), starting at a
    plain user message so every tool_use keeps its tool_result; a note says what was left out.
    The current turn (from its last plain user message) is always kept whole."""
    total, start = 0, len(messages)
    for i in range(len(messages) - 1, -1, -1):
        total += _size(messages[i])
        if total > budget_chars:
            break
        start = i
    while start < len(messages) and not _plain_user(messages[start]):
        start += 1
    if start >= len(messages):  # the newest turn alone is over budget: keep it whole anyway
        start = max((i for i, m in enumerate(messages) if _plain_user(m)), default=0)
    if start == 0:
        return messages
    first = dict(messages[start])
    content = first["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    first["content"] = [{"type": "text", "text": TRIM_NOTE.format(n=start)}] + blocks
    return [first] + messages[start + 1 :]


def build_graph(*, recorder, checkpointer=None, max_steps: int = 25, budget_chars: int = 400_000):
    """``recorder`` does the side effects: ``call_model(messages) -> ModelReply``,
    ``spawned_in_turn() -> int``, ``run_tool(call, decision) -> (text, is_error)``."""

    def model_node(state: OikosState) -> dict:
        reply = recorder.call_model(trim(state["messages"], budget_chars))
        content = reply.content or [{"type": "text", "text": "(no reply)"}]
        return {"messages": [{"role": "assistant", "content": content}], "usage": reply.usage or {}, "steps": 1}

    def gate_node(state: OikosState) -> dict:
        calls = tool_calls(state["messages"][-1])
        source = state.get("untrusted") or ""
        risky = oikos_tools.needs_approval(calls, recorder.spawned_in_turn(), untrusted=bool(source))
        if not risky:
            return {"decisions": {}}
        question = "Oikos wants to " + "; ".join(f"{why} ({_describe(call)})" for call, why in risky) + ". Allow it?"
        action = {
            "tools": [{"name": c["name"], "input": c.get("input") or {}, "tool_use_id": c["id"]} for c, _ in risky]
        }
        if source:  # the owner must see that this is not their own request
            question = f"{source} asked for this, not you. " + question
            action["asked_by"] = source
        answer = interrupt({"question": question, "action": action})
        decision = "approve" if str(answer).strip().lower() == "approve" else "reject"
        return {"decisions": {c["id"]: decision for c, _ in risky}}

    def tools_node(state: OikosState) -> dict:
        decisions = state.get("decisions") or {}
        results = []
        for call in tool_calls(state["messages"][-1]):
            text, is_error = recorder.run_tool(call, decisions.get(call["id"]))
            results.append({"type": "tool_result", "tool_use_id": call["id"], "content": text, "is_error": is_error})
        return {"messages": [{"role": "user", "content": results}]}

    def route(state: OikosState) -> str:
        if tool_calls(state["messages"][-1]) and state.get("steps", 0) < (state.get("step_limit") or max_steps):
            return "gate"
        return END

    graph = StateGraph(OikosState)
    graph.add_node("model", model_node)
    graph.add_node("gate", gate_node)
    graph.add_node("tools", tools_node)
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", route, {"gate": "gate", END: END})
    graph.add_edge("gate", "tools")
    graph.add_edge("tools", "model")
    return graph.compile(checkpointer=checkpointer)


def _describe(call: dict) -> str:
    args = ", ".join(f"{k}={json.dumps(v)[:80]}" for k, v in (call.get("input") or {}).items())
    return f"{call.get('name')}({args})"
