"""The shell backend: ``bash -c TASK`` in the workspace (backups, test runs, Sauron jobs).

Not a login shell (``-l``): /etc/profile may reset PATH, and the job should see the
server's environment (its venv, its PATH) plus ZERG_JOB_ID and ZERG_WORKSPACE.
"""

from __future__ import annotations

from commis.backends.base import Backend, require_binary


class ShellBackend(Backend):
    name = "shell"

    def check(self, job) -> None:
        self.bash = require_binary("bash", "install bash")

    def command(self, job, workspace):
        return [self.bash, "-c", job.task], {"ZERG_JOB_ID": str(job.id), "ZERG_WORKSPACE": str(workspace.path)}
