"""Shared bits of the fake agent CLIs (stdlib only; they run as separate processes).

Behaviour switches (environment):

- ``FAKE_CLI_RECORD=path``: append one JSON line ``{cli, argv, cwd, env, pid, pgid}`` to it.
- ``FAKE_CLI_SLEEP=seconds``: sleep after the first records, before the result.
- ``FAKE_CLI_FAIL=is_error|exit|crash``: a result with ``is_error: true`` (subtype still
  "success", like an API error), exit 1 without a result, or die mid-stream (exit 2).
- ``FAKE_CLI_IGNORE_TERM=1``: ignore SIGTERM (the runner must SIGKILL).
- ``FAKE_CLI_CHILD=1``: spawn a long-lived child process (its pid goes into the record).
- ``FAKE_CLI_STDERR=text``: print this on stderr first.
- ``FAKE_CLI_RESULT=json``: merged into the closing record (claude: the ``result`` record, e.g.
  ``usage`` / ``modelUsage`` / ``total_cost_usd``; codex: the ``turn.completed`` record's ``usage``).
- ``FAKE_CLI_RESUME_RECORD=path``: when resuming, append ``{cli, session_id, path, exists,
  sha256, size, git_head, git_status}`` of the session file as found *before* this run
  writes to it, and exit 1 like the real CLIs if it is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
RECORD_ENV = (
    "CLAUDE_CONFIG_DIR",
    "CODEX_HOME",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OPENAI_API_KEY",
    "CODEX_API_KEY",
    "ZERG_JOB_ID",
    "ZERG_WORKSPACE",
    "HOME",
    "DISABLE_AUTOUPDATER",
)


def setup(cli: str) -> dict:
    """Apply the behaviour switches; returns the record written (if any)."""
    if os.environ.get("FAKE_CLI_IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if os.environ.get("FAKE_CLI_STDERR"):
        print(os.environ["FAKE_CLI_STDERR"], file=sys.stderr, flush=True)
    record = {
        "cli": cli,
        "argv": sys.argv[1:],
        "cwd": os.getcwd(),
        "env": {k: os.environ[k] for k in RECORD_ENV if k in os.environ},
        "pid": os.getpid(),
        "pgid": os.getpgid(0),
    }
    if os.environ.get("FAKE_CLI_CHILD"):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        record["child_pid"] = child.pid
    path = os.environ.get("FAKE_CLI_RECORD")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
    return record


def emit(record: dict) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def pause() -> None:
    seconds = float(os.environ.get("FAKE_CLI_SLEEP") or 0)
    if seconds:
        end = time.monotonic() + seconds
        while time.monotonic() < end:  # a loop, so an ignored SIGTERM does not cut it short
            time.sleep(min(0.2, end - time.monotonic()) if end > time.monotonic() else 0)


def result_fields() -> dict:
    """FAKE_CLI_RESULT as a dict ({} if unset)."""
    return json.loads(os.environ.get("FAKE_CLI_RESULT") or "{}")


def failure() -> str:
    return os.environ.get("FAKE_CLI_FAIL", "")


def option(argv: list[str], *names: str) -> str | None:
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def check_resume(cli: str, session_id: str, path: str | None) -> bool:
    """Record the session file a resume starts from (see FAKE_CLI_RESUME_RECORD); False if missing."""
    target = os.environ.get("FAKE_CLI_RESUME_RECORD")
    if not target:
        return True
    exists = bool(path) and os.path.isfile(path)
    data = open(path, "rb").read() if exists else b""

    def git(*args):
        done = subprocess.run(["git", *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    record = {
        "cli": cli,
        "session_id": session_id,
        "path": path,
        "exists": exists,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "cwd": os.getcwd(),
        "git_head": git("rev-parse", "HEAD"),
        "git_branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "git_status": git("status", "--porcelain"),
    }
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    if not exists:
        print(f"No conversation found with session ID: {session_id}", file=sys.stderr, flush=True)
    return exists
