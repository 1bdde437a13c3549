"""What the ``claude`` and ``codex`` backends share: a binary found on PATH (or named by
an environment variable), a per-job config dir, a line parser and the session-file hook."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from django.conf import settings

from commis.backends import sessionfiles
from commis.backends.base import Backend, BackendUnavailable, JobEvent, Outcome, require_binary
from commis.continuation import ContinuationError, restore_session_file


def zerg_config():
    return settings.ZERG


def copy_if_missing(src: Path, dst_dir: Path) -> None:
    """Copy a login file (``.credentials.json``, ``auth.json``) into a per-job config dir once."""
    dst = dst_dir / src.name
    if src.is_file() and not dst.exists():
        shutil.copy2(src, dst)
        os.chmod(dst, 0o600)


CONTINUE_PROMPT = (
    "This job is being run again (attempt {attempt}): it was interrupted, or it is a retry. Check the "
    "workspace, continue where the work was left off (or redo what is missing), and finish the task. "
    "The task:\n\n{task}"
)


def continue_prompt(job) -> str:
    """The prompt for a re-run that resumes the CLI's session (after a crash or a retry)."""
    return CONTINUE_PROMPT.format(task=job.task, attempt=getattr(job, "attempts", 2))


class CLIAgentBackend(Backend):
    #: executable name and the env var that may name another path (tests, odd installs)
    binary_name = ""
    binary_env = ""
    install_hint = ""

    def __init__(self) -> None:
        self.parser = self.make_parser()
        self.binary = ""
        self.config_dir: Path | None = None
        self.cwd: Path | None = None
        self.live: sessionfiles.LiveIngest | None = None

    def make_parser(self):
        raise NotImplementedError

    def find_binary(self) -> str:
        override = os.environ.get(self.binary_env, "")
        if override:
            if not (os.path.isfile(override) and os.access(override, os.X_OK)):
                raise BackendUnavailable(
                    f"{self.binary_env}={override} is not an executable file",
                    reason=f"{self.binary_env} names no executable file on the server",
                    fix=f"point {self.binary_env} at the {self.binary_name} CLI, or unset it",
                )
            return override
        return require_binary(self.binary_name, self.install_hint)

    def probe(self) -> None:
        self.find_binary()

    def option(self, job, key: str, default=None):
        options = getattr(job, "options", None) or {}
        return options.get(key, default) if isinstance(options, dict) else default

    def on_output(self, job, line: str) -> list[JobEvent]:
        if line.strip():
            self._last_line = line
        events = self.parser.feed(line)
        if self.live is None and sessionfiles.is_job_row(job):
            self.live = sessionfiles.LiveIngest(self.name)
        if self.live is not None:
            self.live.poll(job, self.session_file)
        return events

    def restore(self, job, config_dir: Path, cwd: Path) -> None:
        """A continuation job (``continues_session``): put its session file in place first."""
        if not self.option(job, "continues_session"):
            return

        try:
            restore_session_file(job, self.name, config_dir, cwd)
        except (ContinuationError, OSError) as exc:
            raise BackendUnavailable(f"cannot restore the session to continue: {exc}") from None

    def session_file(self) -> Path | None:
        raise NotImplementedError

    def on_exit(self, job, workspace, exit_code: int) -> Outcome:
        outcome = self.parser.outcome(exit_code)
        path = None
        try:
            path = self.session_file()
        except OSError:
            path = None
        if path is not None:
            outcome.session_file = str(path)
            sessionfiles.session_file_ready(job, path, self.name)
        return outcome
