"""A hostile device token (issue 18, item 1): it writes only as its own device, only to its own
sessions, and nothing it ships reaches git as an option. Each test performs the attack through
the public API (the ingest, the patch upload, "Continue on server", spawning a job, the CLI)
and shows how it ends, with device A's stored data intact.

The original attack: device B ships device A's session id with ``"device": "A"``, a cwd, git
remote ``.`` and commit ``--upload-pack=touch /tmp/x;:``; the owner clicks "Continue on server"
and the worker ran ``git fetch --quiet origin --upload-pack=...`` in a clone of the server's
own checkout.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
from django.test import Client

from tests.ingest_batch import post_ingest
from tests.procs import base_env, run_zerg
from zerg_site.auth.tokens import create_token
from zerg_site.models import ApiToken

SID = "7f3c2a10-0000-4000-8000-00000000a001"
PATH_A = f"/home/a/.claude/projects/-home-a-proj/{SID}.jsonl"


def git(cwd, *args) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def line(uuid: str, text: str, cwd: str = "/home/a/proj") -> bytes:
    return (
        json.dumps(
            {
                "type": "user",
                "uuid": uuid,
                "sessionId": SID,
                "cwd": cwd,
                "gitBranch": "main",
                "message": {"role": "user", "content": text},
            }
        ).encode()
        + b"\n"
    )


def device_client(name: str) -> Client:
    _, secret = create_token(name, kind=ApiToken.DEVICE)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def ship(
    client: Client, path: str, data: bytes, git_info: dict | None = None, device: str | None = None, offset: int = 0
) -> dict:
    body = {
        "files": [
            {
                "provider": "claude",
                "path": path,
                "offset": offset,
                "generation": 0,
                "data": data.decode(),
                "git": git_info,
            }
        ]
    }
    if device is not None:
        body["device"] = device
    r = post_ingest(client, body)
    assert r.status_code == 200, r.content
    return r.json()


def continue_(client: Client, session_id, **body):
    return client.post(
        f"/api/migrate/sessions/{session_id}/continue", json.dumps(body), content_type="application/json"
    )


@pytest.fixture
def marker():
    """Where the attack's command would leave a file: a short path, as a commit column holds 64 characters."""
    import shutil
    import tempfile

    where = Path(tempfile.mkdtemp(prefix="zx"))
    yield where / "p"
    shutil.rmtree(where, ignore_errors=True)


