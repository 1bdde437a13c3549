"""The agent host: one process that has imported the LLM stack (langgraph, the
``zerg_site.llm`` providers, anthropic, httpx) once and forks a child per ``agent`` job
(``commis.backends.agent_child``).

Why: a fresh interpreter with anthropic + langgraph costs ~110 MB of PSS, and so did the
same imports in each django-q worker. Forked from this host after ``gc.freeze()``, the
children share those pages copy-on-write; each job only pays for what it touches. The
workers themselves never import the LLM libraries.

    python -m commis.backends.agent_host SOCKET [--postgres]

Started on demand by the first agent job (``commis.backends.agent.connect``), in its
own session, dying with the worker that started it (PR_SET_PDEATHSIG); it exits after
IDLE_EXIT seconds without children, so an idle server is back to its idle memory. One
host per ZERG_HOME (a flock beside the socket). The socket lives in a 0700 directory.

Per connection: fork; the child makes its own session (so the worker's cancel kills its
process group), takes the connection as fd 0/1/2 and runs ``agent_child.serve_one``. The
host never reads the connection itself, and a child outlives the host if it must.
"""

from __future__ import annotations

import fcntl
import gc
import json
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import time

IDLE_EXIT = 30.0  # seconds without a child before the host exits


def connectable(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _lock(path: str, wait: float = 60.0):
    """The host lock, or None when another live host answers on ``path``."""
    fh = open(path + ".lock", "a")
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fh
        except BlockingIOError:
            if connectable(path) or time.monotonic() > deadline:
                fh.close()
                return None
            time.sleep(0.1)


def preload(postgres: bool) -> None:
    # lazy on purpose: this is the preload. Importing this module loads no LLM module
    # (tests/commis/test_backend_agent.py); the host pays for the stack once (~130 MB RSS with Django-free
    # Zerg modules, ~4,500 modules), its forked children share the pages
    import anthropic  # noqa: F401
    import httpx  # noqa: F401 - the OpenAI-compatible provider's client: +5 MB here, once, not in each child
    import langgraph.checkpoint.sqlite  # noqa: F401

    import commis.agent.graph  # noqa: F401
    import commis.agent.tools  # noqa: F401
    import commis.backends.agent_child  # noqa: F401
    import commis.backends.streamjson  # noqa: F401
    import zerg_site.llm.anthropic
    import zerg_site.llm.openai  # noqa: F401
    from commis.backends.agent_child import ssl_context

    ssl_context()

    if postgres:
        try:
            import langgraph.checkpoint.postgres  # noqa: F401
        except ImportError:
            pass


def _sse(content: list[dict], stop_reason: str) -> bytes:
    """A streamed Messages API answer (the events the SDK parses), for the warm-up."""
    message = {
        "id": "msg_warmup",
        "type": "message",
        "role": "assistant",
        "model": "warm-up",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    events = [("message_start", {"type": "message_start", "message": message})]
    for index, block in enumerate(content):
        if block["type"] == "text":
            start, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": block["text"]}
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events += [
            ("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}),
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    events += [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": 2},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()


def warm_up() -> None:
    """One whole agent run here, against an in-process mock of the Messages API: the lazy
    imports, validators and caches a job needs are then built once, in pages every child
    shares, instead of once per child (that halves what a child adds)."""
    # lazy: the LLM stack, loaded by preload() before this runs
    import httpx2

    from commis.backends.agent_child import run
    from zerg_site.llm.anthropic import AnthropicProvider

    def answer(request):
        body = json.loads(request.content)
        if len(body["messages"]) == 1:
            data = _sse(
                [
                    {"type": "text", "text": "Looking."},
                    {"type": "tool_use", "id": "toolu_warmup", "name": "list_dir", "input": {}},
                ],
                "tool_use",
            )
        else:
            data = _sse([{"type": "text", "text": "Done."}], "end_turn")
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=data)

    class Quiet:
        def emit(self, event):
            pass

        def should_stop(self):
            return None

        def run_subprocess(self, argv, cwd, timeout=None, env=None):
            return 0, ""

    folder = tempfile.mkdtemp(prefix="zerg-agent-warmup-")
    try:
        http_client = httpx2.Client(transport=httpx2.MockTransport(answer))
        provider = AnthropicProvider(
            api_key="warm-up",
            model="warm-up",
            base_url="http://warm-up.invalid",
            max_retries=0,
            http_client=http_client,
        )
        spec = {
            "thread_id": "warm-up",
            "task": "warm up",
            "workspace": folder,
            "model": "warm-up",
            "max_steps": 3,
            "max_tokens": 64,
            "max_retries": 0,
            "request_timeout": 10,
            "api_key": "warm-up",
            "checkpoint": {"sqlite": os.path.join(folder, "checkpoints.db")},
        }
        outcome = run(spec, Quiet(), provider=provider)
        http_client.close()
        if outcome.status != "succeeded":
            raise RuntimeError(outcome.summary)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _child(conn: socket.socket, server: socket.socket, lock) -> None:
    try:
        server.close()
        lock.close()  # a child that outlives the host must not keep the next host from starting
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.setsid()
        for fd in (0, 1, 2):
            os.dup2(conn.fileno(), fd)
        conn.close()
        from commis.backends.agent_child import serve_one  # lazy: preloaded (see preload())

        code = serve_one(0)
    except BaseException:  # noqa: BLE001 - never return into the host's loop
        code = 70
    os._exit(code)


def serve(path: str, postgres: bool = False) -> int:
    lock = _lock(path)
    if lock is None:
        return 0
    preload(postgres)
    try:
        warm_up()
    except Exception as exc:  # noqa: BLE001 - only memory is at stake: say so and go on
        print(
            f"agent host: the warm-up run failed ({exc.__class__.__name__}: {exc}); children will "
            "build what it would have",
            file=sys.stderr,
            flush=True,
        )
    gc.collect()
    gc.freeze()  # the collector must not write to the shared pages in every child
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o600)
    server.listen(32)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    children: set[int] = set()
    idle_since = time.monotonic()
    while not stopping:
        try:
            ready, _, _ = select.select([server], [], [], 0.5)
        except InterruptedError:
            ready = []
        while children:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                children.clear()
                break
            if not pid:
                break
            children.discard(pid)
        if ready:
            conn, _ = server.accept()
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(conn, server, lock)
            conn.close()
            children.add(pid)
        now = time.monotonic()
        if children or ready:
            idle_since = now
        elif now - idle_since > IDLE_EXIT:
            break
    os.unlink(path)  # new connections fail now and start a new host; take what is queued
    server.setblocking(False)
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            break
        if os.fork() == 0:
            _child(conn, server, lock)
        conn.close()
    server.close()
    lock.close()
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(serve(args[0], postgres="--postgres" in args[1:]))
