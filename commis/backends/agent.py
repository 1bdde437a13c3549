"""The ``agent`` backend: Zerg's built-in coding agent, run in a process of its own per job.

A langgraph graph (``commis.agent.graph``) calls the configured model through the
providers Oikos uses too (``zerg_site.llm``: Anthropic, or any OpenAI-compatible endpoint
when ``[llm] openai_base_url`` is set, e.g. Ollama or vLLM) and runs workspace-confined
tools (``commis.agent.tools``). That work happens in a child process
(``commis.backends.agent_child``) forked per job from the agent host
(``commis.backends.agent_host``, which imported the LLM stack once): the django-q worker
never imports it, and what a job loads is gone when it ends. The child is in a
process group of its own, like the CLI backends' processes, so cancel, timeout and a lost
lease kill it (even while a model call waits for its first byte); it prints JSON events
that ``on_output`` turns into JobEvents, and its outcome last.

State is checkpointed after every step (``durability="sync"``), thread id ``commis-<job id>``:

- SQLite: ``$ZERG_HOME/checkpoints.db`` (langgraph-checkpoint-sqlite, WAL);
- Postgres (the Django database is Postgres and langgraph-checkpoint-postgres is
  installed, ``pip install 'zerg[postgres]'``): the checkpoint tables live in that
  database, so any worker machine can resume the job. Without the package, the SQLite
  file is used on Postgres setups too (then only the machine holding it can resume).

A job interrupted by a restart, a cancel or a kill (attempt >= 2, or any re-run)
continues from its last checkpoint: the steps already done are not repeated (a step cut
off mid-way runs again). A job whose graph had already finished (a retry) gets a new turn
in the same conversation.

Job options: ``model`` (else ``[llm] model``, else the provider's default), ``max_steps``
(model calls, default 50), ``max_tokens``, ``max_retries`` (Anthropic SDK retries of
429/5xx/connection errors, default 2), ``request_timeout`` (Anthropic, seconds, default 600).

Cost: the child reports every model call (model, usage); the worker prices them with the
Timeline's list prices, as Oikos prices its turns (unknown for a model without a price).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata, util
from pathlib import Path

from django.conf import settings
from django.db import connection

import commis
from agents_ingest.parsers.base import json_value  # the child's output: depth-limited
from commis.agent.tools import WorkspaceTools
from commis.backends import sessionfiles
from commis.backends.agent_transcript import FILE_NAME as TRANSCRIPT
from commis.backends.base import FAILED, Backend, BackendUnavailable, JobEvent, Outcome
from timeline.pricing import response_cost
from zerg_site import llm
from zerg_site.pdeathsig import die_with_parent  # SIGKILL with this worker: no orphan host

DEFAULT_MAX_STEPS = 50
NO_KEY = (
    "set ANTHROPIC_API_KEY or [llm] anthropic_api_key in config.toml, or point [llm] openai_base_url "
    "(OPENAI_BASE_URL) at an OpenAI-compatible endpoint, to use the agent backend"
)
NO_KEY_FIX = (
    "set ANTHROPIC_API_KEY or [llm] anthropic_api_key in config.toml, or [llm] openai_base_url "
    "(OPENAI_BASE_URL) for an OpenAI-compatible endpoint"
)
HOST_START_TIMEOUT = 90.0  # seconds for the agent host to import the LLM stack (a busy machine)
#: what each provider's client needs installed (the OpenAI-compatible one speaks plain httpx)
NEEDS = {"anthropic": ("anthropic", "langgraph"), "openai": ("httpx", "langgraph")}
PROVIDER = "zerg-agent"  # the Timeline provider of the agent's transcripts


def _config():
    return settings.ZERG


def thread_id(job) -> str:
    """The agent's conversation: its checkpoint thread, the job's ``session_id`` and its Timeline
    session's provider session id (provider ``zerg-agent``, device ``zerg-commis``)."""
    return f"commis-{job.id}"


def transcript_path(workspace) -> Path:
    """Where the child writes the conversation for the Timeline (format: agents_ingest/parsers/zerg_agent.py)."""
    return Path(workspace.artifacts) / TRANSCRIPT


def checkpoint_path() -> Path:
    return Path(_config().home) / "checkpoints.db"


def _postgres_conninfo() -> str | None:
    if connection.vendor != "postgresql":
        return None
    try:
        metadata.distribution("langgraph-checkpoint-postgres")  # no import: the worker stays light
    except metadata.PackageNotFoundError:
        return None
    from psycopg.conninfo import make_conninfo  # lazy: psycopg is the optional `postgres` extra

    s = connection.settings_dict
    params = {
        "dbname": s.get("NAME"),
        "user": s.get("USER"),
        "password": s.get("PASSWORD"),
        "host": s.get("HOST"),
        "port": str(s.get("PORT") or ""),
    }
    return make_conninfo(**{k: v for k, v in params.items() if v})


