"""Pure parsers for the machine output of agent CLIs, line by line.

- Claude Code ``claude -p ... --output-format stream-json --verbose``: ``system``
  (``init`` carries ``session_id``), ``assistant`` / ``user`` messages (text, tool_use,
  tool_result, thinking), and one closing ``result`` record (``is_error``, ``usage``,
  ``total_cost_usd``, ``session_id``). Success is ``result.is_error == false``; the
  ``subtype`` is not trusted (an API error can come back as subtype "success"). The job's cost
  is its usage at Zerg's prices (``timeline.pricing``, as every other source), not the CLI's
  own ``total_cost_usd`` (which ignores the owner's prices): ``modelUsage`` per model when
  the run used several, else the result's ``usage`` (with its 1-hour cache writes) at the
  run's model. A run's usage is the sum of its requests: a long-context tier is judged on
  the sum (the job's Timeline session, priced per response, has the exact figure).
- Codex ``codex exec --json``: ``thread.started`` (``thread_id``), ``turn.started``,
  ``item.started|updated|completed`` (agent_message, reasoning, command_execution,
  file_change, mcp_tool_call, web_search, todo_list, error), ``turn.completed``
  (``usage``), ``turn.failed`` / ``error``. Rollout-style lines (``session_meta``,
  ``event_msg``, ``response_item``, as in Codex session files) are understood too.

Each parser is a small state machine: ``feed(line) -> list[JobEvent]``; once the
stream ended, ``outcome(exit_code)`` judges it. Nothing here raises on odd input:
a line that is not JSON becomes an "output" event, an unknown record a "raw" event.
"""

from __future__ import annotations

import json
from typing import Any

from agents_ingest.parsers.base import json_value  # job output: depth-limited
from commis.backends.base import FAILED, SUCCEEDED, JobEvent, Outcome

TEXT_LIMIT = 4000  # characters of a tool result / command output kept in an event


def _clip(text: Any, limit: int = TEXT_LIMIT) -> str:
    if not isinstance(text, str):
        text = json.dumps(text, ensure_ascii=False) if text is not None else ""
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more characters]"


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _loads(line: str) -> dict | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        record = json_value(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def claude_cost(record: dict, model: str) -> float | None:
    """The cost of a Claude Code run from its ``result`` record; None when a model has no price."""
    # lazy: the agent host and child import this module and have no Django (timeline.pricing imports django.conf)
    from timeline.pricing import response_cost

    per_model = record.get("modelUsage")
    per_model = per_model if isinstance(per_model, dict) else {}
    if len(per_model) > 1:
        total = 0.0
        for name, used in per_model.items():
            used = used if isinstance(used, dict) else {}
            cost = response_cost(
                "claude",
                str(name),
                {
                    "input_tokens": used.get("inputTokens"),
                    "output_tokens": used.get("outputTokens"),
                    "cache_read_input_tokens": used.get("cacheReadInputTokens"),
                    "cache_creation_input_tokens": used.get("cacheCreationInputTokens"),
                },
            )
            if cost is None:
                return None
            total += cost
        return total
    usage = record.get("usage")
    return response_cost("claude", str(next(iter(per_model), model)), usage) if isinstance(usage, dict) else None


def _tool_result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict):
                if block.get("type") == "text":
                    parts.append(str(block.get("text", "")))
                else:
                    parts.append(f"[{block.get('type', 'block')}]")
            else:
                parts.append(str(block))
        return "\n".join(parts)
    return "" if content is None else json.dumps(content, ensure_ascii=False)


def describe_tool_call(name: str, tool_input: Any) -> str:
    """``Bash: echo hi`` — a one-line view of a tool call."""
    if isinstance(tool_input, dict):
        for key in ("command", "cmd", "file_path", "path", "pattern", "url", "query", "description", "prompt"):
            if tool_input.get(key):
                return f"{name}: {_one_line(tool_input[key])}"
        return f"{name}: {_one_line(json.dumps(tool_input, ensure_ascii=False))}" if tool_input else name
    return f"{name}: {_one_line(tool_input)}" if tool_input else name


def _record_or_output(parser, line: str) -> tuple[dict | None, list[JobEvent]]:
    """A JSON record, or (None, the events of a plain output line, kept in ``parser.tail``)."""
    record = _loads(line)
    if record is not None:
        return record, []
    if not line.strip():
        return None, []
    parser.tail = (parser.tail + [line])[-20:]
    return None, [JobEvent("output", line)]


