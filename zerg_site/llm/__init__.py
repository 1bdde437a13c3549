"""Which model Zerg talks to, from ``[llm]`` in the config (see the contract in base.py).

One model layer for both agent loops: Oikos's chat turns and the commis ``agent`` backend.
``openai_base_url`` set -> any OpenAI-compatible endpoint (Ollama, vLLM, ...); else an
Anthropic key -> Anthropic; else None: the chat still answers slash commands and says how
to configure a model, and an ``agent`` job fails at once saying the same.
The provider modules (and their SDKs) are imported only in ``make_provider``, when a model
call is near: the django-q workers and an idle ``zerg serve`` never load them.
No Django here either (``settings`` is read only when no config is given): the agent's
child process builds its provider from the job spec.
"""

from __future__ import annotations

import os

DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-6"
DEFAULT_OPENAI_MODEL = "default"  # what an OpenAI-compatible server gets when [llm] model is empty
HOW_TO_CONFIGURE = (
    "No model is configured, so I can only run slash commands (/help lists them). To chat, set "
    "ANTHROPIC_API_KEY (or anthropic_api_key under [llm] in $ZERG_HOME/config.toml), or point "
    "[llm] openai_base_url (OPENAI_BASE_URL) at an OpenAI-compatible endpoint such as Ollama or vLLM, "
    "optionally with [llm] model (ZERG_MODEL); then restart zerg serve."
)


def _config():
    from django.conf import settings  # lazy: the agent child uses this package without Django

    return settings.ZERG


def configured(config=None) -> bool:
    """Whether a model is configured (cheap: imports nothing)."""
    config = config or _config()
    return bool(config.openai_base_url or config.anthropic_api_key)


def choice(config=None) -> dict | None:
    """The configured provider as plain data (``kind``, ``base_url``, ``api_key``, ``model``), or None.

    Plain data so it can travel in an agent job's spec to a process without Django; an
    empty ``model`` means the provider's default. ``openai_base_url`` wins over an Anthropic key.
    """
    config = config or _config()
    if config.openai_base_url:
        return {
            "kind": "openai",
            "base_url": config.openai_base_url,
            "api_key": config.openai_api_key or "",
            "model": config.model or "",
        }
    if config.anthropic_api_key:  # already holds ANTHROPIC_API_KEY (config precedence)
        return {
            "kind": "anthropic",
            "base_url": os.environ.get("ANTHROPIC_BASE_URL", ""),
            "api_key": config.anthropic_api_key,
            "model": config.model or "",
        }
    return None


def default_model(kind: str) -> str:
    return DEFAULT_OPENAI_MODEL if kind == "openai" else DEFAULT_ANTHROPIC_MODEL


def make_provider(kind: str, *, api_key: str = "", base_url: str = "", model: str = "", **options):
    """A Provider of ``kind`` ("anthropic" or "openai"). ``options``: the Anthropic SDK's
    ``max_retries``, ``timeout`` and ``http_client``; ``ssl_context`` for either (the agent
    host makes one before it forks, so every child shares it)."""
    model = model or default_model(kind)
    if kind == "openai":
        # lazy: the providers bring the LLM clients (httpx +18 MB RSS / 0.1 s; anthropic +78 MB / 0.8 s,
        # measured alone); this package is imported by processes that never call a model
        from zerg_site.llm.openai import OpenAIProvider

        return OpenAIProvider(base_url, api_key=api_key or None, model=model, ssl_context=options.get("ssl_context"))
    if kind == "anthropic":
        from zerg_site.llm.anthropic import AnthropicProvider  # lazy: see above

        return AnthropicProvider(api_key=api_key, model=model, base_url=base_url or None, **options)
    # lazy: `import commis.backends.agent` (which imports this package) loads no provider module
    # (tests/commis/test_backend_agent.py)
    from zerg_site.llm.base import ProviderError

    raise ProviderError(f"unknown model provider {kind!r} (anthropic or openai)")


_cache: dict[tuple, object] = {}


def get_provider(config=None):
    """The configured Provider, or None when no model is configured. One per configuration and
    process: making an SDK client costs ~0.1 s (TLS setup), too much for every turn."""
    picked = choice(config)
    if picked is None:
        return None
    key = tuple(sorted(picked.items()))
    if key not in _cache:
        _cache.clear()
        _cache[key] = make_provider(picked.pop("kind"), **picked)
    return _cache[key]
