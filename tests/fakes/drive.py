"""Drive a subprocess backend the way ``commis/runner.py`` does, without the database:
check -> command -> Popen (own session, stderr merged) -> on_output per line -> on_exit."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

BIN = Path(__file__).resolve().parent / "bin"


def make_job(task: str = "Create the greeting file.", backend: str = "claude", **kw) -> SimpleNamespace:
    fields = dict(
        id=7, task=task, backend=backend, options={}, attempts=1, session_id="", timeout=None, repo_url="", branch=""
    )
    fields.update(kw)
    return SimpleNamespace(**fields)


def make_workspace(root: Path) -> SimpleNamespace:
    ws = SimpleNamespace(
        path=root / "work", artifacts=root / "artifacts", state=root / "state", repo_url="", branch="", base_commit=""
    )
    for p in (ws.path, ws.artifacts, ws.state):
        p.mkdir(parents=True, exist_ok=True)
    return ws


def drive(backend, job, workspace, timeout: float = 60):
    """Returns ``(events, outcome, exit_code, argv, env)``."""
    backend.check(job)
    argv, env = backend.command(job, workspace)
    proc = subprocess.Popen(
        argv,
        cwd=workspace.path,
        env={**os.environ, **env},
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
    )
    events = []
    for line in proc.stdout:
        events += backend.on_output(job, line.rstrip("\n"))
    code = proc.wait(timeout=timeout)
    return events, backend.on_exit(job, workspace, code), code, argv, env