class ClaudeStreamParser:
    """State of one ``claude -p --output-format stream-json --verbose`` run."""

    def __init__(self) -> None:
        self.session_id: str = ""
        self.model: str = ""
        self.result: dict | None = None  # the closing result record
        self.last_text: str = ""
        self.tail: list[str] = []  # the last few non-JSON lines (stderr is merged in)
        self.counts: dict[str, int] = {}
        self.calls: dict[str, tuple[str, dict]] = {}  # message id -> (model, usage) of each API response so far

    def feed(self, line: str) -> list[JobEvent]:
        record, plain = _record_or_output(self, line)
        if record is None:
            return plain
        kind = record.get("type")
        self.counts[str(kind)] = self.counts.get(str(kind), 0) + 1
        sid = record.get("session_id")
        events: list[JobEvent] = []
        if isinstance(sid, str) and sid and sid != self.session_id:
            self.session_id = sid
            events.append(JobEvent("session", f"session {sid}", {"session_id": sid}))
        try:
            handler = getattr(self, f"_on_{kind}", None)
            events += handler(record) if handler else [JobEvent("raw", _one_line(line), {"record": record})]
        except Exception as exc:  # a malformed known record must not break the run
            events.append(JobEvent("raw", _one_line(line), {"record": record, "parse_error": str(exc)}))
        return events

    def _on_system(self, record: dict) -> list[JobEvent]:
        subtype = record.get("subtype", "")
        if subtype == "init":
            self.model = record.get("model", "") or ""
            text = f"Claude Code {record.get('claude_code_version', '?')} started ({self.model or 'default model'})"
            payload = {
                k: record.get(k)
                for k in ("cwd", "model", "tools", "permissionMode", "claude_code_version", "apiKeySource")
                if k in record
            }
            return [JobEvent("system", text, payload)]
        return [
            JobEvent("system", _one_line(f"{subtype}: {record.get('message') or ''}".strip(": ")), {"record": record})
        ]

    def _on_assistant(self, record: dict) -> list[JobEvent]:
        message = record.get("message") or {}
        usage = message.get("usage")
        if isinstance(usage, dict) and isinstance(message.get("id"), str):  # one per response (blocks repeat it)
            self.calls[message["id"]] = (str(message.get("model") or self.model), usage)
        events = []
        for block in message.get("content") or []:
            btype = block.get("type")
            if btype == "text":
                self.last_text = block.get("text", "")
                events.append(JobEvent("text", block.get("text", "")))
            elif btype == "tool_use":
                events.append(
                    JobEvent(
                        "tool_use",
                        describe_tool_call(block.get("name", "?"), block.get("input")),
                        {"id": block.get("id"), "name": block.get("name"), "input": block.get("input")},
                    )
                )
            elif btype in ("thinking", "redacted_thinking"):
                events.append(JobEvent("thinking", _clip(block.get("thinking", ""))))
            else:
                events.append(JobEvent("raw", f"assistant {btype} block", {"block": block}))
        if record.get("parent_tool_use_id"):
            for event in events:
                event.payload["parent_tool_use_id"] = record["parent_tool_use_id"]
        return events

    def _on_user(self, record: dict) -> list[JobEvent]:
        content = (record.get("message") or {}).get("content")
        if isinstance(content, str):
            return [JobEvent("user", _clip(content))]
        events = []
        for block in content or []:
            if block.get("type") == "tool_result":
                text = _tool_result_text(block.get("content"))
                events.append(
                    JobEvent(
                        "tool_result",
                        _clip(text),
                        {"tool_use_id": block.get("tool_use_id"), "is_error": bool(block.get("is_error"))},
                    )
                )
            elif block.get("type") == "text":
                events.append(JobEvent("user", _clip(block.get("text", ""))))
        return events

    def _on_result(self, record: dict) -> list[JobEvent]:
        self.result = record
        usage = dict(record.get("usage") or {})
        usage_payload = {k: v for k, v in usage.items() if isinstance(v, (int, float))}
        cost = claude_cost(record, self.model)
        if cost is not None:
            usage_payload["cost_usd"] = cost
        ok = record.get("is_error") is False
        text = record.get("result") or ""
        if not ok and not text:
            text = "; ".join(map(str, record.get("errors") or [])) or record.get("subtype", "error")
        return [
            JobEvent(
                "result",
                _clip(text),
                {
                    "is_error": not ok,
                    "subtype": record.get("subtype"),
                    "num_turns": record.get("num_turns"),
                    "duration_ms": record.get("duration_ms"),
                },
            ),
            JobEvent("usage", "", usage_payload),
        ]

    def cost_so_far(self) -> float | None:
        """What the run has cost so far, for its budget: the result's cost once it came; before, the
        usage each assistant message carries (one per API response; its output tokens may still be
        counting, so this is a lower bound). None while nothing is priced."""
        # lazy: the agent host and child import this module and have no Django (timeline.pricing imports django.conf)
        from timeline.pricing import response_cost

        if self.result is not None:
            return claude_cost(self.result, self.model)
        costs = [response_cost("claude", model, usage) for model, usage in self.calls.values()]
        known = [c for c in costs if c is not None]
        return sum(known) if known else None

    def _on_stream_event(self, record: dict) -> list[JobEvent]:
        return []  # partial deltas (--include-partial-messages): kept in log.txt only

    def outcome(self, exit_code: int) -> Outcome:
        if self.result is None:
            tail = "\n".join(self.tail[-5:])
            summary = f"Claude Code exited with code {exit_code} without a result record"
            return Outcome(FAILED, summary + (f":\n{tail}" if tail else ""), session_id=self.session_id)
        record = self.result
        ok = record.get("is_error") is False
        usage = {k: v for k, v in (record.get("usage") or {}).items() if isinstance(v, (int, float))}
        summary = record.get("result") or ""
        if not ok and not summary:
            summary = "; ".join(map(str, record.get("errors") or [])) or f"Claude Code error ({record.get('subtype')})"
        return Outcome(
            SUCCEEDED if ok else FAILED,
            _clip(summary, 2000),
            usage,
            claude_cost(record, self.model),
            record.get("session_id") or self.session_id,
        )


