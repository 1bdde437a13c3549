"""What Zerg keeps in ``$ZERG_HOME`` for the owner's eyes only: written whole, and kept private.

The database holds live login sessions and the key files sign logins (``secret_key``) and
Web Push (``vapid_private.pem``), so no other user of the machine may read them. Zerg's
commands run with umask 077 (:func:`use_private_umask`), so what they create is 0600/0700;
files left looser by an older version or a copied home are tightened on start
(:func:`tighten`).

A key file written in place (create, then write) is left empty when the disk is full or
the process dies between the two, and every later start then reads an empty key. So a key
is written to a temporary file beside it (0600 from its first byte), fsynced and renamed
into place (:func:`write_new`, :func:`replace`): a reader sees no file or a whole one. A key
file that is empty or unreadable anyway (cut short by an older version, damaged by hand) is
never silently replaced: :func:`read_key` raises :class:`KeyFileError` saying what to do.

No Django here: :mod:`zerg_site.config` uses it before Django is set up.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
# Zerg's own files in ZERG_HOME that must stay the owner's alone (tightened on start).
PRIVATE_FILES = (
    "zerg.db",
    "zerg.db-wal",
    "zerg.db-shm",
    "zerg.db-journal",
    "checkpoints.db",
    "checkpoints.db-wal",
    "checkpoints.db-shm",
    "checkpoints.db-journal",
    "secret_key",
    "vapid_private.pem",
)
# Each key file, and what making a new one costs the owner.
KEY_FILES = {
    "secret_key": "this logs everyone out",
    "vapid_private.pem": "every device must then turn notifications on again",
}


class KeyFileError(Exception):
    """A key file that exists but cannot be used, or cannot be made; the message says what to do."""


def use_private_umask() -> None:
    """Files and folders this process creates from now on are the owner's alone (0600/0700).

    SQLite gives a new -wal/-shm the mode of its database file, whatever the umask: that is
    why :func:`tighten` must also fix an existing database before it is opened.
    """
    os.umask(PRIVATE_UMASK)


def tighten(home: Path) -> list[tuple[Path, int, int]]:
    """Take group and other access away from ``home`` and Zerg's private files in it.

    Only what this user owns (a file of another user is left alone: it is not ours to
    change), only regular files (never through a symlink to somewhere else), and never a
    shared sticky folder such as /tmp. Returns ``(path, old mode, new mode)`` per change.
    """
    changed = []
    uid = os.geteuid()
    try:
        info = os.stat(home)
    except OSError:
        return changed
    if stat.S_ISDIR(info.st_mode) and not info.st_mode & stat.S_ISVTX and home != Path.home():
        changed += _tighten_one(home, info, uid)
    for name in PRIVATE_FILES:
        path = home / name
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            changed += _tighten_one(path, info, uid)
    return changed


def _tighten_one(path: Path, info: os.stat_result, uid: int) -> list[tuple[Path, int, int]]:
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != uid or not mode & 0o077:
        return []
    try:
        os.chmod(path, mode & ~0o077, follow_symlinks=False)
    except (OSError, NotImplementedError):  # a file system without modes: nothing to do
        return []
    return [(path, mode, mode & ~0o077)]


def unusable(path: Path, what: str) -> str:
    """The one line a person reads about a key file that cannot be used."""
    cost = KEY_FILES.get(path.name)
    return (
        f"{path.name} in {path.parent} {what}. Copy it back from a backup (`zerg backup` saves it beside "
        f"the database copy as <name>.{path.name}), or delete it to make a new one" + (f" ({cost})" if cost else "")
    )


def cannot_write(path: Path, exc: OSError) -> str:
    return (
        f"cannot write {path.name} in {path.parent}: {exc.strerror or exc}; free some space (or fix the folder) "
        "and try again"
    )


def read_key(path: Path) -> bytes | None:
    """A key file's bytes; None if there is none; :class:`KeyFileError` if it cannot be used."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyFileError(unusable(path, f"cannot be read ({exc.strerror or exc})")) from None
    if not data.strip():
        raise KeyFileError(unusable(path, "is empty: it was cut short (a full disk?)"))
    return data


def write_new(path: Path, data: bytes) -> bool:
    """Make ``path`` hold ``data`` (0600) unless it exists; False if it did (another process won).

    The file appears whole or not at all: a hard link of a finished, fsynced temporary file.
    """
    tmp = _write_temp(path, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return True


def replace(path: Path, data: bytes) -> None:
    """Make ``path`` hold ``data`` (0600), replacing what is there in one rename."""
    tmp = _write_temp(path, data)
    try:
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _write_temp(path: Path, data: bytes) -> Path:
    """A new temporary file beside ``path`` (0600 from the start) holding all of ``data``, fsynced."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return tmp


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (a power cut must not bring the old name back)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a folder
        pass
    finally:
        os.close(fd)
