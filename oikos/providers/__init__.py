"""Which model Oikos talks to, from ``[llm]`` in the config (see the contract in base.py).

``openai_base_url`` set -> any OpenAI-compatible endpoint; else an Anthropic key -> Anthropic;
else None: the chat still answers slash commands and says how to configure a model.
The provider modules (and their SDKs) are imported only here, when a turn needs one.
"""

from __future__ import annotations

DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-6"
HOW_TO_CONFIGURE = (
    "No model is configured, so I can only run slash commands (/help lists them). To chat, set "
    "ANTHROPIC_API_KEY (or anthropic_api_key under [llm] in $ZERG_HOME/config.toml), or point "
    "[llm] openai_base_url (OPENAI_BASE_URL) at an OpenAI-compatible endpoint such as Ollama or vLLM, "
    "optionally with [llm] model (ZERG_MODEL); then restart zerg serve."
)


def _config():
    from django.conf import settings

    return settings.ZERG


def configured(config=None) -> bool:
    """Whether a model is configured (cheap: imports nothing)."""
    config = config or _config()
    return bool(config.openai_base_url or config.anthropic_api_key)


_cache: dict[tuple, object] = {}


def get_provider(config=None):
    """The configured Provider, or None when no model is configured. One per configuration and
    process: making an SDK client costs ~0.1 s (TLS setup), too much for every turn."""
    import os

    config = config or _config()
    key = (config.openai_base_url, config.openai_api_key, config.anthropic_api_key, config.model,
           os.environ.get("ANTHROPIC_BASE_URL", ""))
    if key not in _cache:
        _cache.clear()
        _cache[key] = _make(config)
    return _cache[key]


def _make(config):
    if config.openai_base_url:
        from oikos.providers.openai import OpenAIProvider

        return OpenAIProvider(config.openai_base_url, api_key=config.openai_api_key or None, model=config.model)
    key = config.anthropic_api_key  # already holds ANTHROPIC_API_KEY (config precedence)
    if key:
        from oikos.providers.anthropic import AnthropicProvider

        return AnthropicProvider(api_key=key, model=config.model or DEFAULT_ANTHROPIC_MODEL)
    return None