ROLLOUT_DUPLICATES = {
    "exec_command_begin",
    "exec_command_end",
    "patch_apply_begin",
    "patch_apply_end",
    "web_search_begin",
    "web_search_end",
    "agent_reasoning",
    "agent_message_delta",
}


class CodexStreamParser:
    """State of one ``codex exec --json`` run (also reads rollout-style lines)."""

    def __init__(self) -> None:
        self.session_id: str = ""
        self.usage: dict[str, int] = {}
        self.last_text: str = ""
        self.completed: bool = False
        self.error: str = ""
        self.failed: bool = False  # a turn.failed record was seen
        self.tail: list[str] = []

    def feed(self, line: str) -> list[JobEvent]:
        record, plain = _record_or_output(self, line)
        if record is None:
            return plain
        kind = str(record.get("type", ""))
        try:
            handler = getattr(self, "_on_" + kind.replace(".", "_"), None)
            if handler is None:
                return [JobEvent("raw", _one_line(line), {"record": record})]
            return handler(record)
        except Exception as exc:
            return [JobEvent("raw", _one_line(line), {"record": record, "parse_error": str(exc)})]

    def _session(self, sid: Any) -> list[JobEvent]:
        if isinstance(sid, str) and sid and sid != self.session_id:
            self.session_id = sid
            return [JobEvent("session", f"session {sid}", {"session_id": sid})]
        return []

    # --- codex exec --json

    def _on_thread_started(self, record: dict) -> list[JobEvent]:
        return self._session(record.get("thread_id"))

    _on_thread_resumed = _on_thread_started

    def _on_turn_started(self, record: dict) -> list[JobEvent]:
        self.completed = False
        return [JobEvent("system", "turn started")]

    def _on_turn_completed(self, record: dict) -> list[JobEvent]:
        self.completed = True
        usage = {k: v for k, v in (record.get("usage") or {}).items() if isinstance(v, (int, float))}
        for key, value in usage.items():
            self.usage[key] = self.usage.get(key, 0) + value
        return [JobEvent("usage", "", dict(self.usage))]

    def _on_turn_failed(self, record: dict) -> list[JobEvent]:
        error = record.get("error") or {}
        self.error = (error.get("message") if isinstance(error, dict) else str(error)) or "turn failed"
        self.failed = True
        return [JobEvent("error", self.error, {"record": record})]

    def _on_error(self, record: dict) -> list[JobEvent]:
        self.error = str(record.get("message") or record.get("error") or "error")
        return [JobEvent("error", self.error)]

    def _on_item_started(self, record: dict) -> list[JobEvent]:
        item = record.get("item") or {}
        if item.get("type") == "command_execution":
            return [
                JobEvent(
                    "tool_use",
                    f"$ {_one_line(item.get('command', ''))}",
                    {"id": item.get("id"), "name": "command", "input": {"command": item.get("command")}},
                )
            ]
        return []

    def _on_item_updated(self, record: dict) -> list[JobEvent]:
        item = record.get("item") or {}
        if item.get("type") == "todo_list":
            return self._item(item)
        return []

    def _on_item_completed(self, record: dict) -> list[JobEvent]:
        return self._item(record.get("item") or {})

    def _item(self, item: dict) -> list[JobEvent]:
        itype = item.get("type") or item.get("item_type")
        if itype == "agent_message":
            self.last_text = item.get("text", "")
            return [JobEvent("text", self.last_text)]
        if itype == "reasoning":
            return [JobEvent("thinking", _clip(item.get("text", "")))]
        if itype == "command_execution":
            return [
                JobEvent(
                    "tool_result",
                    _clip(item.get("aggregated_output", "")),
                    {
                        "tool_use_id": item.get("id"),
                        "command": item.get("command"),
                        "exit_code": item.get("exit_code"),
                        "is_error": item.get("status") == "failed" or item.get("exit_code") not in (0, None),
                    },
                )
            ]
        if itype == "file_change":
            changes = item.get("changes") or []
            text = ", ".join(f"{c.get('kind', '?')} {c.get('path', '?')}" for c in changes if isinstance(c, dict))
            return [JobEvent("file_change", text or "file change", {"changes": changes, "status": item.get("status")})]
        if itype == "mcp_tool_call":
            return [JobEvent("tool_use", f"{item.get('server', '')}.{item.get('tool', '')}".strip("."), {"item": item})]
        if itype == "web_search":
            return [JobEvent("tool_use", f"web search: {_one_line(item.get('query', ''))}", {"item": item})]
        if itype == "todo_list":
            items = item.get("items") or []
            text = "\n".join(
                f"[{'x' if t.get('completed') else ' '}] {t.get('text', '')}" for t in items if isinstance(t, dict)
            )
            return [JobEvent("todo", text, {"items": items})]
        if itype == "error":
            return [JobEvent("error", item.get("message", "error"), {"item": item})]
        return [JobEvent("raw", f"codex item {itype}", {"item": item})]

    # --- rollout-style lines (Codex session files; some builds print these)

    def _on_session_meta(self, record: dict) -> list[JobEvent]:
        return self._session((record.get("payload") or {}).get("id"))

    def _on_turn_context(self, record: dict) -> list[JobEvent]:
        return []

    def _on_event_msg(self, record: dict) -> list[JobEvent]:
        payload = record.get("payload") or {}
        ptype = payload.get("type")
        if ptype == "agent_message":
            self.last_text = payload.get("message", "")
            return [JobEvent("text", self.last_text)]
        if ptype == "task_started":
            self.completed = False
            return [JobEvent("system", "turn started")]
        if ptype == "task_complete":
            self.completed = True
            if payload.get("last_agent_message"):
                self.last_text = payload["last_agent_message"]
            return []
        if ptype == "token_count":
            info = payload.get("info") or {}
            total = info.get("total_token_usage") or {}
            if total:
                self.usage = {k: v for k, v in total.items() if isinstance(v, (int, float))}
                return [JobEvent("usage", "", dict(self.usage))]
            return []
        if ptype in ("error", "stream_error"):
            self.error = payload.get("message", "error")
            return [JobEvent("error", self.error)]
        if ptype == "user_message":
            return [JobEvent("user", _clip(payload.get("message", "")))]
        if ptype in ROLLOUT_DUPLICATES:
            return []  # the matching response_item carries it
        if isinstance(ptype, str) and ptype.startswith("collab_"):
            return [JobEvent("system", ptype.replace("_", " "), {"payload": payload})]
        return [JobEvent("raw", f"codex event {ptype}", {"payload": payload})]

    def _on_response_item(self, record: dict) -> list[JobEvent]:
        payload = record.get("payload") or {}
        ptype = payload.get("type")
        if ptype in ("function_call", "custom_tool_call"):
            args = payload.get("arguments") or payload.get("input")
            try:
                args = json_value(args) if isinstance(args, str) else args
            except ValueError:
                pass
            return [
                JobEvent(
                    "tool_use",
                    describe_tool_call(payload.get("name", "?"), args),
                    {"id": payload.get("call_id"), "name": payload.get("name"), "input": args},
                )
            ]
        if ptype in ("function_call_output", "custom_tool_call_output"):
            output = payload.get("output")
            if isinstance(output, dict):
                output = output.get("content") or json.dumps(output)
            return [JobEvent("tool_result", _clip(output), {"tool_use_id": payload.get("call_id")})]
        return []  # messages duplicate event_msg records; reasoning is encrypted

    def outcome(self, exit_code: int) -> Outcome:
        usage = dict(self.usage)
        if self.failed or not self.completed or exit_code != 0:
            summary = self.error
            if not summary:
                tail = "\n".join(self.tail[-5:])
                summary = (
                    f"Codex exited with code {exit_code}"
                    if exit_code != 0
                    else "Codex ended without completing its turn"
                ) + (f":\n{tail}" if tail else "")
            return Outcome(FAILED, _clip(summary, 2000), usage, None, self.session_id)
        return Outcome(SUCCEEDED, _clip(self.last_text, 2000), usage, None, self.session_id)
