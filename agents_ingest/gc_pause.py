"""No cyclic garbage collection while an ingest runs: a speed trick, kept apart from the ingest.

Measured with ``bench/ingest.py`` (a real `zerg serve` fed 1 GB of replicated sessions;
bench/README.md, "Ingest, second pass"): with the collector on, its full passes over the
server's heap took ~10 % of the ingest's time (py-spy). The pause was one change of that pass
(4,050 -> 7,278 events/s, back to back). In a bare script the heap is small and the pause buys
nothing; it pays only in the server. Remove it when that bench no longer shows the difference.
"""

from __future__ import annotations

import contextlib
import gc
import threading

__all__ = ["gc_paused"]

_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = True


@contextlib.contextmanager
def gc_paused():
    """No cyclic garbage collection while a request is parsed and stored (reentrant, thread-safe).

    An ingest allocates tens of thousands of containers that live until it ends, so the collector
    ran its full passes over the whole server's heap again and again. Reference counting still
    frees what the ingest drops; cycles wait for the next collection after it.
    """
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
        _gc_pausers += 1
        gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()
