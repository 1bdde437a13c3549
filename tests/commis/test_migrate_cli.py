"""``zerg migrate`` and ``zerg pull`` end to end: a laptop (its own HOME, a git clone with
unpushed and uncommitted work, a real Claude Code session file) against a real
``zerg serve`` whose worker resumes the session with the fake claude CLI."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from tests.commis.test_migrate_continue import CLAUDE_FILE, CLAUDE_SID, LAPTOP_CWD, git, make_repos
from tests.commis_helpers import commis_env, job, query, wait_status
from tests.fakes.drive import BIN
from tests.procs import ZergServer, base_env, create_token, http_json, run_zerg, zerg_command

pytestmark = pytest.mark.skipif(not CLAUDE_FILE.exists(), reason="shared fixtures not present")


def laptop_zerg(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        zerg_command(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


def test_it_migrates_the_newest_session_of_this_directory_and_pulls_it_back(tmp_path):
    repos = make_repos(tmp_path)
    laptop = repos["laptop"]
    # The real session file, relocated to the laptop's repository (only its cwd differs).
    session_bytes = CLAUDE_FILE.read_bytes().replace(LAPTOP_CWD.encode(), str(laptop).encode())
    home = tmp_path / "laptop-home"
    project = home / ".claude" / "projects" / "".join(c if c.isalnum() else "-" for c in str(laptop))
    project.mkdir(parents=True)
    local_file = project / f"{CLAUDE_SID}.jsonl"
    local_file.write_bytes(session_bytes)
    resumed = tmp_path / "resumed.jsonl"

    with commis_env(
        tmp_path / "server-home",
        ZERG_CLAUDE_BIN=str(BIN / "claude"),
        ANTHROPIC_API_KEY="sk-test",
        FAKE_CLI_RESUME_RECORD=str(resumed),
        FAKE_CLI_SLEEP="2",
    ) as env:
        server = ZergServer(env, log_dir=tmp_path / "logs")
        try:
            server.start()
            token = create_token(env)
            me = base_env(tmp_path / "laptop-zerg", HOME=str(home), ZERG_SERVER=server.url, ZERG_TOKEN=token)
            for var in ("CLAUDE_CONFIG_DIR", "CODEX_HOME"):
                me.pop(var, None)

            # `zerg ship` with a device token ships the session and the repository's uncommitted changes
            done = run_zerg(["token", "create", "--device", "laptop", "--json"], env)
            device_token = json.loads(done.stdout)["token"]
            done = laptop_zerg(["connect", server.url, "--token", device_token, "--device", "laptop"], me, laptop)
            assert done.returncode == 0, done.stderr
            done = laptop_zerg(["ship", "--once"], me, laptop)
            assert done.returncode == 0, done.stderr
            assert query(env, "SELECT device, cwd, base_commit, head_commit FROM agents_ingest_workspacepatch") == [
                ("laptop", str(laptop), repos["a"], repos["c"])
            ]

            # a laptop without an API token gets told what to do
            done = laptop_zerg(["migrate", "--prompt", "x"], {**me, "ZERG_TOKEN": ""}, laptop)
            assert done.returncode != 0 and "API token" in done.stderr

            # (the laptop's directory exists on this "server" too: with the state just uploaded, a clone wins)
            done = laptop_zerg(["migrate", "--prompt", "keep going: finish the refactor", "--json"], me, laptop)
            assert done.returncode == 0, done.stderr
            answer = json.loads(done.stdout)
            job_id, sid = answer["job"]["id"], answer["session"]["id"]
            assert answer["session"]["provider_session_id"] == CLAUDE_SID
            assert "carrying" in done.stderr

            # while it is queued or running, a second migration is refused
            again = laptop_zerg(["migrate", CLAUDE_SID, "--workspace", "clone", "--json"], me, laptop)
            if again.returncode == 0:  # (the first one had already finished: let the second one end too)
                assert job(env, job_id)["status"] not in ("queued", "running")
                wait_status(env, json.loads(again.stdout)["job"]["id"], ("succeeded", "failed"), timeout=120)
            else:
                assert "already being continued" in again.stderr

            final = wait_status(env, job_id, ("succeeded", "failed"), timeout=120)
            assert final["status"] == "succeeded", final["summary"]
            check = json.loads(resumed.read_text().splitlines()[0])
            assert check["session_id"] == CLAUDE_SID
            assert check["sha256"] == hashlib.sha256(session_bytes).hexdigest()
            work = Path(final["workspace"])
            assert git(work, "rev-parse", "HEAD~1") == repos["a"] and check["git_status"] == ""
            assert (work / "notes.txt").exists()

            # hand it back: the continued file replaces the local one, the changes are applied
            done = laptop_zerg(["pull", CLAUDE_SID, "--json"], me, laptop)
            assert done.returncode == 0, done.stderr
            pulled = json.loads(done.stdout)
            assert pulled["file"] == str(local_file) and pulled["applied"] and pulled["backup"] is None
            status, _ = http_json(f"{server.url}/api/timeline/sessions/{sid}", token=token)
            assert status == 200
            continued = local_file.read_bytes()
            assert continued.startswith(session_bytes) and len(continued) > len(session_bytes)
            assert (laptop / "greeting.txt").read_text() == "hello\n"
            assert (laptop / "notes.txt").exists()  # the laptop's own work is untouched

            # a local file that went its own way is kept aside, not lost
            local_file.write_bytes(b'{"diverged": true}\n')
            done = laptop_zerg(["pull", CLAUDE_SID, "--no-apply", "--json"], me, laptop)
            assert done.returncode == 0, done.stderr
            pulled = json.loads(done.stdout)
            assert Path(pulled["backup"]).read_bytes() == b'{"diverged": true}\n' and not pulled["applied"]
            assert local_file.read_bytes() == continued

            # unknown sessions: a clear error, nothing written
            done = laptop_zerg(["pull", "no-such-session"], me, laptop)
            assert done.returncode != 0 and "404" in done.stderr
        finally:
            server.close()


def test_it_migrates_on_the_server_itself_through_the_database(tmp_path):
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    # the job waits in the queue (no worker here); spawning it needs a claude the server can run
    with commis_env(tmp_path / "zerg-home", HOME=str(home), ZERG_CLAUDE_BIN=str(BIN / "claude")) as env:
        env.pop("CLAUDE_CONFIG_DIR", None)
        done = laptop_zerg(["migrate", "no-such-session"], env, tmp_path)
        assert done.returncode != 0 and "no local Claude Code or Codex session 'no-such-session'" in done.stderr
        done = laptop_zerg(["migrate", "--prompt", "x"], env, tmp_path)
        assert done.returncode != 0 and f"no Claude Code or Codex session was started in {tmp_path}" in done.stderr

        done = laptop_zerg(["migrate", str(CLAUDE_FILE), "--workspace", "scratch", "--json"], env, tmp_path)
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert answer["job"]["options"]["resume_session"] == CLAUDE_SID and answer["job"]["status"] == "queued"
        # a second one while the first waits in the queue: refused, nothing spawned
        done = laptop_zerg(["migrate", str(CLAUDE_FILE)], env, tmp_path)
        assert done.returncode != 0 and f"already being continued by job {answer['job']['id']}" in done.stderr
        assert query(env, "SELECT COUNT(*) FROM commis_job")[0][0] == 1
