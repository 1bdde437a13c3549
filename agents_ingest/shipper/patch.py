"""The uncommitted state of a session's cwd, as a patch a server-side clone can apply.

A continuation on the server clones the git remote, so it only sees what was pushed.
This module describes the rest: ``base`` is the newest commit of HEAD's history that a
remote-tracking ref contains (HEAD itself when it is pushed), and the patch goes from
``base`` to the work tree: unpushed commits, staged and unstaged edits and untracked
files (``.gitignore`` respected). It is built with a throwaway index
(``GIT_INDEX_FILE``), so the owner's own index is never touched.

Standard library only: it runs on the laptop inside ``zerg ship`` / ``zerg migrate``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

from agents_ingest.apiclient import ApiError, RetryLater, Unauthorized

MAX_PATCH = 16 * 1024 * 1024  # the server's limit too (agents_ingest.models.MAX_PATCH)


class PatchError(Exception):
    """The directory's state cannot be described (not a repo, nothing pushed, too large)."""


@dataclass
class WorkState:
    cwd: str
    remote: str
    branch: str
    head_commit: str
    base_commit: str
    patch: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.patch).hexdigest()

    def meta(self) -> dict:
        return {
            "cwd": self.cwd,
            "remote": self.remote,
            "branch": self.branch,
            "head_commit": self.head_commit,
            "base_commit": self.base_commit,
        }


def _git(cwd: str, *args: str, env: dict | None = None, text: bool = True, timeout: float = 60):
    done = subprocess.run(
        ["git", "-C", cwd, *args],
        capture_output=True,
        text=text,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})},
    )
    return done.returncode, done.stdout, done.stderr


def _out(cwd: str, *args: str) -> str:
    code, out, _ = _git(cwd, *args)
    return out.strip() if code == 0 else ""


def base_commit(cwd: str, head: str) -> str:
    """The newest commit of HEAD's history that some remote-tracking ref has ("" if none)."""
    if not _out(cwd, "rev-list", "-n1", head, "--not", "--remotes"):
        return head if _out(cwd, "for-each-ref", "--count=1", "refs/remotes") else ""
    best, best_distance = "", None
    for ref in _out(cwd, "for-each-ref", "--format=%(refname)", "refs/remotes").splitlines():
        merge_base = _out(cwd, "merge-base", head, ref)
        if not merge_base:
            continue
        distance = int(_out(cwd, "rev-list", "--count", f"{merge_base}..{head}") or 0)
        if best_distance is None or distance < best_distance:
            best, best_distance = merge_base, distance
    return best


def work_state(cwd: str) -> WorkState:
    """Remote, branch, HEAD, base and the patch of ``cwd``; PatchError if it cannot be described."""
    if not cwd or not os.path.isdir(cwd):
        raise PatchError(f"{cwd or '(no cwd)'} is not a directory on this machine")
    if _out(cwd, "rev-parse", "--is-inside-work-tree") != "true":
        raise PatchError(f"{cwd} is not inside a git work tree")
    top = _out(cwd, "rev-parse", "--show-toplevel") or cwd
    remote = _out(cwd, "remote", "get-url", "origin")
    head = _out(cwd, "rev-parse", "HEAD")
    if not remote or not head:
        raise PatchError(f"{top} has no remote 'origin' or no commit yet: the server cannot clone it")
    base = base_commit(top, head)
    if not base:
        raise PatchError(f"no commit of {top} is on its remote yet: push the branch first")
    with tempfile.TemporaryDirectory(prefix="zerg-patch-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        steps = [("add", "--all", ".")]
        real_index = _out(top, "rev-parse", "--path-format=absolute", "--git-path", "index")
        try:  # a copy of the real index keeps its stat cache: only changed files get hashed
            shutil.copyfile(real_index, env["GIT_INDEX_FILE"])
        except OSError:
            steps.insert(0, ("read-tree", head))
        for args in steps:
            code, _, err = _git(top, *args, env=env, timeout=300)
            if code != 0:
                raise PatchError(f"git {args[0]} failed in {top}: {err.strip()[-300:]}")
        code, patch, err = _git(
            top, "diff", "--cached", "--binary", "--no-color", "--no-ext-diff", base, env=env, text=False, timeout=300
        )
    if code != 0:
        raise PatchError(f"git diff failed in {top}: {err.decode('utf-8', 'replace').strip()[-300:]}")
    if len(patch) > MAX_PATCH:
        raise PatchError(
            f"the uncommitted changes of {top} are {len(patch)} bytes, more than {MAX_PATCH}: "
            "commit and push some of them (or ignore large files)"
        )
    branch = _out(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    return WorkState(cwd=cwd, remote=remote, branch=branch, head_commit=head, base_commit=base, patch=patch)


def apply(cwd: str, patch: bytes) -> None:
    """Apply a patch from the server to the work tree of ``cwd`` (3-way where it must)."""
    if not patch.strip():
        return
    with tempfile.NamedTemporaryFile(prefix="zerg-pull-", suffix=".patch", delete=False) as fh:
        fh.write(patch)
        name = fh.name
    code, _, err = _git(cwd, "apply", "--whitespace=nowarn", name)
    if code != 0:
        code, _, err3 = _git(cwd, "apply", "--3way", "--whitespace=nowarn", name)
        if code != 0:
            raise PatchError(
                f"the server's changes do not apply to {cwd}: {err.strip()[-300:]} "
                f"{err3.strip()[-300:]} (the patch is kept at {name})"
            )
    os.unlink(name)


class PatchUploader:
    """``zerg ship``'s side: upload each active session cwd's state when it changed.

    Best effort: a directory that is not a pushed git repository is skipped, and a server
    without the endpoint (or another refusal) turns uploads off for this run. What was
    sent is remembered per cwd (its sha256) in shipper.db.
    """

    INTERVAL = 60.0  # seconds between looks at one directory
    RECENT = 86400.0  # only for session files written to in the last day

    def __init__(self, state, client, device: str, log):
        self.state, self.client, self.device, self.log = state, client, device, log
        self.enabled = True
        self.checked: dict[str, float] = {}

    def upload_recent(self, files) -> None:
        recent = time.time_ns() - int(self.RECENT * 1e9)
        self.upload({fs.session_cwd for fs in files if fs.session_cwd and fs.mtime_ns >= recent})

    def upload(self, cwds) -> None:
        now = time.monotonic()
        for cwd in sorted(cwds):
            if not self.enabled:
                return
            if now - self.checked.get(cwd, -1e9) < self.INTERVAL or not os.path.isdir(cwd):
                continue
            self.checked[cwd] = now
            try:
                state = work_state(cwd)
            except (PatchError, OSError, subprocess.SubprocessError):
                continue
            key = f"patch:{cwd}"
            if self.state.get(key) == state.sha256:
                continue
            try:
                self.client.upload_patch(self.device, state)
            except (Unauthorized, RetryLater):
                raise
            except ApiError as exc:
                self.log(f"not uploading uncommitted changes ({exc}); the server may predate session migration")
                self.enabled = False
                return
            self.state.set(**{key: state.sha256})
            self.log(f"uploaded the uncommitted changes of {cwd} ({len(state.patch)} bytes)")