@pytest.fixture
def origin(tmp_path) -> dict:
    """A real repository on the server that device A's session was cloned from."""
    repo = tmp_path / "origin"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("hello\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "A")
    return {"path": repo, "url": f"file://{repo}", "commit": git(repo, "rev-parse", "HEAD")}


@pytest.fixture
def device_a(db, origin) -> dict:
    """Device A's session: two lines, its remote and commit, as its own Shipper sends them."""
    from timeline.models import Session

    client = device_client("A")
    data = line("a1", "first on A") + line("a2", "second on A")
    answer = ship(client, PATH_A, data, {"remote": origin["url"], "branch": "main", "commit": origin["commit"]})
    session = Session.objects.get(id=answer["files"][0]["session_id"])
    return {"client": client, "data": data, "session": session, "snapshot": snapshot(session)}


def snapshot(session) -> dict:
    from timeline.export import export_bytes
    from timeline.models import Event, Session

    s = Session.objects.get(id=session.id)
    return {
        "row": (s.device, s.cwd, s.git_remote, s.git_branch, s.git_commit, s.event_count),
        "events": list(Event.objects.filter(session=s).order_by("ordinal").values_list("key", "text")),
        "files": sorted(s.files.values_list("device", "path", "generation")),
        "bytes": export_bytes(s),
    }


def test_it_stores_device_bs_session_apart_when_b_ships_as_device_a_with_as_session_id(device_a):
    from timeline.models import Session

    b = device_client("B")
    hostile = line("b1", "injected by B", cwd="/") + line("a2", "second on A", cwd="/")
    answer = ship(
        b, PATH_A, hostile, {"remote": ".", "branch": "main", "commit": "--upload-pack=touch /tmp/x;:"}, device="A"
    )
    # the token's name is the device, whatever the body says
    assert answer["device"] == "B"
    b_session = Session.objects.get(id=answer["files"][0]["session_id"])
    assert b_session.id != device_a["session"].id
    assert (b_session.device, b_session.provider_session_id) == ("B", SID)
    # B's option-like git values were not stored, and the answer says why
    assert (b_session.git_remote, b_session.git_commit) == ("", "")
    assert "is not a URL" in answer["files"][0]["ignored"][0]
    # a re-shipped, rewritten generation of the "same" file is B's file, in B's session
    rewritten = ship(b, PATH_A, line("b2", "rewritten by B"), device="A")
    assert rewritten["files"][0]["session_id"] == b_session.id
    assert snapshot(device_a["session"]) == device_a["snapshot"]
    assert Session.objects.filter(provider_session_id=SID).count() == 2


def test_it_shows_no_command_run_when_continue_on_server_meets_an_option_as_commit(
    device_a, token_client, origin, marker, monkeypatch
):
    from commis.models import Job

    attack = f"--upload-pack=touch {marker};:"
    monkeypatch.chdir(origin["path"])  # the server started inside a git checkout, as the quick start does
    # B's own session with remote "." (the server runs inside a git checkout) and the option as commit
    b = device_client("B")
    answer = ship(
        b, "/home/b/s.jsonl", line("b1", "continue me", cwd="/nowhere"), {"remote": ".", "commit": attack}, device="A"
    )
    assert answer["files"][0]["ignored"]
    r = continue_(token_client, answer["files"][0]["session_id"], prompt="go", workspace="clone")
    assert r.status_code == 400 and "no git remote to clone" in r.json()["detail"]

    # the same values stored before they were checked: refused at "Continue on server" with the reason
    from timeline.models import Session

    Session.objects.filter(id=answer["files"][0]["session_id"]).update(git_remote=".", git_commit=attack)
    r = continue_(token_client, answer["files"][0]["session_id"], prompt="go")
    assert r.status_code == 400
    assert "git remote '.' is not a URL" in r.json()["detail"] and "workspace=scratch" in r.json()["detail"]
    Session.objects.filter(id=answer["files"][0]["session_id"]).update(git_remote=origin["url"], git_commit=attack)
    r = continue_(token_client, answer["files"][0]["session_id"], prompt="go")
    assert r.status_code == 400 and "is not a git commit id" in r.json()["detail"]
    assert Job.objects.count() == 0 and not marker.exists()
    assert snapshot(device_a["session"]) == device_a["snapshot"]


@pytest.mark.django_db(transaction=True)
def test_it_fails_a_continuation_queued_with_an_option_as_commit_before_git_sees_it(origin, marker, monkeypatch):
    """A job queued before the checks (its options hold the option-like commit) fails in the worker."""
    from commis import jobs
    from commis.models import Job
    from commis.runner import run_job

    monkeypatch.chdir(origin["path"])
    client = device_client("A")
    sid = ship(client, PATH_A, line("a1", "hello"))["files"][0]["session_id"]
    job = jobs.spawn(
        "true",
        "shell",
        repo_url=origin["url"],
        options={
            "continues_session": sid,
            "resume_session": SID,
            "continue_from": {"device": "A", "remote": ".", "commit": f"--upload-pack=touch {marker};:"},
        },
    )
    assert run_job(job.id) == Job.FAILED
    summary = Job.objects.get(id=job.id).summary
    assert "not checking out the session's commit" in summary and "is not a git commit id" in summary
    assert not marker.exists()


@pytest.mark.django_db(transaction=True)
def test_it_fails_a_job_whose_stored_repo_url_is_an_option_without_running_it(db, marker):
    from commis.models import Job
    from commis.runner import run_job

    # a row stored before spawn refused such URLs
    job = Job.objects.create(task="true", backend="shell", repo_url=f"--upload-pack=touch {marker};:")
    assert run_job(job.id) == Job.FAILED
    assert "begins with '-'" in Job.objects.get(id=job.id).summary
    assert not marker.exists()


def test_it_refuses_a_repo_url_that_git_would_read_as_an_option(token_client, tmp_path):
    from commis.models import Job, Schedule

    attack = f"--upload-pack=touch {tmp_path / 'pwned'};:"
    r = token_client.post(
        "/api/commis/jobs",
        json.dumps({"task": "true", "backend": "shell", "repo_url": attack}),
        content_type="application/json",
    )
    assert r.status_code == 400 and "begins with '-'" in r.json()["detail"]
    r = token_client.post(
        "/api/schedules",
        json.dumps({"name": "nightly", "task": "true", "interval": "1h", "repo_url": attack}),
        content_type="application/json",
    )
    assert r.status_code == 400 and "begins with '-'" in r.json()["detail"]
    assert Job.objects.count() == 0 and Schedule.objects.count() == 0


def test_it_refuses_an_option_as_repo_in_the_cli_with_exit_2(tmp_path):
    done = run_zerg(["spawn", "--repo=--upload-pack=touch /tmp/x;:", "true"], base_env(tmp_path / "home"))
    assert done.returncode == 2, done.stderr
    assert "begins with '-'" in done.stderr


def test_it_keeps_device_bs_patch_away_from_device_as_session(device_a, token_client, origin):
    from agents_ingest.models import WorkspacePatch

    diff = b"diff --git a/README.md b/README.md\n"
    good = {
        "device": "A",
        "cwd": "/home/a/proj",
        "remote": origin["url"],
        "branch": "main",
        "base_commit": origin["commit"],
        "patch_b64": base64.b64encode(diff).decode(),
    }
    r = device_a["client"].post("/api/migrate/patch", json.dumps(good), content_type="application/json")
    assert r.status_code == 200
    mine = WorkspacePatch.objects.get(device="A")
    b = device_client("B")
    # option-like git values: refused with the field and the reason, nothing stored
    for bad, needle in (
        ({"base_commit": "--upload-pack=x"}, "base_commit: '--upload-pack=x' is not a git commit"),
        ({"remote": "."}, "remote: git remote '.' is not a URL"),
        ({"remote": "ext::sh -c touch% /tmp/x"}, "remote: git remote"),
        ({"head_commit": "-x"}, "head_commit"),
    ):
        r = b.post("/api/migrate/patch", json.dumps({**good, **bad}), content_type="application/json")
        assert r.status_code == 400 and needle in r.json()["detail"], r.content
    # B naming device A: stored as B's own patch, never A's
    r = b.post(
        "/api/migrate/patch",
        json.dumps({**good, "patch_b64": base64.b64encode(diff + b"evil\n").decode()}),
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["device"] == "B"
    theirs = WorkspacePatch.objects.get(device="B")
    assert WorkspacePatch.objects.get(id=mine.id).sha256 == mine.sha256
    # A's continuation never takes B's patch: named, it is refused; by default it takes A's
    r = continue_(token_client, device_a["session"].id, prompt="go", patch_id=theirs.id)
    assert r.status_code == 400 and "uploaded by device 'B'" in r.json()["detail"]
    info = token_client.get(f"/api/migrate/sessions/{device_a['session'].id}").json()
    assert info["patch"]["id"] == mine.id
    assert snapshot(device_a["session"]) == device_a["snapshot"]


def test_it_never_resumes_or_pulls_another_devices_file_linked_before_the_fix(device_a, token_client):
    from django.utils import timezone

    from timeline.models import Session, SourceFile

    b = device_client("B")
    b_id = ship(b, "/home/b/copy.jsonl", line("b1", "from B"))["files"][0]["session_id"]
    # pre-fix data: B's file linked to A's session, and the most recently shipped one
    SourceFile.objects.filter(device="B").update(session_id=device_a["session"].id, updated_at=timezone.now())
    source = token_client.get(f"/api/migrate/sessions/{device_a['session'].id}/source").json()
    assert source["size"] == len(device_a["data"])
    export = token_client.get(f"/api/timeline/sessions/{device_a['session'].id}/export")
    assert b"".join(export.streaming_content) == device_a["data"]
    # B's next lines go to B's own session, not A's
    more = ship(b, "/home/b/copy.jsonl", line("b2", "more from B"), offset=len(line("b1", "from B")))
    assert more["files"][0]["session_id"] != device_a["session"].id
    assert Session.objects.get(id=device_a["session"].id).event_count == device_a["snapshot"]["row"][-1]
    assert Session.objects.filter(id=b_id).exists()


def test_it_asks_which_device_when_two_devices_shipped_the_same_session_id(device_a, token_client):
    b = device_client("B")
    ship(b, f"/home/b/.claude/projects/-x/{SID}.jsonl", line("b1", "B's session of the same id"))
    r = token_client.get(f"/api/migrate/sessions/{SID}/source")
    assert r.status_code == 409 and "several devices" in r.json()["detail"]
    r = token_client.get(f"/api/migrate/sessions/{SID}/source?device=A")
    assert r.status_code == 200 and r.json()["session"]["id"] == device_a["session"].id
    r = continue_(token_client, SID, prompt="go", workspace="scratch")
    assert r.status_code == 409


def test_it_refuses_a_device_token_named_as_the_servers_own_commis_device(zerg_env):
    """Files of commis's own device are what a continuation may resume: no device token may write as it."""
    from commis.backends.sessionfiles import COMMIS_DEVICE

    done = run_zerg(["token", "create", "--device", COMMIS_DEVICE], zerg_env)
    assert done.returncode != 0 and "the server's own device name" in done.stderr
    listed = run_zerg(["token", "list", "--json"], zerg_env)
    assert listed.returncode == 0 and COMMIS_DEVICE not in listed.stdout
