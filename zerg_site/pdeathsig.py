"""PR_SET_PDEATHSIG: a process Linux signals when its parent dies, so a ``kill -9`` of a
worker leaves no orphan (job processes, the agent host, django-q's children).

Stdlib only: the agent child imports it without Django. Elsewhere than Linux these are
no-ops (the loops that care also poll ``getppid``).
"""

from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1

_prctl = None
if sys.platform.startswith("linux"):
    try:
        import ctypes

        _prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except OSError:
        _prctl = None


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """This process gets ``sig`` when its parent dies (safe as a ``preexec_fn``)."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, sig)


def children_die_with_parent() -> None:
    """Every process forked from here on gets SIGKILL when its parent dies."""
    if _prctl is not None:
        os.register_at_fork(after_in_child=die_with_parent)
