"""Any OpenAI-compatible ``/v1/chat/completions`` endpoint (Ollama, vLLM, llama.cpp, ...).

For owners who run their own models, in the chat and in ``agent`` jobs alike. Spoken with plain
``httpx`` rather than the ``openai`` SDK: one streamed POST is all we need, and every
"compatible" server bends the SDK's expectations somewhere. Both agent loops keep
Anthropic-format messages, tools and reply blocks everywhere, so this module converts on the
way out (messages, tools) and back (text and ``tool_use`` blocks, usage with cached tokens
split out as Anthropic counts them).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

from zerg_site.llm.base import ModelReply, Provider, ProviderError, Stopped
from zerg_site.safejson import json_value  # model output: depth-limited

# finish_reason -> Anthropic stop_reason
STOP_REASONS = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 300.0  # between two chunks: a local model may think for a long time before its first token


def chat_url(base_url: str) -> str:
    """The completions URL for a base URL given with or without ``/v1`` (or already complete)."""
    base = base_url.strip().rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    last = base.rsplit("/", 1)[-1]
    if last[:1] == "v" and last[1:].isdigit():  # .../v1, .../openai/v1
        return base + "/chat/completions"
    return base + "/v1/chat/completions"


# --- Anthropic format -> OpenAI chat format


def _text(content: Any) -> str:
    """The text of a string or a list of Anthropic content blocks."""
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(block.get("text", ""))
        elif isinstance(block, str):
            parts.append(block)
    return "\n".join(parts)


def _user_parts(blocks: list[dict]) -> str | list[dict]:
    """Text (and base64 images) of a user message, as OpenAI content."""
    parts: list[dict] = []
    for block in blocks:
        if block.get("type") == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif block.get("type") == "image" and (block.get("source") or {}).get("type") == "base64":
            src = block["source"]
            url = f"data:{src.get('media_type', 'image/png')};base64,{src.get('data', '')}"
            parts.append({"type": "image_url", "image_url": {"url": url}})
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def to_openai_messages(system: str | list | None, messages: list[dict]) -> list[dict]:
    """Anthropic ``system`` + ``messages`` -> OpenAI chat messages.

    Tool results (inside a user turn in Anthropic's format) become ``role: tool`` messages
    placed right after the assistant's ``tool_calls``, as the OpenAI format requires.
    """
    out: list[dict] = []
    system_text = _text(system) if system else ""
    if system_text:
        out.append({"role": "system", "content": system_text})
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
            continue
        blocks = [b for b in content or [] if isinstance(b, dict)]
        if role == "assistant":
            text = _text(blocks)
            calls = [
                {
                    "id": b.get("id") or _call_id(),
                    "type": "function",
                    "function": {"name": b.get("name", ""), "arguments": json.dumps(b.get("input") or {})},
                }
                for b in blocks
                if b.get("type") == "tool_use"
            ]
            item: dict = {"role": "assistant", "content": text or None}
            if calls:
                item["tool_calls"] = calls
            out.append(item)
            continue
        for block in blocks:
            if block.get("type") == "tool_result":
                result = _text(block.get("content"))
                if block.get("is_error"):
                    result = "Error: " + result
                out.append({"role": "tool", "tool_call_id": block.get("tool_use_id", ""), "content": result})
        rest = [b for b in blocks if b.get("type") in ("text", "image")]
        if rest:
            out.append({"role": role or "user", "content": _user_parts(rest)})
    return out


def to_openai_tools(tools: list[dict]) -> list[dict]:
    return [
        {
            "type": "function",
            "function": {
                "name": t["name"],
                "description": t.get("description", ""),
                "parameters": t.get("input_schema") or {"type": "object", "properties": {}},
            },
        }
        for t in tools
    ]


def _call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


# --- the streamed reply -> Anthropic blocks


class _Reply:
    """Accumulates streamed chunks: text, tool calls by index, finish reason, usage."""

    def __init__(self, model: str):
        self.model = model
        self.text: list[str] = []
        self.calls: dict[int, dict] = {}
        self.finish: str | None = None
        self.usage: dict = {}
        self.done = False

    def add(self, chunk: dict, on_text: Callable[[str], None]) -> None:
        if not isinstance(chunk, dict):
            raise ProviderError(f"the model server sent a malformed stream chunk: {str(chunk)[:200]}")
        if chunk.get("error"):
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise ProviderError(f"the model server reported an error mid-stream: {message}")
        self.model = chunk.get("model") or self.model
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.text.append(delta["content"])
                on_text(delta["content"])
            for call in delta.get("tool_calls") or []:
                slot = self.calls.setdefault(call.get("index", len(self.calls)), {"id": "", "name": "", "args": []})
                function = call.get("function") or {}
                slot["id"] = slot["id"] or call.get("id") or ""
                slot["name"] += function.get("name") or ""
                if function.get("arguments"):
                    # Some servers send the whole arguments object, not a string.
                    args = function["arguments"]
                    slot["args"].append(args if isinstance(args, str) else json.dumps(args))
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]

    def result(self) -> ModelReply:
        content: list[dict] = []
        text = "".join(self.text)
        if text:
            content.append({"type": "text", "text": text})
        for index in sorted(self.calls):
            call = self.calls[index]
            raw = "".join(call["args"]).strip() or "{}"
            try:
                args = json_value(raw)
            except ValueError:
                raise ProviderError(
                    f"the model sent invalid JSON arguments for tool {call['name']!r}: {raw[:200]}"
                ) from None
            if not isinstance(args, dict):
                raise ProviderError(f"the model sent non-object arguments for tool {call['name']!r}: {raw[:200]}")
            content.append({"type": "tool_use", "id": call["id"] or _call_id(), "name": call["name"], "input": args})
        if self.finish == "length":
            stop = "max_tokens"
        elif any(b["type"] == "tool_use" for b in content):
            stop = "tool_use"  # Ollama answers finish_reason "stop" even with tool calls
        else:
            stop = STOP_REASONS.get(self.finish or "stop", self.finish or "end_turn")
        usage = self.usage or {}
        cached = int(((usage.get("prompt_tokens_details") or {}).get("cached_tokens")) or 0)
        return ModelReply(
            content=content,
            stop_reason=stop,
            usage={
                "input_tokens": max(0, int(usage.get("prompt_tokens") or 0) - cached),
                "output_tokens": int(usage.get("completion_tokens") or 0),
                "cache_read_input_tokens": cached,
                "cache_creation_input_tokens": 0,
            },
            model=self.model,
        )


def _error_message(status: int, raw: bytes) -> str:
    """The server's own error text (OpenAI ``{"error": {"message"}}``, Ollama ``{"error": "..."}``, ...)."""
    detail = raw.decode("utf-8", "replace").strip()
    try:
        data = json_value(detail)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message")))
        if isinstance(error, dict):
            error = error.get("message") or json.dumps(error)
        if error:
            detail = str(error)
    hint = {
        401: " (check [llm] openai_api_key)",
        403: " (check [llm] openai_api_key)",
        404: " (check [llm] openai_base_url and model)",
    }.get(status, "")
    return f"HTTP {status}{hint}: {detail[:500] or 'no details'}"


_client = None
_client_lock = threading.Lock()


def _shared_client(ssl_context=None):
    """One httpx client for every call: building one (its SSL context) costs ~100 ms, and a
    provider is made per turn. httpx clients are thread-safe; timeouts are set per request.
    ``ssl_context``: the TLS context to build it with (the agent host's shared one)."""
    global _client
    import httpx  # lazy: +18 MB RSS / 0.1 s measured alone, loaded only when a model is called

    with _client_lock:
        if _client is None:
            verify = ssl_context if ssl_context is not None else True
            _client = httpx.Client(timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT), verify=verify)
        return _client