def checkpoint_target() -> dict:
    """Where the child keeps the graph's checkpoints (see the module docstring)."""
    conninfo = _postgres_conninfo()
    return {"postgres": conninfo} if conninfo else {"sqlite": str(checkpoint_path())}


# --- the agent host (commis.backends.agent_host)


def socket_path() -> str:
    """The host's socket: one per ZERG_HOME and Python, in a private folder under the temp
    dir (a path under ZERG_HOME can exceed the 108 bytes a socket path may have)."""
    home = os.path.realpath(_config().home)
    digest = hashlib.sha256(f"{home}\0{sys.executable}".encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"zerg-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise BackendUnavailable(
            f"{folder} must be a folder of this user with mode 0700 (it holds the agent "
            "host's socket): remove it or fix its mode"
        )
    return str(folder / f"agent-{digest}.sock")


_hosts: dict[str, subprocess.Popen] = {}
_host_lock = threading.Lock()


def _start_host(path: str, postgres: bool) -> None:
    """Start a host unless the one this process started is still alive (it may be importing)."""
    with _host_lock:
        host = _hosts.pop(path, None)
        if host is not None:
            code = host.poll()
            if code is None:
                _hosts[path] = host
                return
            if code not in (0, -9, -15):
                raise BackendUnavailable(f"the agent host exited with code {code}: see {host_log()}")

        root = str(Path(commis.__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        host_log().parent.mkdir(parents=True, exist_ok=True)
        with open(host_log(), "ab") as log:
            _hosts[path] = subprocess.Popen(
                [sys.executable, "-m", "commis.backends.agent_host", path, *(["--postgres"] if postgres else [])],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )


def host_log() -> Path:
    return Path(_config().home) / "logs" / "agent_host.log"


class HostedProcess:
    """The Popen-like handle the runner gets for a child forked by the agent host: ``pid``
    (its own process group), ``stdout`` (the connection) and ``wait()`` (until the child
    closed it, i.e. ended). Closing our end tells the child this worker is gone."""

    def __init__(self, sock: socket.socket, reader, pid: int):
        self.sock, self.reader, self.pid = sock, reader, pid
        self.stdout = self
        self.returncode = None
        self._eof = threading.Event()

    def readline(self) -> bytes:
        try:
            line = self.reader.readline()
        except OSError:
            line = b""
        if not line:
            self._eof.set()
        return line

    def close(self) -> None:
        self._eof.set()

    def wait(self, timeout: float | None = None):
        self._eof.wait(timeout)
        self.reader.close()
        self.sock.close()
        return None  # the host reaps the child; its outcome line says how it ended


def connect(spec: dict) -> HostedProcess:
    """A child of the agent host running ``spec``; the host is started if none answers."""
    path = socket_path()
    data = json.dumps(spec).encode("utf-8") + b"\n"
    deadline = time.monotonic() + HOST_START_TIMEOUT
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            sock.sendall(data)
            reader = sock.makefile("rb")
            first = reader.readline()
            pid = int(json.loads(first)["payload"]["pid"])
            return HostedProcess(sock, reader, pid)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            sock.close()  # no host, or one that is exiting: start another
            if time.monotonic() > deadline:
                raise BackendUnavailable(
                    f"the agent host did not answer within {HOST_START_TIMEOUT:.0f} s ({exc}): see {host_log()}"
                ) from None
            _start_host(path, "postgres" in spec["checkpoint"])
            time.sleep(0.1)


class AgentBackend(Backend):
    name = "agent"
    log_raw_output = False  # log.txt gets "[kind] text" lines, not the child's JSON

    def __init__(self) -> None:
        self._outcome: dict | None = None
        self._last_line = ""
        self._workspace = self._proc = None
        self._cost: float | None = None
        self.live: sessionfiles.LiveIngest | None = None

    def option(self, job, key, default=None):
        options = getattr(job, "options", None) or {}
        return options.get(key, default) if isinstance(options, dict) else default

    def check(self, job) -> None:
        self.probe()

    def probe(self) -> None:
        picked = llm.choice(_config())  # plain data: the providers and their SDKs load in the child only
        if picked is None:
            raise BackendUnavailable(NO_KEY, reason="no model is configured on the server", fix=NO_KEY_FIX)
        missing = [name for name in NEEDS[picked["kind"]] if util.find_spec(name) is None]
        if missing:
            raise BackendUnavailable(
                f"the agent backend needs {' and '.join(missing)}: pip install zerg",
                reason=f"{' and '.join(missing)} is not installed on the server",
                fix="pip install zerg",
            )

    def spec(self, job, workspace, env: dict | None = None) -> dict:
        """Everything the child needs to run the job (it has no Django): the provider
        ``[llm]`` names (as for Oikos: ``openai_base_url`` wins over an Anthropic key)."""
        picked = llm.choice(_config()) or {"kind": "anthropic", "base_url": "", "api_key": "", "model": ""}
        return {
            "job_id": job.id,
            "thread_id": thread_id(job),
            "task": job.task,
            "attempts": int(getattr(job, "attempts", 1) or 1),
            "workspace": str(workspace.path),
            "model": self.option(job, "model") or picked["model"] or llm.default_model(picked["kind"]),
            "max_steps": int(self.option(job, "max_steps", DEFAULT_MAX_STEPS)),
            "max_tokens": int(self.option(job, "max_tokens", 8192)),
            "max_retries": int(self.option(job, "max_retries", 2)),
            "request_timeout": float(self.option(job, "request_timeout", 600)),
            "provider": picked["kind"],
            "api_key": picked["api_key"],
            "base_url": picked["base_url"],
            "checkpoint": checkpoint_target(),
            "env": env or {},
            "transcript": str(transcript_path(workspace)) if getattr(workspace, "artifacts", None) else "",
        }

    def start(self, job, workspace, env: dict):
        self._workspace = workspace
        self._proc = connect(self.spec(job, workspace, {**env, "ZERG_WORKSPACE": str(workspace.path)}))
        return self._proc

    def answer_tool(self, job, request: dict) -> None:
        """Run a tool the child does not run itself (the Forum's: Django, the database) here
        in the worker, and send the result back on the child's fd 0."""
        try:
            tools = WorkspaceTools(self._workspace.path)
            tools.job_id = job.id
            args = request.get("input")
            text, is_error = tools.call(str(request.get("name")), args if isinstance(args, dict) else {})
        finally:
            connection.close()  # this is the runner's reader thread: no connection left behind
        reply = {"id": request.get("id"), "text": text, "is_error": is_error}
        try:
            self._proc.sock.sendall(json.dumps(reply).encode("utf-8") + b"\n")
        except OSError:
            pass  # the child is gone

    def on_output(self, job, line: str) -> list[JobEvent]:
        record = None
        if line.startswith("{"):
            try:
                record = json_value(line)
            except ValueError:
                record = None
        if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
            if line.strip():
                self._last_line = line
            return [JobEvent("output", line)]  # a warning or a traceback of the child
        kind, payload = record["kind"], record.get("payload")
        payload = payload if isinstance(payload, dict) else {}
        if kind == "pid":
            return []
        if kind == "outcome":
            self._outcome = payload
            return []
        if kind == "tool_request":
            self.answer_tool(job, payload)
            return []
        if kind in ("text", "tool_result", "usage") and sessionfiles.is_job_row(job):
            # the transcript grew: its new lines go to the Timeline now (at most every second)
            self.live = self.live or sessionfiles.LiveIngest(PROVIDER)
            self.live.poll(job, lambda: self._transcript())
        if kind == "model_calls":
            self._cost = price(payload.get("calls"))
            return [JobEvent("usage", "", {"cost_usd": self._cost})] if self._cost is not None else []
        return [JobEvent(kind, str(record.get("text") or ""), payload)]

    def _transcript(self) -> Path | None:
        path = transcript_path(self._workspace) if self._workspace is not None else None
        return path if path is not None and path.is_file() else None

    def on_exit(self, job, workspace, exit_code) -> Outcome:
        self._workspace = self._workspace or workspace
        outcome = self._judge(job, exit_code)
        path = self._transcript()
        if path is not None:  # the whole conversation into the Timeline (what live ingest has not sent yet)
            outcome.session_file = str(path)
            sessionfiles.session_file_ready(job, path, PROVIDER)
        return outcome

    def _judge(self, job, exit_code) -> Outcome:
        result = self._outcome
        if result is None:
            why = f"exit code {exit_code}" if exit_code is not None else "killed, or it crashed"
            return Outcome(
                FAILED,
                f"the agent process ended without a result ({why})"
                + (f": {self._last_line}" if self._last_line else ""),
                session_id=thread_id(job),
            )
        return Outcome(
            str(result.get("status") or FAILED),
            str(result.get("summary") or ""),
            dict(result.get("usage") or {}),
            cost_usd=self._cost,
            session_id=str(result.get("session_id") or thread_id(job)),
        )


def price(calls) -> float | None:
    """The cost of the conversation's model calls (``[{"model", "usage"}]``, Anthropic usage
    keys from either provider), at the Timeline's list prices as Oikos's turns; None once
    one call's model has no known price (a local model), or when there is nothing to price."""
    if not isinstance(calls, list) or not calls:
        return None
    total = 0.0
    for call in calls:
        if not isinstance(call, dict) or not isinstance(call.get("usage"), dict):
            return None
        cost = response_cost("claude", str(call.get("model") or ""), call["usage"])
        if cost is None:
            return None
        total += cost
    return total
