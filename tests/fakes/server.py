"""What the fake model APIs share: the scripted reply queue, the recorded requests and the local
HTTP server's lifecycle (a thread per request, on 127.0.0.1 and a free port)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any


class FakeServer:
    thread_name = "fake-api"

    def __init__(self, *, api_key: str | None, default_text: str, model: str):
        self.api_key = api_key  # when set, other keys get a 401
        self.default_text = default_text
        self.model = model
        self.replies: deque[Any | Callable[[dict], Any]] = deque()
        self.requests: list = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._stopping = threading.Event()

    def reply(self, reply: Any | Callable[[dict], Any]) -> None:
        with self._lock:
            self.replies.append(reply)

    def _handler(self) -> type:  # pragma: no cover - each fake builds its own
        raise NotImplementedError

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a reply still in its delay must not hold up stop()
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
