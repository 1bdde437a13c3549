"""Anthropic through the ``anthropic`` SDK: streamed, with tool use and prompt caching.

Used by both agent loops (Oikos's turns and the commis ``agent`` backend).

The system prompt and the tool list are the same on every call of a thread, so both are
marked ``cache_control: ephemeral`` (one breakpoint after the tools, one after the system
prompt); so is the newest message, so the next call of a turn reads the conversation so
far from the cache. Imported only when a model call is near (the SDK is heavy).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import anthropic

from zerg_site.llm.base import ModelReply, Provider, ProviderError, Stopped

USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
CACHE = {"type": "ephemeral"}


def _block(block) -> dict:
    data = block.model_dump(exclude_none=True) if hasattr(block, "model_dump") else dict(block)
    if data.get("type") == "text":
        return {"type": "text", "text": data.get("text", "")}
    if data.get("type") == "tool_use":
        return {"type": "tool_use", "id": data["id"], "name": data["name"], "input": data.get("input") or {}}
    return data


def with_cache_marks(system: str, messages: list[dict], tools: list[dict]) -> tuple[list, list, list]:
    """Copies of the request parts with cache breakpoints (the caller's lists are not touched)."""
    system_blocks = [{"type": "text", "text": system, "cache_control": CACHE}] if system else []
    tools = [dict(t) for t in tools]
    if tools:
        tools[-1]["cache_control"] = CACHE
    messages = [dict(m) for m in messages]
    if messages:
        last = messages[-1]
        content = last.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}] if content else []
        content = [dict(b) for b in content or []]
        if content and content[-1].get("type") in ("text", "tool_result"):
            content[-1]["cache_control"] = CACHE
        last["content"] = content or last.get("content")
    return system_blocks, messages, tools


class AnthropicProvider(Provider):
    name = "anthropic"

    def __init__(
        self,
        api_key: str,
        model: str,
        max_retries: int = 2,
        timeout: float = 600.0,
        base_url: str | None = None,
        http_client=None,
        ssl_context=None,
    ):
        """``base_url``: else ANTHROPIC_BASE_URL, else the SDK's. ``http_client``: an SDK-compatible
        client to use (the agent host's warm-up passes a mock); ``ssl_context``: the TLS context
        for the SDK's own client (the agent host shares one with every child it forks)."""
        self.model = model
        if http_client is None and ssl_context is not None:
            http_client = anthropic.DefaultHttpxClient(verify=ssl_context)
        self.client = anthropic.Anthropic(
            api_key=api_key,
            base_url=base_url or os.environ.get("ANTHROPIC_BASE_URL") or None,
            max_retries=max_retries,
            timeout=timeout,
            http_client=http_client,
        )
        self.base_url = str(self.client.base_url)

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
        system_blocks, messages, tools = with_cache_marks(system, messages, tools)
        kwargs = {"model": self.model, "max_tokens": max_tokens, "messages": messages}
        if system_blocks:
            kwargs["system"] = system_blocks
        if tools:
            kwargs["tools"] = tools
        try:
            with self.client.messages.stream(**kwargs) as stream:
                for event in stream:
                    if should_stop is not None and should_stop():
                        raise Stopped("stopped while the model was answering")
                    if event.type == "content_block_delta" and getattr(event.delta, "type", "") == "text_delta":
                        on_text(event.delta.text)
                response = stream.get_final_message()
        except anthropic.AuthenticationError as exc:
            raise ProviderError(
                f"the Anthropic API refused the key ({exc.status_code}): check "
                "ANTHROPIC_API_KEY / [llm] anthropic_api_key"
            ) from None
        except anthropic.APIConnectionError as exc:
            raise ProviderError(f"cannot reach the Anthropic API at {self.client.base_url}: {exc}") from None
        except anthropic.APIStatusError as exc:
            raise ProviderError(f"Anthropic API error {exc.status_code}: {exc.message}") from None
        usage = {}
        if getattr(response, "usage", None) is not None:
            raw = response.usage.model_dump()
            usage = {k: raw.get(k) or 0 for k in USAGE_KEYS if isinstance(raw.get(k) or 0, int)}
        return ModelReply(
            content=[_block(b) for b in response.content],
            stop_reason=response.stop_reason or "",
            usage=usage,
            model=response.model or self.model,
        )
