"""Session migration, server side: a real session file shipped through the ingest API is
continued as a commis job that resumes it (fake claude/codex CLIs that check the resume),
in a clone at the session's commit with the uploaded uncommitted changes; one
continuation at a time; bad input refused with nothing stored."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import threading
from pathlib import Path

import pytest
from django.test import Client

from agents_ingest.shipper.patch import work_state
from tests.fakes.drive import BIN
from tests.ingest_batch import post_ingest
from tests.procs import wait_for

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
CLAUDE_SID = "5ed31c36-bca8-40fd-8d24-f1a1f0af7901"
CLAUDE_FILE = (
    FIXTURES / "claude" / "real_projects" / "-Users-dain-workspace-danieldemmel-me-next" / f"{CLAUDE_SID}.jsonl"
)
CODEX_SID = "019e1625-789d-76c0-80ab-3724b5ddb799"
CODEX_FILE = FIXTURES / "codex" / f"rollout-2026-05-11T11-26-55-{CODEX_SID}.jsonl"
LAPTOP_CWD = "/Users/dain/workspace/danieldemmel.me-next"  # the cwd recorded in the Claude fixture

pytestmark = pytest.mark.skipif(not CLAUDE_FILE.exists(), reason="shared fixtures not present")


def git(cwd, *args) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def make_repos(tmp_path: Path) -> dict:
    """An "origin" repo (two commits on main) and a laptop clone on branch work: commit A (pushed),
    an unpushed commit C, an uncommitted edit and an untracked file."""
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    (origin / "README.md").write_text("hello\n")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "A")
    a = git(origin, "rev-parse", "HEAD")
    (origin / "later.txt").write_text("a later commit on main\n")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "B")
    laptop = tmp_path / "laptop"
    git(tmp_path, "clone", "-q", f"file://{origin}", str(laptop))
    git(laptop, "checkout", "-q", "-b", "work", a)
    (laptop / "README.md").write_text("hello\nunpushed line\n")
    git(laptop, "commit", "-q", "-am", "C (not pushed)")
    c = git(laptop, "rev-parse", "HEAD")
    (laptop / "README.md").write_text("hello\nunpushed line\nuncommitted line\n")
    (laptop / "notes.txt").write_text("untracked notes\n")
    return {"origin": origin, "url": f"file://{origin}", "laptop": laptop, "a": a, "c": c}


@pytest.fixture
def device(db):
    from zerg_site.auth.tokens import create_token
    from zerg_site.models import ApiToken

    _, secret = create_token("laptop", kind=ApiToken.DEVICE)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def ship(device: Client, provider: str, path: str, data: bytes, git_info: dict | None = None) -> dict:
    body = {
        "device": "laptop",
        "files": [
            {
                "provider": provider,
                "path": path,
                "offset": 0,
                "generation": 0,
                "data": data.decode("utf-8"),
                "git": git_info,
            }
        ],
    }
    r = post_ingest(device, body)
    assert r.status_code == 200, r.content
    return r.json()


def ship_claude(device, repos=None) -> int:
    git_info = {"remote": repos["url"], "branch": "work", "commit": repos["c"]} if repos else None
    answer = ship(
        device, "claude", f"/home/owner/.claude/projects/-laptop/{CLAUDE_SID}.jsonl", CLAUDE_FILE.read_bytes(), git_info
    )
    return answer["files"][0]["session_id"]


def upload_patch(client: Client, repos: dict, cwd: str = LAPTOP_CWD):
    state = work_state(str(repos["laptop"]))
    body = {**state.meta(), "cwd": cwd, "patch_b64": base64.b64encode(state.patch).decode()}
    return client.post("/api/migrate/patch", json.dumps(body), content_type="application/json"), state


@pytest.fixture
def fake_clis(monkeypatch, tmp_path, settings):
    import dataclasses

    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="sk-test", openai_api_key="sk-test")
    record, resumed = tmp_path / "record.jsonl", tmp_path / "resumed.jsonl"
    monkeypatch.setenv("ZERG_CLAUDE_BIN", str(BIN / "claude"))
    monkeypatch.setenv("ZERG_CODEX_BIN", str(BIN / "codex"))
    monkeypatch.setenv("FAKE_CLI_RECORD", str(record))
    monkeypatch.setenv("FAKE_CLI_RESUME_RECORD", str(resumed))
    for var in ("FAKE_CLI_FAIL", "FAKE_CLI_SLEEP", "FAKE_CLI_IGNORE_TERM", "FAKE_CLI_CHILD"):
        monkeypatch.delenv(var, raising=False)
    return record, resumed


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def continue_(client, session_id, **body):
    return client.post(
        f"/api/migrate/sessions/{session_id}/continue", json.dumps(body), content_type="application/json"
    )


@pytest.mark.django_db(transaction=True)
def test_it_continues_a_claude_session_in_a_clone_at_its_commit_with_the_local_changes(
    device, token_client, fake_clis, tmp_path
):
    from commis.models import Job
    from commis.runner import run_job
    from timeline.models import Session

    record, resumed = fake_clis
    repos = make_repos(tmp_path)
    sid = ship_claude(device, repos)
    r, state = upload_patch(device, repos)
    assert r.status_code == 200, r.content
    assert state.base_commit == repos["a"]  # C is not on the remote: the patch carries it
    # the laptop's own index is untouched (the patch is built with a throwaway one)
    assert git(repos["laptop"], "diff", "--cached", "--name-only") == ""
    assert git(repos["laptop"], "ls-files", "--others") == "notes.txt"
    events_before = Session.objects.get(id=sid).event_count

    r = continue_(token_client, CLAUDE_SID, prompt="keep going: finish the refactor")
    assert r.status_code == 200, r.content
    job = Job.objects.get(id=r.json()["job"]["id"])
    assert job.backend == "claude" and job.task == "keep going: finish the refactor"
    assert job.options["continues_session"] == sid and job.options["resume_session"] == CLAUDE_SID
    assert job.repo_url == repos["url"]

    # a second continuation while the first is queued: refused, nothing spawned
    again = continue_(token_client, str(sid), prompt="another")
    assert again.status_code == 409
    assert f"already being continued by job {job.id}" in again.json()["detail"]
    assert Job.objects.count() == 1

    assert run_job(job.id) == Job.SUCCEEDED, Job.objects.get(id=job.id).summary
    job.refresh_from_db()
    argv = lines(record)[0]["argv"]
    assert argv[argv.index("--resume") + 1] == CLAUDE_SID
    assert argv[-1] == "keep going: finish the refactor"
    check = lines(resumed)[0]
    work = Path(job.workspace)
    # the restored file, byte for byte, where Claude Code looks for it (project dir of the cwd)
    assert check["exists"] and check["sha256"] == hashlib.sha256(CLAUDE_FILE.read_bytes()).hexdigest()
    assert Path(check["path"]).parent.name == "".join(c if c.isalnum() else "-" for c in str(work))
    # the workspace: the session's base commit, plus one commit with the laptop's changes, clean
    assert check["cwd"] == str(work) and check["git_status"] == ""
    assert check["git_branch"] == job.branch == f"zerg/{job.id}"
    assert git(work, "rev-parse", "HEAD~1") == repos["a"]
    assert check["git_head"] == job.base_commit == git(work, "rev-parse", "HEAD")
    assert (work / "README.md").read_text() == "hello\nunpushed line\nuncommitted line\n"
    assert (work / "notes.txt").read_text() == "untracked notes\n"
    assert not (work / "later.txt").exists()
    # diff.patch is what the continuation did, not the laptop's changes
    diff = (Path(job.artifacts_dir) / "diff.patch").read_text()
    assert "greeting.txt" in diff and "notes.txt" not in diff

    # the new turns are in the same Timeline session
    assert Session.objects.filter(provider="claude", provider_session_id=CLAUDE_SID).count() == 1
    assert job.session_id == CLAUDE_SID
    assert Session.objects.get(id=sid).event_count > events_before

    # the session can be continued again now; the status endpoint lists the job
    info = token_client.get(f"/api/migrate/sessions/{sid}").json()
    assert info["active"] is None and [j["id"] for j in info["jobs"]] == [job.id] and info["can_continue"]
    source = token_client.get(f"/api/migrate/sessions/{sid}/source").json()
    assert source["job"]["id"] == job.id and "greeting.txt" in base64.b64decode(source["diff_b64"]).decode()
    assert source["original"]["commit"] == repos["a"] and source["file_name"] == f"{CLAUDE_SID}.jsonl"


@pytest.mark.django_db(transaction=True)
def test_it_continues_a_codex_rollout_and_its_turns_arrive_while_it_runs(device, token_client, fake_clis, monkeypatch):
    from commis.models import Job
    from commis.runner import run_job
    from timeline.models import Session

    _, resumed = fake_clis
    sid = ship(device, "codex", f"/home/owner/.codex/sessions/2026/05/11/{CODEX_FILE.name}", CODEX_FILE.read_bytes())[
        "files"
    ][0]["session_id"]
    before = Session.objects.get(id=sid).event_count
    r = continue_(token_client, CODEX_SID, prompt="now the tests", workspace="scratch")
    assert r.status_code == 200, r.content
    job_id = r.json()["job"]["id"]

    monkeypatch.setenv("FAKE_CLI_SLEEP", "30")
    result = {}
    runner = threading.Thread(target=lambda: result.update(status=run_job(job_id)))
    runner.start()
    try:
        # the first new turn is in the Timeline while the CLI is still running
        wait_for(lambda: Session.objects.get(id=sid).event_count > before, 30, message="live ingest")
        assert Job.objects.get(id=job_id).status == Job.RUNNING
    finally:
        from commis import jobs

        jobs.cancel(job_id)
        runner.join(60)
    check = lines(resumed)[0]
    assert check["exists"] and check["sha256"] == hashlib.sha256(CODEX_FILE.read_bytes()).hexdigest()
    assert check["path"].endswith(f"/sessions/2026/05/11/{CODEX_FILE.name}")
    assert Session.objects.filter(provider="codex", provider_session_id=CODEX_SID).count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_fails_the_job_clearly_when_the_commit_is_not_on_the_remote(device, token_client, fake_clis, tmp_path):
    from commis.models import Job
    from commis.runner import run_job

    repos = make_repos(tmp_path)
    ship_claude(device, repos)  # git commit C was never pushed, and no patch was uploaded
    job_id = continue_(token_client, CLAUDE_SID, prompt="go").json()["job"]["id"]
    assert run_job(job_id) == Job.FAILED
    summary = Job.objects.get(id=job_id).summary
    assert repos["c"][:12] in summary and "is not on" in summary and "zerg migrate" in summary


def test_it_refuses_what_cannot_be_continued(device, token_client, tmp_path):
    from agents_ingest.models import WorkspacePatch
    from commis.models import Job

    sid = ship_claude(device)  # no git info, and its cwd is not on this server
    assert continue_(token_client, "no-such-session", prompt="x").status_code == 404
    r = continue_(token_client, sid, prompt="x", workspace="clone")
    assert r.status_code == 400 and "no git remote" in r.json()["detail"]
    r = continue_(token_client, sid, prompt="x", workspace="cwd")
    assert r.status_code == 400 and "does not exist on the server" in r.json()["detail"]
    assert continue_(token_client, sid, workspace="nowhere").status_code == 400
    sub = next((FIXTURES / "claude" / "real_projects" / "-experiments-worktrees").glob("*/subagents/agent-*.jsonl"))
    body = {
        "device": "laptop",
        "files": [
            {
                "provider": "claude",
                "path": f"/l/{sub.parent.parent.name}/subagents/{sub.name}",
                "data": sub.read_text(encoding="utf-8"),
                "parent_session": sub.parent.parent.name,
            }
        ],
    }
    sub_id = post_ingest(device, body).json()["files"][0]["session_id"]
    r = continue_(token_client, sub_id, prompt="x")
    assert r.status_code == 400 and "subagent" in r.json()["detail"]
    assert (
        Client().post(f"/api/migrate/sessions/{sid}/continue", "{}", content_type="application/json").status_code == 401
    )
    # a device token may upload patches and ship, never start a continuation
    assert continue_(device, sid, prompt="x").status_code == 401
    assert Job.objects.count() == 0

    # bad patches: 400 and nothing stored
    good = {"device": "laptop", "cwd": LAPTOP_CWD, "base_commit": "a" * 40, "patch_b64": ""}
    for bad, needle in (
        ({"patch_b64": "%%%"}, "base64"),
        ({"base_commit": "main"}, "commit id"),
        ({"patch_b64": base64.b64encode(b"rm -rf /").decode()}, "git diff"),
        ({"cwd": ""}, "cwd"),
    ):
        r = device.post("/api/migrate/patch", json.dumps({**good, **bad}), content_type="application/json")
        assert r.status_code == 400 and needle in r.json()["detail"], r.content
    assert WorkspacePatch.objects.count() == 0
    assert Client().post("/api/migrate/patch", json.dumps(good), content_type="application/json").status_code == 401


def test_it_ships_with_an_api_token_for_zerg_migrate(device, token_client):
    from timeline.export import export_bytes
    from timeline.models import Session

    body = {
        "device": "laptop",
        "files": [
            {
                "provider": "claude",
                "path": f"/l/{CLAUDE_SID}.jsonl",
                "offset": 0,
                "data": CLAUDE_FILE.read_text(encoding="utf-8"),
            }
        ],
    }
    assert post_ingest(device, body, url="/api/migrate/ingest").status_code == 401
    r = post_ingest(token_client, body, url="/api/migrate/ingest")
    assert r.status_code == 200 and r.json()["lines_stored"] == len(CLAUDE_FILE.read_bytes().splitlines())
    session = Session.objects.get(provider_session_id=CLAUDE_SID)
    assert session.device == "laptop" and export_bytes(session) == CLAUDE_FILE.read_bytes()
    r = post_ingest(token_client, b"{not json\n", url="/api/migrate/ingest", encoding="identity")
    assert r.status_code == 400 and Session.objects.count() == 1
    r = token_client.post("/api/migrate/ingest", json.dumps(body), content_type="application/json")
    assert r.status_code == 415 and Session.objects.count() == 1
