"""The ``codex`` backend: the Codex CLI headless.

    codex exec --json --skip-git-repo-check --full-auto -C WORKSPACE [-m M] PROMPT
    codex exec --json ... resume SESSION PROMPT          (a re-run continues its session)

Each job gets its own ``CODEX_HOME`` (``<job dir>/state/codex-home``); the login of the
user running zerg (``~/.codex/auth.json``) and its ``config.toml`` are copied in. An
API key comes from ``OPENAI_API_KEY`` / ``CODEX_API_KEY`` or ``[llm] openai_api_key``.
Success: a ``turn.completed`` record, no ``turn.failed``, exit code 0.

Cost: the usage of its ``turn.completed`` records at Zerg's prices (``timeline.pricing``), at the
job's ``model`` option, else the model its session file's last ``turn_context`` names (``codex
exec --json`` does not say it); no model, no price (unknown, never guessed).

Job options: ``model``, ``sandbox`` (instead of ``--full-auto``: read-only,
workspace-write, danger-full-access), ``resume_session``, ``continues_session`` (see
``commis/continuation.py``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from commis.backends import sessionfiles
from commis.backends.base import BackendUnavailable
from commis.backends.cliagent import CLIAgentBackend, continue_prompt, copy_if_missing, zerg_config
from commis.backends.streamjson import CodexStreamParser
from timeline.pricing import response_cost

INSTALL_HINT = "install Codex: npm install -g @openai/codex"
NO_CREDENTIALS = (
    "Codex has no credentials: set OPENAI_API_KEY (or CODEX_API_KEY) or [llm] openai_api_key in config.toml, "
    "or log in once with `codex login` as the user running zerg"
)


def user_codex_home() -> Path:
    return Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")


class CodexBackend(CLIAgentBackend):
    name = "codex"
    binary_name = "codex"
    binary_env = "ZERG_CODEX_BIN"
    install_hint = INSTALL_HINT

    def make_parser(self):
        return CodexStreamParser()

    def api_key(self) -> str:
        return zerg_config().openai_api_key or os.environ.get("CODEX_API_KEY", "")

    def check(self, job) -> None:
        self.binary = self.find_binary()
        if not self.api_key() and not (user_codex_home() / "auth.json").is_file():
            raise BackendUnavailable(NO_CREDENTIALS)

    def command(self, job, workspace):
        if not self.binary:
            self.check(job)
        self.cwd = Path(workspace.path)
        self.config_dir = Path(workspace.state) / "codex-home"
        self.config_dir.mkdir(parents=True, exist_ok=True)
        for name in ("auth.json", "config.toml"):
            copy_if_missing(user_codex_home() / name, self.config_dir)
        self.restore(job, self.config_dir, self.cwd)

        argv = [self.binary, "exec", "--json", "--skip-git-repo-check", "-C", str(workspace.path)]
        sandbox = self.option(job, "sandbox")
        argv += ["-s", str(sandbox)] if sandbox else ["--full-auto"]
        if self.option(job, "model"):
            argv += ["-m", str(self.option(job, "model"))]
        prompt = job.task
        resume = self.resume_id(job)
        if resume:
            if resume == (job.session_id or "") and not self.option(job, "resume_session"):
                prompt = continue_prompt(job)
            argv += ["resume", resume]
        argv += ["--", prompt]

        env = {"CODEX_HOME": str(self.config_dir), "ZERG_JOB_ID": str(job.id), "ZERG_WORKSPACE": str(workspace.path)}
        key = self.api_key()
        if key:
            env.setdefault("OPENAI_API_KEY", key)
            env.setdefault("CODEX_API_KEY", key)
        if zerg_config().openai_base_url:
            env["OPENAI_BASE_URL"] = zerg_config().openai_base_url
        return argv, env

    def resume_id(self, job) -> str:
        explicit = self.option(job, "resume_session")
        if explicit:
            return str(explicit)
        sid = getattr(job, "session_id", "") or ""
        if sid and (getattr(job, "attempts", 1) or 1) > 1 and self.config_dir is not None:
            if sessionfiles.find_codex_session_file(self.config_dir, sid):
                return sid
        return ""

    def session_file(self):
        if self.config_dir is None:
            return None
        return sessionfiles.find_codex_session_file(self.config_dir, self.parser.session_id)

    def spent(self, job) -> float | None:
        """The usage of the ``turn.completed`` records so far at the job's model option (``codex exec
        --json`` reports usage only when a turn completes, and names no model: without the option the
        cost is known only at the end, from the session file)."""
        model = str(self.option(job, "model") or "")
        return response_cost("codex", model, self.parser.usage) if model and self.parser.usage else None

    def on_exit(self, job, workspace, exit_code: int):
        outcome = super().on_exit(job, workspace, exit_code)
        model = str(self.option(job, "model") or "") or session_model(outcome.session_file)
        if outcome.usage and model:
            outcome.cost_usd = response_cost("codex", model, outcome.usage)
        return outcome


def session_model(path) -> str:
    """The model of the last ``turn_context`` of a Codex session file ("" if none or unreadable)."""
    model = ""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if '"turn_context"' not in line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                found = (record.get("payload") or {}).get("model") if isinstance(record, dict) else None
                model = found if isinstance(found, str) else model
    except (OSError, TypeError, AttributeError):
        return ""
    return model[:100]
