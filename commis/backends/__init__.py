"""The backend registry: name -> dotted path of a :class:`commis.backends.base.Backend` subclass.

Backends are imported lazily (the agent backend pulls in langgraph), and a fresh
instance is made per attempt: ``get_backend("shell")``.
"""

from __future__ import annotations

from importlib import import_module

from commis.backends.base import Backend, BackendUnavailable, JobEvent, Outcome  # noqa: F401

BACKENDS: dict[str, str] = {
    "shell": "commis.backends.shell.ShellBackend",
    "claude": "commis.backends.claude.ClaudeBackend",
    "codex": "commis.backends.codex.CodexBackend",
    "agent": "commis.backends.agent.AgentBackend",
}


def names() -> list[str]:
    return list(BACKENDS)


def get_backend(name: str) -> Backend:
    """A new backend instance; BackendUnavailable if it is unknown or cannot be imported."""
    path = BACKENDS.get(name)
    if path is None:
        raise BackendUnavailable(f"unknown backend {name!r} (known: {', '.join(BACKENDS)})")
    module_name, _, cls_name = path.rpartition(".")
    try:
        cls = getattr(import_module(module_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise BackendUnavailable(f"backend {name!r} is not available: {exc}") from exc
    return cls()


def availability(name: str) -> dict:
    """``{"name", "available", "reason", "fix"}`` of one backend: whether it can run here at all (its
    ``probe``: the CLI on PATH, a model configured), what "New job" and the spawn API go by."""
    try:
        get_backend(name).probe()
    except BackendUnavailable as exc:
        return {"name": name, "available": False, "reason": exc.reason, "fix": exc.fix}
    return {"name": name, "available": True, "reason": "", "fix": ""}


def unavailable(name: str) -> str:
    """ "" if backend ``name`` can run here, else why not and the fix, as one sentence for a 400."""
    found = availability(name)
    if found["available"]:
        return ""
    return f"the {name} backend cannot run: {found['reason']}" + (f" ({found['fix']})" if found["fix"] else "")