class OpenAIProvider(Provider):
    name = "openai"

    def __init__(self, base_url: str, api_key: str | None = None, model: str = "", ssl_context=None):
        if not base_url:
            raise ProviderError("[llm] openai_base_url is empty")
        self.base_url = base_url
        self.ssl_context = ssl_context
        self.url = chat_url(base_url)
        self.api_key = api_key or ""
        self.model = model or "default"

    def request_body(self, *, system, messages, tools, max_tokens) -> dict:
        body = {
            "model": self.model,
            "messages": to_openai_messages(system, messages),
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            body["tools"] = to_openai_tools(tools)
        return body

    def stream(
        self,
        *,
        system: str,
        messages: list[dict],
        tools: list[dict],
        max_tokens: int,
        on_text: Callable[[str], None],
        should_stop: Callable[[], bool] | None = None,
    ) -> ModelReply:
        import httpx  # lazy: see _shared_client()

        body = self.request_body(system=system, messages=messages, tools=tools, max_tokens=max_tokens)
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        reply = _Reply(self.model)
        stopped = False
        where = f"the model server at {self.url}"
        try:
            with _shared_client(self.ssl_context).stream("POST", self.url, json=body, headers=headers) as response:
                if response.status_code >= 400:
                    raise ProviderError(f"{where} answered {_error_message(response.status_code, response.read())}")
                for line in response.iter_lines():
                    if should_stop is not None and should_stop():
                        stopped = True
                        break
                    line = line.strip()
                    if not line.startswith("data:"):
                        continue  # blank separators, ": keep-alive" comments, "event:" lines
                    data = line[5:].strip()
                    if data == "[DONE]":
                        reply.done = True
                        break
                    try:
                        chunk = json_value(data)
                    except ValueError:
                        raise ProviderError(f"{where} sent a malformed stream chunk: {data[:200]}") from None
                    reply.add(chunk, on_text)
        except httpx.ConnectError as exc:
            raise ProviderError(f"cannot reach {where} ({exc}); is it running? (check [llm] openai_base_url)") from None
        except httpx.TimeoutException:
            raise ProviderError(f"{where} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"the connection to {where} failed: {exc or type(exc).__name__}") from None
        if stopped:  # as the Anthropic provider: the caller lost the turn, nothing may be recorded
            raise Stopped("stopped while the model was answering")
        if not reply.done and reply.finish is None:
            raise ProviderError(f"{where} ended the stream before the reply was complete")
        return reply.result()
