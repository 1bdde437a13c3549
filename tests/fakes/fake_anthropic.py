"""A local HTTP server that speaks the Anthropic Messages API, for tests.

Stdlib only (``http.server`` in a thread), so it can also serve the real Claude Code CLI
(``ANTHROPIC_BASE_URL=server.url``). It answers

- ``POST /v1/messages`` (with or without ``?beta=true``), JSON or SSE (``"stream": true``);
- ``POST /v1/messages/count_tokens`` with a rough token count;
- anything else with a 404 in the API's error shape.

Replies come from a queue (:meth:`FakeAnthropic.reply_text`, :meth:`reply_tool_use`,
:meth:`reply_error`, or any callable ``request_body -> reply``). When the queue is empty
the default responder answers: a ``TOOL <Name> <json input>`` line in the newest user
text (not yet answered by a tool result) becomes a ``tool_use`` call, anything else gets
the text ``default_text``. Every request is recorded in :attr:`requests`.

    with FakeAnthropic() as server:
        server.reply_tool_use("read_file", {"path": "a.txt"})
        server.reply_text("done")
        client = anthropic.Anthropic(base_url=server.url, api_key="test")
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.server import FakeServer

DEFAULT_TEXT = "Done: the fake model has finished the task."

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any

    @property
    def messages(self) -> list[dict]:
        return (self.body or {}).get("messages", []) if isinstance(self.body, dict) else []

    @property
    def api_key(self) -> str:
        """The key the client sent (``x-api-key``, or ``Authorization: Bearer``)."""
        return self.headers.get("x-api-key") or self.headers.get("authorization", "").removeprefix("Bearer ")

    @property
    def is_messages(self) -> bool:
        return self.method == "POST" and self.path == "/v1/messages"


@dataclass
class Reply:
    """One scripted answer: content blocks, or an HTTP error."""

    content: list[dict] = field(default_factory=list)
    stop_reason: str = "end_turn"
    error_status: int | None = None
    error_type: str | None = None
    error_message: str = ""
    delay: float = 0.0  # seconds to wait before answering
    usage: dict | None = None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(block.get("text", ""))
    return "\n".join(parts)


def default_responder(body: dict, default_text: str = DEFAULT_TEXT) -> Reply:
    """``TOOL Name {json}`` lines in the last user message become tool calls, once."""
    # Claude Code may add role "system" messages after the prompt: look at the last user turn
    messages = [m for m in body.get("messages") or [] if m.get("role") in ("user", "assistant")]
    if not messages:
        return Reply(content=[{"type": "text", "text": default_text}])
    last = messages[-1]
    content = last.get("content")
    answered = isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    )
    if last.get("role") == "user" and not answered:
        calls = []
        for match in re.finditer(r"^TOOL (\S+) (\{.*\})\s*$", _text_of(content), re.M):
            try:
                calls.append(
                    {"type": "tool_use", "id": _tool_id(), "name": match.group(1), "input": json.loads(match.group(2))}
                )
            except ValueError:
                pass
        if calls:
            return Reply(content=calls, stop_reason="tool_use")
    return Reply(content=[{"type": "text", "text": default_text}])


def _tool_id() -> str:
    return "toolu_" + uuid.uuid4().hex[:20]


def _msg_id() -> str:
    return "msg_" + uuid.uuid4().hex[:20]


class FakeAnthropic(FakeServer):
    thread_name = "fake-anthropic"

    def __init__(self, *, api_key: str | None = None, default_text: str = DEFAULT_TEXT, model: str = "claude-fake-1"):
        super().__init__(api_key=api_key, default_text=default_text, model=model)

    # --- scripting

    def reply_text(self, text: str, **kw) -> None:
        self.reply(Reply(content=[{"type": "text", "text": text}], **kw))

    def reply_tool_use(self, name: str, input: dict, *, text: str | None = None, id: str | None = None, **kw) -> str:
        """Queue a tool call; returns its id."""
        tool_id = id or _tool_id()
        content = [{"type": "text", "text": text}] if text else []
        content.append({"type": "tool_use", "id": tool_id, "name": name, "input": input})
        self.reply(Reply(content=content, stop_reason="tool_use", **kw))
        return tool_id

    def reply_tool_uses(self, calls: list[tuple[str, dict]], **kw) -> list[str]:
        content = [{"type": "tool_use", "id": _tool_id(), "name": n, "input": i} for n, i in calls]
        self.reply(Reply(content=content, stop_reason="tool_use", **kw))
        return [c["id"] for c in content]

    def reply_error(self, status: int, message: str = "", error_type: str | None = None, **kw) -> None:
        self.reply(
            Reply(
                error_status=status,
                error_type=error_type or ERROR_TYPES.get(status, "api_error"),
                error_message=message or f"fake error {status}",
                **kw,
            )
        )

    @property
    def message_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.is_messages]

    # --- lifecycle

    def _handler(self) -> type:
        return _make_handler(self)

    # --- answering

    def _next_reply(self, body: dict) -> Reply:
        with self._lock:
            item = self.replies.popleft() if self.replies else None
        if item is None:
            return default_responder(body, self.default_text)
        return item(body) if callable(item) else item

    def _usage(self, body: dict, reply: Reply) -> dict:
        if reply.usage:
            return dict(reply.usage)
        prompt = json.dumps(body.get("messages", [])) + json.dumps(body.get("system", ""))
        out = json.dumps(reply.content)
        return {"input_tokens": max(1, len(prompt) // 4), "output_tokens": max(1, len(out) // 4)}


def _make_handler(fake: FakeAnthropic):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output quiet
            pass

        def _record(self, body: Any) -> RecordedRequest:
            parts = urlsplit(self.path)
            req = RecordedRequest(
                self.command, parts.path, parts.query, {k.lower(): v for k, v in self.headers.items()}, body
            )
            with fake._lock:
                fake.requests.append(req)
            return req

        def _read_body(self) -> Any:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not raw:
                return None
            try:
                return json.loads(raw)
            except ValueError:
                return raw.decode("utf-8", "replace")

        def _send_json(self, status: int, payload: dict, extra: dict | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("request-id", "req_" + uuid.uuid4().hex[:16])
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _send_error(self, status: int, error_type: str, message: str) -> None:
            extra = {"x-should-retry": "false"}
            if status == 429:
                extra["retry-after"] = "0"
            self._send_json(status, {"type": "error", "error": {"type": error_type, "message": message}}, extra)

        def do_GET(self):
            self._record(None)
            self._send_error(404, "not_found_error", f"no such endpoint {self.path}")

        def do_HEAD(self):
            self._record(None)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_POST(self):
            body = self._read_body()
            req = self._record(body)
            if fake.api_key is not None:
                if req.api_key != fake.api_key:
                    return self._send_error(401, "authentication_error", "invalid x-api-key")
            if req.path == "/v1/messages/count_tokens":
                tokens = max(1, len(json.dumps(body)) // 4)
                return self._send_json(200, {"input_tokens": tokens})
            if req.path != "/v1/messages":
                return self._send_error(404, "not_found_error", f"no such endpoint {req.path}")
            if not isinstance(body, dict) or not body.get("messages"):
                return self._send_error(400, "invalid_request_error", "messages: field required")
            reply = fake._next_reply(body)
            if reply.delay and fake._stopping.wait(reply.delay):
                return  # stopped meanwhile: drop the connection
            if reply.error_status:
                return self._send_error(reply.error_status, reply.error_type or "api_error", reply.error_message)
            message = {
                "id": _msg_id(),
                "type": "message",
                "role": "assistant",
                "model": body.get("model") or fake.model,
                "content": reply.content,
                "stop_reason": reply.stop_reason,
                "stop_sequence": None,
                "usage": fake._usage(body, reply),
            }
            if body.get("stream"):
                return self._send_stream(message)
            self._send_json(200, message)

        def _send_stream(self, message: dict) -> None:
            usage = message["usage"]
            events: list[tuple[str, dict]] = []
            start = dict(
                message, content=[], stop_reason=None, usage={"input_tokens": usage["input_tokens"], "output_tokens": 1}
            )
            events.append(("message_start", {"type": "message_start", "message": start}))
            events.append(("ping", {"type": "ping"}))
            for index, block in enumerate(message["content"]):
                if block["type"] == "text":
                    events.append(
                        (
                            "content_block_start",
                            {
                                "type": "content_block_start",
                                "index": index,
                                "content_block": {"type": "text", "text": ""},
                            },
                        )
                    )
                    text = block["text"]
                    for i in range(0, max(len(text), 1), 16):
                        events.append(
                            (
                                "content_block_delta",
                                {
                                    "type": "content_block_delta",
                                    "index": index,
                                    "delta": {"type": "text_delta", "text": text[i : i + 16]},
                                },
                            )
                        )
                elif block["type"] == "tool_use":
                    events.append(
                        (
                            "content_block_start",
                            {
                                "type": "content_block_start",
                                "index": index,
                                "content_block": {
                                    "type": "tool_use",
                                    "id": block["id"],
                                    "name": block["name"],
                                    "input": {},
                                },
                            },
                        )
                    )
                    raw = json.dumps(block["input"])
                    for i in range(0, len(raw), 12):
                        events.append(
                            (
                                "content_block_delta",
                                {
                                    "type": "content_block_delta",
                                    "index": index,
                                    "delta": {"type": "input_json_delta", "partial_json": raw[i : i + 12]},
                                },
                            )
                        )
                else:  # pass other blocks through whole
                    events.append(
                        ("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})
                    )
                events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
            events.append(
                (
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                        "usage": {"output_tokens": usage["output_tokens"]},
                    },
                )
            )
            events.append(("message_stop", {"type": "message_stop"}))
            data = "".join(f"event: {name}\ndata: {json.dumps(payload)}\n\n" for name, payload in events).encode()
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("content-length", str(len(data)))
            self.send_header("request-id", "req_" + uuid.uuid4().hex[:16])
            self.end_headers()
            self.wfile.write(data)

    return Handler


if __name__ == "__main__":  # run it by hand: python -m tests.fakes.fake_anthropic
    server = FakeAnthropic().start()
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
