"""The commis backend interface.

A backend turns a job (``commis.models.Job``) into work: a subprocess (Claude Code,
Codex, a shell command, the built-in langgraph agent's child), or in-process code. The
runner (``commis/runner.py``) owns everything around it: the claim and lease, the
workspace, the process group, heartbeats, cancel and timeout, the log artifact, the
event stream and the final status. A backend only says *what to run* and *what its
output means*.

Lifecycle of one attempt (the runner creates a FRESH backend instance per attempt, so
a backend may keep per-run state on ``self``)::

    backend = get_backend(job.backend)          # commis.backends registry
    backend.check(job)                          # BackendUnavailable -> job failed at once
    if backend.inline:
        outcome = backend.run_inline(job, workspace, ctx)
    else:
        proc = backend.start(job, workspace, env)   # None (the default): the runner
        argv, env = backend.command(job, workspace) # starts command() itself:
        # runner: Popen(argv, cwd=workspace.path,
        #               env=os.environ | env | {ZERG_JOB_ID, ZERG_JOB_LEASE},
        #               start_new_session=True, stdout=PIPE, stderr=STDOUT, stdin=DEVNULL)
        # (keep ZERG_JOB_LEASE in the env of whatever the CLI starts: a reclaim finds
        #  the leftovers of a dead attempt by it)
        for line in stdout:                     # each line (without the newline)
            events = backend.on_output(job, line)   # -> list[JobEvent], may be []
        outcome = backend.on_exit(job, workspace, exit_code)

What the backend sees on ``job`` (read-only; the runner writes the row):
``job.id``, ``job.task`` (the prompt or command), ``job.backend``, ``job.options``
(a JSON dict of backend options, e.g. ``{"model": "...", "resume": true}``),
``job.attempts`` (1 on the first run, >= 2 when re-run after a crash),
``job.session_id`` (the last session id the backend reported, "" if none: use it to
``--resume``), ``job.timeout`` (seconds or None), ``job.repo_url``, ``job.branch``.

``workspace`` (``commis.workspaces.Workspace``): ``path`` (cwd of the job: scratch dir,
git clone or an existing server dir), ``artifacts`` (dir for files the job produced:
the runner writes ``log.txt`` and ``diff.patch`` there), ``state`` (a private dir of
this job that survives re-runs, e.g. a per-job ``CLAUDE_CONFIG_DIR`` / ``CODEX_HOME``),
``repo_url``, ``branch``, ``base_commit``.

Events: every stdout line goes verbatim into ``log.txt``. ``on_output`` maps it to
zero or more :class:`JobEvent`; the runner batches them into
``publish("commis:<id>", "commis.output", {"job": id, "events": [...]})``. Special
kinds the runner understands:

- ``JobEvent("session", payload={"session_id": "..."})``: stored on ``job.session_id``
  at once, so a re-run after a crash can resume that session.
- ``JobEvent("usage", payload={"input_tokens": .., "output_tokens": .., "cost_usd": ..})``:
  merged into the job's usage as it goes (the Outcome's usage wins at the end).

Statuses: ``on_exit`` returns an :class:`Outcome` with ``status`` "succeeded" or
"failed". When the runner itself stopped the process (cancel, timeout, lost lease),
``on_exit`` is still called (for usage/summary) but the runner's status wins
(cancelled / timed_out / re-queued).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

SUCCEEDED = "succeeded"
FAILED = "failed"


class BackendUnavailable(Exception):
    """The backend cannot run here; the message says what to install or configure.

    Raised by :meth:`Backend.check` (or ``command``/``run_inline``): the job fails at
    once with this message as its summary, no retry. ``reason`` and ``fix`` say the same in
    two parts, for "New job" to show beside a backend it offers disabled (``probe``).
    """

    def __init__(self, message: str, *, reason: str = "", fix: str = ""):
        super().__init__(message)
        self.reason = reason or message
        self.fix = fix


@dataclass
class JobEvent:
    """One thing that happened in a job, as the UI shows it.

    ``kind``: free-form, short: "output" (a raw line), "text" (assistant text),
    "tool_use", "tool_result", "thinking", "result", "error", "session", "usage", ...
    ``text``: a human-readable one-liner or paragraph (the log view shows it).
    ``payload``: anything JSON-serializable for richer views.
    """

    kind: str
    text: str = ""
    payload: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text, "payload": self.payload}


@dataclass
class Outcome:
    """How an attempt ended, as the backend judges it.

    ``status``: SUCCEEDED or FAILED. ``summary``: a short result text (the final
    answer, or the error). ``usage``: token counts, e.g. ``{"input_tokens": 1,
    "output_tokens": 2, "cache_read_input_tokens": 3}``. ``cost_usd``: if known.
    ``session_id``: the agent session to resume or link to the Timeline.
    """

    status: str
    summary: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    cost_usd: float | None = None
    session_id: str = ""
    #: the session file the agent CLI wrote (claude/codex), for Timeline ingest; "" if none
    session_file: str = ""


class RunContext(Protocol):
    """What the runner gives an inline backend (``run_inline``)."""

    def emit(self, event: JobEvent) -> None:
        """Record an event: log line + batched ``commis.output`` event."""

    def log(self, text: str) -> None:
        """Append raw text to log.txt (and emit it as an "output" event)."""

    def should_stop(self) -> str | None:
        """None while the job may go on; else "cancelled", "timed_out" or "lost_lease".

        Check it between steps (at least every second or so) and return promptly;
        the runner records the status. Subprocesses an inline backend starts must
        use ``ctx.run_subprocess`` so cancel can kill their process group.
        """

    def run_subprocess(
        self, argv: list[str], cwd: str, timeout: float | None = None, env: dict | None = None
    ) -> tuple[int, str]:
        """Run a command in its own process group, killed on cancel/timeout; returns (code, output)."""


class Backend:
    """Base class: subclass it and register it in ``commis.backends.BACKENDS``.

    Subprocess backends implement :meth:`command` (and usually :meth:`on_output` and
    :meth:`on_exit`). In-process backends set ``inline = True`` and implement
    :meth:`run_inline`.
    """

    name: str = ""
    inline: bool = False
    #: seconds between SIGTERM and SIGKILL of the process group on cancel/timeout
    kill_grace: float = 5.0

    def probe(self) -> None:
        """Raise :class:`BackendUnavailable` if this backend cannot run any job here (its CLI is not
        installed, no model is configured): what ``GET /api/commis/backends`` reports and a spawn
        through the API is refused for. The default: it always can."""

    def check(self, job) -> None:
        """Raise :class:`BackendUnavailable` if this backend cannot run the job here.

        Called before the workspace is prepared. Missing binary: use
        :func:`require_binary`. Missing API key: ``raise BackendUnavailable("set
        ANTHROPIC_API_KEY or [llm] anthropic_api_key in config.toml")``.
        """

    #: False: log.txt gets "[kind] text" per event instead of the raw stdout line
    log_raw_output: bool = True

    def start(self, job, workspace, env: dict[str, str]):
        """Start the job's process yourself instead of the runner's Popen of :meth:`command`.

        ``env``: os.environ plus ZERG_JOB_ID and ZERG_JOB_LEASE. Return None (the default)
        to let the runner Popen ``command()``, or an object like a Popen: ``pid`` (the
        leader of the job's own process group, which cancel kills), ``stdout.readline()``
        (bytes, b"" at the end), ``stdout.close()`` and ``wait()`` (the exit code or None).
        The agent backend hands its job to a process forked by its host this way.
        """
        return None

    def command(self, job, workspace) -> tuple[list[str], dict[str, str]]:
        """``(argv, extra_env)`` of the subprocess; extra_env is merged over os.environ."""
        raise NotImplementedError

    def on_output(self, job, line: str) -> list[JobEvent]:
        """Turn one stdout/stderr line (no trailing newline) into events.

        The default: every line is an "output" event. Must not raise on odd input
        (unknown record types are kept, e.g. as ``JobEvent("raw", line)``); if it
        raises anyway, the runner logs it and emits the line as "output".
        """
        if line.strip():
            self._last_line = line
        return [JobEvent("output", line)]

    def on_exit(self, job, workspace, exit_code: int) -> Outcome:
        """Judge the attempt once the process has ended (exit_code < 0: killed by signal -N).

        The default: exit code 0 is success; the summary is the last output line.
        """
        status = SUCCEEDED if exit_code == 0 else FAILED
        summary = getattr(self, "_last_line", "") or ""
        if status == FAILED and not summary:
            summary = f"exit code {exit_code}"
        return Outcome(status=status, summary=summary[:2000])

    def spent(self, job) -> float | None:
        """The attempt's cost so far in USD as its output tells it (None: not known yet), which
        the runner holds against the job's ``budget_usd`` after each line. The default: only
        ``usage`` events with ``cost_usd`` (the runner reads those itself)."""
        return None

    def run_inline(self, job, workspace, ctx: RunContext) -> Outcome:
        """For ``inline = True`` backends: do the work in this (worker) process.

        Heartbeats run on a separate thread meanwhile. Call ``ctx.emit`` for progress
        and poll ``ctx.should_stop()``; return an Outcome (raise BackendUnavailable
        for configuration errors: the job fails with its message). The runner cannot
        interrupt Python code: on cancel/timeout it only kills ``ctx.run_subprocess``
        children, so keep blocking calls (LLM requests) bounded by a timeout.
        """
        raise NotImplementedError


def require_binary(name: str, hint: str) -> str:
    """The full path of executable ``name`` on PATH, else BackendUnavailable(hint)."""
    path = shutil.which(name)
    if not path:
        raise BackendUnavailable(
            f"`{name}` was not found on PATH: {hint}", reason=f"{name} is not on PATH on the server", fix=hint
        )
    return path


EmitFn = Callable[[JobEvent], None]
