"""The provider interface both agent loops talk to (Oikos's turns, the commis ``agent``
backend): one streamed model call, Anthropic-format in and out.

Messages, tools and reply blocks use the Anthropic Messages API shapes everywhere, so the
graphs, their checkpoints and the stored threads never depend on which vendor answered;
each provider converts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


class ProviderError(Exception):
    """A model call failed; the message is meant for the owner (no traceback needed)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Stopped(ProviderError):
    """``should_stop()`` said so while the reply streamed: the partial reply is dropped."""


@dataclass
class ModelReply:
    content: list[dict]  # {"type": "text", "text"} / {"type": "tool_use", "id", "name", "input"}
    stop_reason: str  # "end_turn" | "tool_use" | "max_tokens" | ...
    usage: dict = field(
        default_factory=dict
    )  # input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens
    model: str = ""


class Provider:
    name: str = ""
    model: str = ""

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
        """Call the model once, passing each text delta to ``on_text``; stop early when ``should_stop()``."""
        raise NotImplementedError
