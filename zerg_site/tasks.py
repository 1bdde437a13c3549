"""Worker tasks of the site itself."""

import os

from zerg_site.events import publish


def ping(task_id: str) -> int:
    """Publish ``worker.pong`` from inside a worker, proving the queue and the event path."""
    return publish("system", "worker.pong", {"task_id": task_id, "worker_pid": os.getpid()}).id
