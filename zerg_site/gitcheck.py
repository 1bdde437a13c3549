"""What a git commit id and a git remote that came from data must look like before git sees them.

A device ships its sessions' git remote and commit; commis later clones that remote and checks
out that commit on the server. Git reads an argument that begins with ``-`` as an option
(``--upload-pack=<command>`` runs a command), and some URL forms run commands by design
(``ext::``). So a commit is 40 or 64 hex digits, and a remote is one of the URL forms git
clones over the network or from disk (https, http, ssh, git, file; scp-like ``user@host:path``)
or an absolute path to a git repository on this machine, never anything option-like. Callers
check when the value arrives (the ingest, the patch upload, a spawned job) and again where it
is used (the continuation), since stored data may predate these checks; every git call built
from data also puts ``--end-of-options`` before it (:data:`END`).
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

#: put before every git argument built from data (git >= 2.24): nothing after it is an option
END = "--end-of-options"

MAX_REMOTE = 1000  # commis.Job.repo_url holds at most this
_COMMIT = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})")
_URL = re.compile(r"(?P<scheme>https?|ssh|git|file|git\+ssh|ssh\+git)://", re.IGNORECASE)
_SCP = re.compile(r"(?:[A-Za-z0-9._~+][A-Za-z0-9._~+-]*@)?[A-Za-z0-9][A-Za-z0-9.-]*:(?!-)[^\s]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class GitValueError(ValueError):
    """A commit or remote that git must not be given."""


def check_commit(value: str) -> str:
    """The commit id, lower-cased; GitValueError unless it is 40 (SHA-1) or 64 (SHA-256) hex digits."""
    commit = (value or "").strip().lower() if isinstance(value, str) else ""
    if not _COMMIT.fullmatch(commit):
        raise GitValueError(f"{_show(value)} is not a git commit id (40 or 64 hex digits)")
    return commit


def is_git_repo(path: str) -> bool:
    """A work tree (``.git`` directory or file) or a bare repository, judged without running git."""
    return os.path.isdir(path) and (
        os.path.exists(os.path.join(path, ".git"))
        or (os.path.isfile(os.path.join(path, "HEAD")) and os.path.isdir(os.path.join(path, "objects")))
    )


def check_remote(value: str) -> str:
    """The remote, stripped; GitValueError unless it is a URL git may clone or a local repository's
    absolute path (``file://`` included) that exists here."""
    remote = value.strip() if isinstance(value, str) else ""
    why = _remote_problem(remote)
    if why:
        raise GitValueError(f"git remote {_show(value)} {why}")
    return remote


def _remote_problem(remote: str) -> str:
    if not remote:
        return "is empty"
    if len(remote) > MAX_REMOTE:
        return f"is longer than {MAX_REMOTE} characters"
    if remote.startswith("-"):
        return "begins with '-' (git would read it as an option)"
    if _CONTROL.search(remote):
        return "contains control characters"
    if remote.startswith("/"):
        return "" if is_git_repo(remote) else "is not a git repository on this server"
    match = _URL.match(remote)
    if match:
        if re.search(r"\s", remote):
            return "contains white space"
        parts = urlsplit(remote)
        if match.group("scheme").lower() == "file":
            if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
                return "is not a file:// URL of an absolute path"
            return "" if is_git_repo(parts.path) else "is not a git repository on this server"
        host = parts.hostname or ""
        if not host or host.startswith("-") or parts.netloc.startswith("-"):
            return "has no valid host"
        return ""
    if _SCP.fullmatch(remote) and "/" not in remote.split(":", 1)[0]:
        return ""
    return "is not a URL (https, http, ssh, git or file), user@host:path, or an absolute path"


def check_repo_url(value: str) -> str:
    """A repository the owner names for a job (a URL or a path of any kind, as git takes it), stripped;
    GitValueError when git would read it as an option or it holds control characters."""
    url = (value or "").strip()
    if url.startswith("-"):
        raise GitValueError(
            f"repo_url {_show(url)} begins with '-': git would read it as an option; "
            "give a URL or a path (./-name for a directory named so)"
        )
    if _CONTROL.search(url):
        raise GitValueError("repo_url contains control characters")
    if len(url) > MAX_REMOTE:
        raise GitValueError(f"repo_url is longer than {MAX_REMOTE} characters")
    return url


def _show(value) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text if len(text) <= 80 else text[:77] + "...")
