"""Job workspaces: a scratch dir, a git clone on branch ``zerg/<job-id>``, or an existing dir.

Layout, per job, under ``$ZERG_HOME/workspaces/<job-id>/``::

    work/        the job's cwd (scratch dir or git clone; absent with --workdir)
    artifacts/   log.txt, diff.patch, files the job produced
    state/       private backend state that survives re-runs (per-job CLI config dirs)
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from commis.models import Job
from zerg_site.gitcheck import END, GitValueError, check_remote, check_repo_url


class WorkspaceError(Exception):
    """The workspace could not be prepared (bad repo URL, missing dir): the job fails."""


@dataclass
class Workspace:
    path: Path
    artifacts: Path
    state: Path
    repo_url: str = ""
    branch: str = ""
    base_commit: str = ""

    @property
    def is_git(self) -> bool:
        return (self.path / ".git").exists() or _git(["rev-parse", "--git-dir"], self.path, check=False)[0] == 0


def root() -> Path:
    return Path(settings.ZERG.home) / "workspaces"


def job_dir(job_id: int) -> Path:
    return root() / str(job_id)


def _git(args: list[str], cwd: Path | None, check: bool = True, timeout: float = 600) -> tuple[int, str]:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**__import__("os").environ, "GIT_TERMINAL_PROMPT": "0"},
    )
    if check and done.returncode != 0:
        raise WorkspaceError(f"git {args[0]} failed: {(done.stderr or done.stdout).strip()[-500:]}")
    return done.returncode, done.stdout


def prepare(job) -> Workspace:
    """Create (or, on a re-run, reuse) the workspace of ``job``. Idempotent."""
    base = job_dir(job.id)
    artifacts, state = base / "artifacts", base / "state"
    artifacts.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    if job.workdir:
        path = Path(job.workdir).expanduser()
        if not path.is_dir():
            raise WorkspaceError(f"workdir {job.workdir} is not a directory on this server")
        ws = Workspace(path=path, artifacts=artifacts, state=state)
        if ws.is_git:
            ws.base_commit = job.base_commit or _head(path)
        return ws
    path = base / "work"
    if not job.repo_url:
        path.mkdir(parents=True, exist_ok=True)
        return Workspace(path=path, artifacts=artifacts, state=state)
    branch = job.branch or f"zerg/{job.id}"
    if not (path / ".git").exists():
        if path.exists():
            shutil.rmtree(path)  # a clone interrupted by a crash
        _git(["clone", "--quiet", END, _clone_url(job), str(path)], None)
        _git(["checkout", "--quiet", "-B", branch], path)
        if (job.options or {}).get("continues_session"):
            from commis.continuation import checkout  # lazy: import cycle (continuation imports WorkspaceError)

            checkout(job, path, branch, state)  # the continued session's commit + uncommitted changes
    base_commit = job.base_commit or _head(path)
    return Workspace(
        path=path, artifacts=artifacts, state=state, repo_url=job.repo_url, branch=branch, base_commit=base_commit
    )


def _clone_url(job) -> str:
    """The job's repository, checked again where git gets it (stored data may predate the checks at
    spawn): never option-like; for a continuation, whose remote a device shipped, a URL git may clone
    or a repository on this server (``zerg_site.gitcheck``)."""
    try:
        if (job.options or {}).get("continues_session"):
            return check_remote(job.repo_url)
        return check_repo_url(job.repo_url)
    except GitValueError as exc:
        raise WorkspaceError(f"not cloning: {exc}") from None


def _head(path: Path) -> str:
    code, out = _git(["rev-parse", "HEAD"], path, check=False)
    return out.strip() if code == 0 else ""


def write_diff(ws: Workspace) -> Path | None:
    """``git diff`` of the work tree (new files included) against the base commit, as diff.patch."""
    if not ws.base_commit or not ws.is_git:
        return None
    # intent-to-add makes untracked files show up in the diff without staging their content
    _git(["add", "--intent-to-add", "--all", "."], ws.path, check=False)
    code, out = _git(["diff", "--binary", END, ws.base_commit], ws.path, check=False)
    if code != 0:
        return None
    target = ws.artifacts / "diff.patch"
    target.write_text(out)
    return target


def commit_and_push(ws: Workspace, message: str, push: bool = True) -> str:
    """Commit everything on the job's branch and push it to ``origin`` (job option ``push``).

    Returns a one-line report for the log; raises WorkspaceError on failure.
    """
    if not ws.branch:
        raise WorkspaceError("push needs a --repo workspace (a branch zerg/<job>)")
    ident = ["-c", "user.name=Zerg", "-c", "user.email=zerg@localhost"]
    _git(["add", "--all", "."], ws.path)
    code, _ = _git(["diff", "--cached", "--quiet"], ws.path, check=False)
    if code == 0:
        return "nothing to commit"
    _git([*ident, "commit", "--quiet", "-m", message], ws.path)
    if not push:
        return f"committed on {ws.branch}"
    _git(["push", "--quiet", END, "origin", f"HEAD:refs/heads/{ws.branch}"], ws.path)
    return f"committed and pushed {ws.branch}"


def prune(older_than_days: float, dry_run: bool = False) -> list[int]:
    """Delete workspaces (work/, artifacts/, state/) of jobs finished more than N days ago."""
    cutoff = time.time() - older_than_days * 86400
    removed = []
    if not root().is_dir():
        return removed
    finished = dict(Job.objects.filter(status__in=Job.FINISHED).values_list("id", "finished_at"))
    for child in root().iterdir():
        if not child.name.isdigit():
            continue
        job_id = int(child.name)
        if job_id in finished:
            at = finished[job_id]
            if at is None or at.timestamp() >= cutoff:
                continue
        elif Job.objects.filter(id=job_id).exists() or child.stat().st_mtime >= cutoff:
            continue  # an active job, or a fresh orphan dir
        if not dry_run:
            shutil.rmtree(child, ignore_errors=True)
        removed.append(job_id)
    return removed
