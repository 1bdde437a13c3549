"""Property-based tests of the whole API from its own OpenAPI schema (schemathesis), run
against a live ``zerg serve`` with an API token: whatever the generated input, no 500, and
every answer is one the schema documents -- its status code, its content type and its body
(the response schemas of each app's ``schemas.py``; see tests/system/test_openapi_contract.py).

Schemathesis runs as its CLI (``st run``) so that it fuzzes the real HTTP stack (daphne,
middleware, auth) exactly as a client sees it; its report is kept under the test's
tmp dir and the failing cases are printed on failure. Bounded to about a minute: a fixed
number of examples per operation and a request timeout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.procs import ZergServer, create_token

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 12  # per operation and phase: ~55 operations, about a minute on a shared 2-core box
SEED = 20261126  # fixed, so a failure reproduces; change it to explore further

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance")

# Operations left out, each with its reason:
EXCLUDED = {
    # Revoking tokens by generated ids revokes the very token this run authenticates with
    # (ids are small and sequential), turning the rest of the run into 401s. Revocation is
    # covered by tests/zerg_site/test_tokens.py.
    "DELETE /api/tokens/{token_id}",
}


def schemathesis_cli() -> list[str]:
    found = shutil.which("st", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "schemathesis.cli"]


def test_it_answers_generated_requests_to_every_operation_as_its_schema_documents(zerg_env, tmp_path):
    # --no-worker: generated commis tasks (random text) are queued and stored, never run as
    # shell commands on this machine; the API under test is the same.
    server = ZergServer(zerg_env, log_dir=tmp_path / "serve", args=["--no-worker"])
    try:
        server.start()
        token = create_token(zerg_env)
        report = tmp_path / "schemathesis"
        command = [
            *schemathesis_cli(),
            "run",
            server.url + "/api/openapi.json",
            "-H",
            f"Authorization: Bearer {token}",
            "--checks",
            ",".join(CHECKS),
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--request-timeout",
            "20",
            "--workers",
            "2",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(report),
        ]
        for name in sorted(EXCLUDED):
            command += ["--exclude-name", name]
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=600, cwd=tmp_path)
        tracebacks = [line for line in server.stderr().splitlines() if "Internal Server Error" in line]
        assert done.returncode == 0 and not tracebacks, (
            f"schemathesis exit {done.returncode}\n{done.stdout[-12000:]}\n{done.stderr[-2000:]}\n"
            f"server errors:\n" + "\n".join(tracebacks[:20]) + f"\n{server.stderr()[-6000:]}"
        )
        assert "Tested: " in done.stdout, done.stdout[-3000:]
        assert server.proc.poll() is None and server.health() is not None
    finally:
        server.close()
