"""Continue a Timeline session (a local Claude Code / Codex session) as a commis job.

The job is an ordinary ``claude`` / ``codex`` job with these ``Job.options``::

    continues_session  the Timeline session id it continues
    resume_session     the CLI's session id (the backend passes --resume / `resume`)
    continue_from      {"device", "cwd", "remote", "branch", "commit", "patch_id"}: the
                       original workspace, as the Shipper / `zerg migrate` described it

Before the CLI starts, :func:`restore_session_file` writes the session file byte for
byte from the Timeline's source-line archive into the job's own CLI config dir, at
the path the CLI looks for it; :func:`checkout` (called by ``workspaces.prepare`` on a
fresh clone) puts the clone at the original commit and applies the uploaded
uncommitted changes, committed as one "zerg:" commit so the job's ``diff.patch`` holds
only what the continuation did. At most one continuation of a session runs at once.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

from django.db import connection, transaction

from agents_ingest.models import WorkspacePatch
from commis import jobs
from commis.backends import sessionfiles, unavailable
from commis.models import Job
from commis.workspaces import WorkspaceError
from timeline.export import iter_file_bytes, main_file
from timeline.models import Session
from zerg_site.gitcheck import END, GitValueError, check_commit, check_remote

PROVIDERS = ("claude", "codex")
DEFAULT_PROMPT = "Continue the work from where this session left off."
WORKSPACE_MODES = ("auto", "clone", "cwd", "scratch")


class ContinuationError(ValueError):
    """The session cannot be continued as asked (400)."""

    status = 400


class Busy(ContinuationError):
    """Another continuation of the session is queued or running (409)."""

    status = 409


def active_job(session):
    """The queued/running job that continues (or is) this session, or None."""
    qs = Job.objects.filter(status__in=Job.ACTIVE)
    return (
        qs.filter(options__continues_session=session.id).order_by("-id").first()
        or qs.filter(backend=session.provider, session_id=session.provider_session_id).order_by("-id").first()
    )


def jobs_for(session, limit: int = 20) -> list:
    return list(Job.objects.filter(options__continues_session=session.id).order_by("-id")[:limit])


def latest_patch(session, patch_id: int | None = None):
    if patch_id:
        patch = WorkspacePatch.objects.filter(id=patch_id).first()
        if patch is None:
            raise ContinuationError(f"no uploaded patch {patch_id}")
        if patch.device != session.device:
            raise ContinuationError(
                f"patch {patch_id} was uploaded by device {patch.device!r}, not by this session's "
                f"device {session.device!r}"
            )
        return patch
    if not session.cwd:
        return None
    return WorkspacePatch.objects.filter(device=session.device, cwd=session.cwd).order_by("-updated_at").first()


def plan(session, workspace: str = "auto", patch_id: int | None = None) -> dict:
    """``spawn`` keyword arguments for the workspace: a clone, the original cwd, or a scratch dir.

    ``auto``: a clone when a patch was named (fresh from the laptop), else the session's
    cwd when it exists here (a session of this machine, or the workspace of the last
    continuation, whose lines name it), else a clone of its remote, else a scratch dir."""
    if workspace not in WORKSPACE_MODES:
        raise ContinuationError(f"workspace must be one of {', '.join(WORKSPACE_MODES)}")
    patch = latest_patch(session, patch_id) if workspace in ("auto", "clone") else None
    remote = (patch.remote if patch else "") or session.git_remote
    if workspace == "auto":
        if patch_id and remote:  # the laptop just described its state (`zerg migrate`): rebuild that
            workspace = "clone"
        elif session.cwd and os.path.isdir(session.cwd):
            workspace = "cwd"
        elif remote:
            workspace = "clone"
        else:
            workspace = "scratch"
    origin = {
        "device": session.device,
        "cwd": session.cwd,
        "remote": remote,
        "branch": (patch.branch if patch else "") or session.git_branch,
        "commit": (patch.base_commit if patch else "") or session.git_commit,
        "patch_id": patch.id if patch else None,
    }
    if workspace == "cwd":
        if not (session.cwd and os.path.isdir(session.cwd)):
            raise ContinuationError(
                f"the session's directory {session.cwd or '(unknown)'} does not exist on the server"
            )
        return {"workdir": session.cwd, "continue_from": {**origin, "patch_id": None}}
    if workspace == "clone":
        if not remote:
            raise ContinuationError(
                "the session has no git remote to clone: ship it with `zerg ship` (or `zerg migrate`) from inside "
                "its repository, or continue it with workspace=scratch"
            )
        try:  # checked when shipped; again here for what was stored before that
            origin["remote"] = remote = check_remote(remote)
            origin["commit"] = check_commit(origin["commit"]) if origin["commit"] else ""
        except GitValueError as exc:
            raise ContinuationError(
                f"cannot clone this session's workspace: {exc}; ship the session again from "
                "inside its repository, or continue it with workspace=scratch"
            ) from None
        return {"repo_url": remote, "continue_from": origin}
    return {"continue_from": {**origin, "patch_id": None}}


def start(
    session,
    prompt: str = "",
    *,
    workspace: str = "auto",
    patch_id: int | None = None,
    origin: str = "owner",
    origin_ref: str = "",
    timeout: int | None = None,
):
    """Spawn the continuation job; :class:`Busy` if one is already active."""
    if session.provider not in PROVIDERS:
        raise ContinuationError(f"only Claude Code and Codex sessions can be continued, not {session.provider}")
    if session.parent_id:
        raise ContinuationError("this is a subagent's session: continue its parent session instead")

    if main_file(session) is None:
        raise ContinuationError("the Timeline has no stored file for this session to resume from")
    prompt = (prompt or "").strip() or DEFAULT_PROMPT
    where = plan(session, workspace, patch_id)

    why = unavailable(session.provider)  # the CLI is not installed here: say so now, not as a failed job
    if why:
        raise ContinuationError(why)
    options = {
        "continues_session": session.id,
        "resume_session": session.provider_session_id,
        "continue_from": where.pop("continue_from"),
    }
    with transaction.atomic():  # SQLite: BEGIN IMMEDIATE already serialises; Postgres: lock the session row
        if connection.features.has_select_for_update:
            Session.objects.select_for_update().filter(pk=session.pk).first()
        busy = active_job(session)
        if busy is not None:
            raise Busy(
                f"session {session.id} is already being continued by job {busy.id} ({busy.status}): "
                "wait for it to finish or cancel it first"
            )
        return jobs.spawn(
            prompt,
            session.provider,
            timeout=timeout,
            options=options,
            origin=origin,
            origin_ref=origin_ref or f"session:{session.id}",
            **where,
        )


# --- in the worker: the session file and the workspace


def _continued(job) -> tuple:
    """``(Timeline session, CLI session id)`` of a continuation job, else ``(None, "")``."""
    options = getattr(job, "options", None) or {}
    sid = options.get("continues_session") if isinstance(options, dict) else None
    if not sid:
        return None, ""

    session = Session.objects.filter(pk=sid).first()
    if session is None:
        raise ContinuationError(f"the Timeline session {sid} this job continues is gone")
    return session, str(options.get("resume_session") or session.provider_session_id)


def _write(target: Path, session) -> Path:
    source = main_file(session)
    if source is None:
        raise ContinuationError(f"the Timeline has no stored file for session {session.id}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".restore-")
    size = 0
    with os.fdopen(fd, "wb") as fh:
        for chunk in iter_file_bytes(source):
            fh.write(chunk)
            size += len(chunk)
    if not size:
        os.unlink(tmp)
        raise ContinuationError(f"the Timeline holds no lines of session {session.id} to resume from")
    os.replace(tmp, target)
    return target


CODEX_NAME = re.compile(r"^rollout-(\d{4})-(\d{2})-(\d{2})T[\d-]+-.+\.jsonl$")


def codex_file_name(session, source_path: str = "") -> str:
    name = os.path.basename(source_path or "")
    if CODEX_NAME.match(name) and name.endswith(f"{session.provider_session_id}.jsonl"):
        return name
    when = session.started_at
    stamp = when.strftime("%Y-%m-%dT%H-%M-%S") if when else "1970-01-01T00-00-00"
    return f"rollout-{stamp}-{session.provider_session_id}.jsonl"


def restore_session_file(job, provider: str, config_dir: Path, cwd: Path) -> Path | None:
    """Put the continued session's file where the CLI will ``--resume`` it (once: a re-run keeps
    the file it already appended to). None when ``job`` is not a continuation."""
    session, sid = _continued(job)
    if session is None:
        return None
    if provider == "claude":
        dirs = dict.fromkeys(
            [sessionfiles.claude_project_dir_name(cwd), sessionfiles.claude_project_dir_name(os.path.realpath(cwd))]
        )
        targets = [Path(config_dir) / "projects" / d / f"{sid}.jsonl" for d in dirs]
        existing = [t for t in targets if t.is_file()]
        if existing:
            return existing[0]
        first = _write(targets[0], session)
        for other in targets[1:]:  # the CLI may name the project after the resolved path
            other.parent.mkdir(parents=True, exist_ok=True)
            other.write_bytes(first.read_bytes())
        return first
    existing = sessionfiles.find_codex_session_file(Path(config_dir), sid)
    if existing:
        return existing

    source = main_file(session)
    name = codex_file_name(session, source.path if source else "")
    match = CODEX_NAME.match(name)
    return _write(Path(config_dir) / "sessions" / match.group(1) / match.group(2) / match.group(3) / name, session)


def _git(args: list[str], cwd: Path, check: bool = True) -> tuple[int, str]:
    """``(exit code, stderr or stdout)``; WorkspaceError on failure when ``check``."""
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
    )
    message = (done.stderr or done.stdout).strip()
    if check and done.returncode != 0:
        raise WorkspaceError(f"git {args[0]} failed: {message[-500:]}")
    return done.returncode, message


IDENT = ["-c", "user.name=Zerg", "-c", "user.email=zerg@localhost"]


def checkout(job, path: Path, branch: str, state: Path) -> None:
    """On a fresh clone: the original commit on ``branch``, plus the uploaded uncommitted changes."""
    origin = (getattr(job, "options", None) or {}).get("continue_from") or {}
    commit = origin.get("commit") or ""
    if commit:
        try:  # a job queued before commits were checked may hold anything
            commit = check_commit(commit)
        except GitValueError as exc:
            raise WorkspaceError(f"not checking out the session's commit: {exc}") from None
        if _git(["cat-file", "-e", END, f"{commit}^{{commit}}"], path, check=False)[0] != 0:
            _git(["fetch", "--quiet", END, "origin", commit], path, check=False)
        # git checkout (2.39) mistakes --end-of-options for a ref; git switch takes it
        if _git(["switch", "--quiet", "-C", branch, END, commit], path, check=False)[0] != 0:
            raise WorkspaceError(
                f"commit {commit[:12]} (branch {origin.get('branch') or '?'}) is not on {job.repo_url}: push it "
                "from the laptop, or run `zerg migrate` there (it sends unpushed commits as a patch)"
            )
    patch_id = origin.get("patch_id")
    if not patch_id:
        return

    patch = WorkspacePatch.objects.filter(id=patch_id).first()
    if patch is None or not bytes(patch.data).strip():
        return
    target = state / "uncommitted.patch"
    target.write_bytes(bytes(patch.data))
    code, err = _git(["apply", "--binary", "--whitespace=nowarn", END, str(target)], path, check=False)
    if code != 0:
        raise WorkspaceError(
            f"the uncommitted changes uploaded from {patch.device} do not apply at "
            f"{commit[:12]}: {err.strip()[-300:] or 'git apply failed'}"
        )
    _git(["add", "--all", "."], path)
    if _git(["diff", "--cached", "--quiet"], path, check=False)[0] != 0:
        _git(
            [
                *IDENT,
                "commit",
                "--quiet",
                "--no-verify",
                "-m",
                f"zerg: uncommitted changes from {patch.device}:{patch.cwd}",
            ],
            path,
        )
