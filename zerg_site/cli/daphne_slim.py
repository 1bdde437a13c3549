"""``daphne.server.Server`` without the optional modules `zerg serve` never uses: a memory trick.

Measured by ``bench/idle_memory.py`` (PSS of `zerg serve` and its whole process tree; bench/README.md,
"Where the idle memory goes", 2026-11-26): 151-156 MB with this module against 165-170 MB without
it in interleaved runs; `zerg serve` alone 72-75 MB PSS (84 MB RSS, was 97). Keep it only while
that bench shows the difference.

Daphne's stack imports these when they are installed, under ``try/except ImportError``, and
`zerg serve` never uses them: Twisted's TLS (pyOpenSSL, with service_identity; daphne listens on a
plain socket, TLS is the reverse proxy's job), autobahn's coloured log text (click) and autobahn's
WAMP FlatBuffers (cbor2; daphne speaks WebSocket, not WAMP). Together ~7 MB of the idle server.

Importing ``daphne.server`` installs Twisted's asyncio reactor: call :func:`daphne_server_class`
before anything imports channels' application (``zerg_site.asgi``) or ``zerg_site.bodylimit``.
"""

from __future__ import annotations

import importlib.util
import sys

UNUSED_OPTIONAL = ("OpenSSL", "click", "cbor2")
# Loaded on first attribute access instead (importlib.util.LazyLoader): autobahn's WAMP
# challenge-response auth, whose import loads cryptography's Rust extension (~6 MB resident).
# Only a WAMP client session uses it; daphne never does.
LAZY = ("autobahn.wamp.auth",)


def lazy_module(name: str) -> None:
    """Put a module into ``sys.modules`` that runs its code when first used (stdlib recipe)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


def daphne_server_class():
    """``daphne.server.Server``, imported while the modules above look absent.

    They are hidden only during this import: anything that imports them later gets them.
    """
    hidden = [name for name in UNUSED_OPTIONAL if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # `import name` raises ImportError
    try:
        for name in LAZY:
            lazy_module(name)
        # lazy: installs Twisted's reactor and is the trick's whole point (daphne.server ~0.4 s,
        # +41 MB RSS measured alone); only `zerg serve` needs it, after the masking above.
        from daphne.server import Server
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return Server
