"""The ``claude`` backend: Claude Code headless.

    claude -p --output-format stream-json --verbose --permission-mode MODE \
        [--model M] [--allowedTools ...] [--resume SESSION] -- PROMPT

Each job gets its own ``CLAUDE_CONFIG_DIR`` (``<job dir>/state/claude-config``), so
sessions of parallel jobs never collide and a re-run finds its session to ``--resume``.
The login of the user running zerg (``~/.claude/.credentials.json``) is copied in;
``ANTHROPIC_API_KEY`` comes from the environment or ``[llm] anthropic_api_key``.
Success is the result record's ``is_error == false`` (not its subtype).

Job options: ``model``, ``allowed_tools`` (list or comma string), ``permission_mode``
(default "bypassPermissions"; as root, where Claude Code refuses it, "acceptEdits" with
DEFAULT_ALLOWED_TOOLS), ``resume_session`` (continue that session instead of a
new one), ``max_turns``; ``continues_session`` (a Timeline session continued on the
server: its file is restored into the config dir first, see ``commis/continuation.py``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from commis.backends import sessionfiles
from commis.backends.base import BackendUnavailable
from commis.backends.cliagent import CLIAgentBackend, continue_prompt, copy_if_missing, zerg_config
from commis.backends.streamjson import ClaudeStreamParser

INSTALL_HINT = "install Claude Code: npm install -g @anthropic-ai/claude-code"
NO_CREDENTIALS = (
    "Claude Code has no credentials: set ANTHROPIC_API_KEY or [llm] anthropic_api_key in config.toml, "
    "or log in once with `claude` (or `claude setup-token`) as the user running zerg"
)
DEFAULT_ALLOWED_TOOLS = [
    "Bash",
    "Edit",
    "Write",
    "Read",
    "Glob",
    "Grep",
    "NotebookEdit",
    "WebFetch",
    "WebSearch",
    "TodoWrite",
    "Task",
]


def user_claude_dir() -> Path:
    return Path(os.environ.get("CLAUDE_CONFIG_DIR") or Path.home() / ".claude")


def has_login() -> bool:
    """Credentials other than an API key that Claude Code would use."""
    if any(
        os.environ.get(k)
        for k in (
            "ANTHROPIC_AUTH_TOKEN",
            "CLAUDE_CODE_OAUTH_TOKEN",
            "CLAUDE_CODE_USE_BEDROCK",
            "CLAUDE_CODE_USE_VERTEX",
        )
    ):
        return True
    if (user_claude_dir() / ".credentials.json").is_file():
        return True
    try:  # macOS keeps the token in the keychain; ~/.claude.json then names the account
        data = json.loads((Path.home() / ".claude.json").read_text(encoding="utf-8"))
        return bool(data.get("oauthAccount"))
    except (OSError, ValueError, AttributeError):
        return False


class ClaudeBackend(CLIAgentBackend):
    name = "claude"
    binary_name = "claude"
    binary_env = "ZERG_CLAUDE_BIN"
    install_hint = INSTALL_HINT

    def spent(self, job) -> float | None:
        return self.parser.cost_so_far()

    def make_parser(self):
        return ClaudeStreamParser()

    def check(self, job) -> None:
        self.binary = self.find_binary()
        if not zerg_config().anthropic_api_key and not has_login():
            raise BackendUnavailable(NO_CREDENTIALS)

    def command(self, job, workspace):
        if not self.binary:
            self.check(job)
        self.cwd = Path(workspace.path)
        self.config_dir = Path(workspace.state) / "claude-config"
        self.config_dir.mkdir(parents=True, exist_ok=True)
        copy_if_missing(user_claude_dir() / ".credentials.json", self.config_dir)
        self.restore(job, self.config_dir, self.cwd)

        mode, tools = self.permissions(job)
        argv = [self.binary, "-p", "--output-format", "stream-json", "--verbose", "--permission-mode", mode]
        if self.option(job, "model"):
            argv += ["--model", str(self.option(job, "model"))]
        if tools:
            argv += ["--allowedTools", ",".join(tools) if isinstance(tools, (list, tuple)) else str(tools)]
        if self.option(job, "max_turns"):
            argv += ["--max-turns", str(int(self.option(job, "max_turns")))]
        prompt = job.task
        resume = self.resume_id(job)
        if resume:
            argv += ["--resume", resume]
            if resume == (job.session_id or "") and not self.option(job, "resume_session"):
                prompt = continue_prompt(job)
        argv += ["--", prompt]

        env = {
            "CLAUDE_CONFIG_DIR": str(self.config_dir),
            "DISABLE_AUTOUPDATER": "1",
            "ZERG_JOB_ID": str(job.id),
            "ZERG_WORKSPACE": str(workspace.path),
        }
        key = zerg_config().anthropic_api_key
        if key:
            env["ANTHROPIC_API_KEY"] = key
        if os.environ.get("ANTHROPIC_BASE_URL"):
            env["ANTHROPIC_BASE_URL"] = os.environ["ANTHROPIC_BASE_URL"]
        return argv, env

    def permissions(self, job) -> tuple[str, list[str] | str | None]:
        """``(permission mode, allowed tools)``. Nobody answers prompts in a background job:
        by default every tool is allowed (bypassPermissions), except as root, where Claude
        Code refuses that mode; there it gets acceptEdits and DEFAULT_ALLOWED_TOOLS."""
        mode = self.option(job, "permission_mode")
        tools = self.option(job, "allowed_tools")
        if not mode:
            mode = "acceptEdits" if os.geteuid() == 0 else "bypassPermissions"
            if mode == "acceptEdits" and not tools:
                tools = DEFAULT_ALLOWED_TOOLS
        return str(mode), tools

    def resume_id(self, job) -> str:
        """The session to ``--resume``: an explicit ``resume_session`` option, or this job's
        own session on a re-run (attempt >= 2) when its session file exists (a session
        that never got written cannot be resumed: start afresh)."""
        explicit = self.option(job, "resume_session")
        if explicit:
            return str(explicit)
        sid = getattr(job, "session_id", "") or ""
        if sid and (getattr(job, "attempts", 1) or 1) > 1 and self.config_dir is not None:
            if sessionfiles.find_claude_session_file(self.config_dir, sid, self.cwd):
                return sid
        return ""

    def session_file(self):
        if self.config_dir is None:
            return None
        return sessionfiles.find_claude_session_file(self.config_dir, self.parser.session_id, self.cwd)
