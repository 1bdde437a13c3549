"""A local HTTP server that speaks the OpenAI chat completions API (as Ollama and vLLM do), for tests.

Stdlib only (``http.server`` in a thread), like :mod:`tests.fakes.fake_anthropic`. It answers

- ``POST /v1/chat/completions``, JSON or SSE (``"stream": true``; a final usage chunk when
  ``stream_options.include_usage`` is set, then ``data: [DONE]``);
- ``GET /v1/models`` with the one model;
- anything else with a 404 in the API's error shape.

Replies come from a queue (:meth:`FakeOpenAI.reply_text`, :meth:`reply_tool_calls`,
:meth:`reply_error`, :meth:`reply_raw` for hand-written stream lines, or any callable
``request_body -> reply``); when it is empty the answer is ``default_text``. Every
request is recorded in :attr:`requests`.

    with FakeOpenAI() as server:
        server.reply_tool_calls([("read_file", {"path": "a.txt"})])
        provider = OpenAIProvider(server.url + "/v1", api_key="test", model="llama3")
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.fake_anthropic import RecordedRequest
from tests.fakes.server import FakeServer

DEFAULT_TEXT = "Done: the fake local model has finished the task."


@dataclass
class Reply:
    """One scripted answer: text and tool calls, an HTTP error, or raw stream lines."""

    text: str = ""
    tool_calls: list[dict] = field(default_factory=list)  # {"id", "name", "arguments" (a JSON string)}
    finish_reason: str | None = None  # default: "tool_calls" when there are calls, else "stop"
    error_status: int | None = None
    error_message: str = ""
    raw_lines: list[str] | None = None  # sent as the stream body verbatim (one line each, "\n\n" after)
    delay: float = 0.0  # seconds before answering
    usage: dict | None = None  # {"prompt_tokens", "completion_tokens", ...}


def _call_id() -> str:
    return "call_" + uuid.uuid4().hex[:20]


class FakeOpenAI(FakeServer):
    thread_name = "fake-openai"

    def __init__(self, *, api_key: str | None = None, default_text: str = DEFAULT_TEXT, model: str = "llama-fake"):
        super().__init__(api_key=api_key, default_text=default_text, model=model)

    # --- scripting

    def reply_text(self, text: str, **kw) -> None:
        self.reply(Reply(text=text, **kw))

    def reply_tool_calls(self, calls: list[tuple[str, dict]], *, text: str = "", **kw) -> list[str]:
        """Queue a reply with tool calls; returns their ids."""
        items = [{"id": _call_id(), "name": name, "arguments": json.dumps(args)} for name, args in calls]
        self.reply(Reply(text=text, tool_calls=items, **kw))
        return [c["id"] for c in items]

    def reply_error(self, status: int, message: str = "", **kw) -> None:
        self.reply(Reply(error_status=status, error_message=message or f"fake error {status}", **kw))

    def reply_raw(self, lines: list[str], **kw) -> None:
        self.reply(Reply(raw_lines=lines, **kw))

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/v1/chat/completions"]

    # --- lifecycle

    def _handler(self) -> type:
        return _make_handler(self)

    # --- answering

    def _next_reply(self, body: dict) -> Reply:
        with self._lock:
            item = self.replies.popleft() if self.replies else None
        if item is None:
            return Reply(text=self.default_text)
        return item(body) if callable(item) else item

    def _usage(self, body: dict, reply: Reply) -> dict:
        if reply.usage:
            return dict(reply.usage)
        prompt = max(1, len(json.dumps(body.get("messages", []))) // 4)
        completion = max(1, (len(reply.text) + len(json.dumps(reply.tool_calls))) // 4)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _make_handler(fake: FakeOpenAI):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _record(self, body: Any) -> RecordedRequest:
            parts = urlsplit(self.path)
            req = RecordedRequest(
                self.command, parts.path, parts.query, {k.lower(): v for k, v in self.headers.items()}, body
            )
            with fake._lock:
                fake.requests.append(req)
            return req

        def _send_json(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send_error(self, status: int, message: str) -> None:
            self._send_json(status, {"error": {"message": message, "type": "fake_error", "code": status}})

        def do_GET(self):
            req = self._record(None)
            if req.path == "/v1/models":
                return self._send_json(200, {"object": "list", "data": [{"id": fake.model, "object": "model"}]})
            self._send_error(404, f"no such endpoint {req.path}")

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            req = self._record(body)
            if fake.api_key is not None and req.api_key != fake.api_key:
                return self._send_error(401, "Incorrect API key provided")
            if req.path != "/v1/chat/completions":
                return self._send_error(404, f"no such endpoint {req.path}")
            if not isinstance(body, dict) or not body.get("messages"):
                return self._send_error(400, "messages: field required")
            reply = fake._next_reply(body)
            if reply.delay and fake._stopping.wait(reply.delay):
                return
            if reply.error_status:
                return self._send_error(reply.error_status, reply.error_message)
            if reply.raw_lines is not None:
                return self._send_sse("".join(line + "\n\n" for line in reply.raw_lines))
            finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
            base = {
                "id": "chatcmpl-" + uuid.uuid4().hex[:20],
                "created": int(time.time()),
                "model": body.get("model") or fake.model,
            }
            usage = fake._usage(body, reply)
            if not body.get("stream"):
                message = {"role": "assistant", "content": reply.text or None}
                if reply.tool_calls:
                    message["tool_calls"] = [
                        {
                            "id": c["id"],
                            "type": "function",
                            "function": {"name": c["name"], "arguments": c["arguments"]},
                        }
                        for c in reply.tool_calls
                    ]
                return self._send_json(
                    200,
                    dict(
                        base,
                        object="chat.completion",
                        usage=usage,
                        choices=[{"index": 0, "message": message, "finish_reason": finish}],
                    ),
                )
            self._send_sse(
                _stream_body(base, reply, finish, usage, bool((body.get("stream_options") or {}).get("include_usage")))
            )

        def _send_sse(self, text: str) -> None:
            data = text.encode()
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _stream_body(base: dict, reply: Reply, finish: str, usage: dict, include_usage: bool) -> str:
    """The SSE body: a role chunk, text in 8-character pieces, tool calls in pieces, finish, usage, [DONE]."""
    chunk = dict(base, object="chat.completion.chunk")

    def one(delta: dict, finish_reason=None, **extra) -> str:
        payload = dict(chunk, choices=[{"index": 0, "delta": delta, "finish_reason": finish_reason}], **extra)
        if include_usage:
            payload.setdefault("usage", None)
        return "data: " + json.dumps(payload) + "\n\n"

    out = [one({"role": "assistant", "content": ""})]
    for i in range(0, len(reply.text), 8):
        out.append(one({"content": reply.text[i : i + 8]}))
    for index, call in enumerate(reply.tool_calls):
        out.append(
            one(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        args = call["arguments"]
        for i in range(0, len(args), 10):
            out.append(one({"tool_calls": [{"index": index, "function": {"arguments": args[i : i + 10]}}]}))
    out.append(one({}, finish))
    if include_usage:
        out.append("data: " + json.dumps(dict(chunk, choices=[], usage=usage)) + "\n\n")
    out.append("data: [DONE]\n\n")
    return "".join(out)


if __name__ == "__main__":  # run it by hand: python -m tests.fakes.fake_openai
    server = FakeOpenAI().start()
    print(server.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
