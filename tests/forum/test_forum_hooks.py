"""The Forum follows commis jobs (a thread per job: spawned, started, finished), posts failed
scheduled runs, and starts follow-up commis from the owner's replies. Real shell jobs (and the
fake Claude CLI), run in-process the way tests/commis/test_commis_jobs.py runs them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from commis import jobs
from commis.backends.sessionfiles import COMMIS_DEVICE
from commis.models import Job
from commis.runner import run_job
from commis.workspaces import job_dir
from forum import services
from forum.models import Claim, Post, Thread
from timeline.models import Session

pytestmark = pytest.mark.django_db(transaction=True)


def shell(task: str, **kw) -> Job:
    return jobs.spawn(task, "shell", enqueue_task=False, **kw)


def texts(thread_id: int) -> list[str]:
    return list(Post.objects.filter(thread_id=thread_id).values_list("text", flat=True))


def test_it_gives_every_job_a_thread_that_follows_it_to_the_end():
    job = shell("echo hello > out.txt; echo all done")
    thread_id = services.job_thread(job.id)
    thread = Thread.objects.get(id=thread_id)
    assert thread.board.slug == "commis" and thread.title == f"#{job.id} echo hello > out.txt; echo all done"
    assert "**Spawned**" in texts(thread_id)[0] and "echo hello" in texts(thread_id)[0]
    services.claim("out.txt", f"commis-{job.id}", "writing it")
    assert run_job(job.id) == Job.SUCCEEDED
    spawned, started, finished = texts(thread_id)
    assert started.startswith("**Started** attempt 1")
    assert finished.startswith("**succeeded**") and "exit 0" in finished and "> all done" in finished
    assert f"[Diff](/api/commis/jobs/{job.id}/diff)" in finished and f"[Job page](/commis/{job.id})" in finished
    assert "Released its claims: `out.txt`" in finished and not Claim.objects.exists()
    posts = services.read_thread(thread_id)["posts"]
    assert {p["author"] for p in posts} == {f"commis-{job.id}"}
    assert f'href="/api/commis/jobs/{job.id}/diff"' in posts[-1]["html"]


def test_a_failed_scheduled_job_also_posts_in_the_schedules_board():
    ok = shell("true", origin="schedule", origin_ref="nightly-backup")
    run_job(ok.id)
    assert not Thread.objects.filter(board__slug="schedules").exists()  # success stays in its own thread
    for _ in range(2):
        bad = shell("echo disk full; exit 3", origin="schedule", origin_ref="nightly-backup")
        assert run_job(bad.id) == Job.FAILED
    thread = Thread.objects.get(board__slug="schedules")
    assert thread.title == "Schedule nightly-backup" and thread.post_count == 2
    last = texts(thread.id)[-1]
    assert f"[commis #{bad.id}](/commis/{bad.id}) failed" in last and "exit 3" in last and "disk full" in last
    assert services.read_board("schedules")["threads"][0]["unread"] == 2


def test_the_owners_reply_in_a_finished_thread_continues_the_job_in_its_workspace():
    job = shell("echo one > notes.txt")
    thread_id = services.job_thread(job.id)
    services.post(thread_id, "a note from a commis, not a follow-up", "commis", "99")
    assert run_job(job.id) == Job.SUCCEEDED
    reply = services.post(thread_id, "echo two >> notes.txt; cat notes.txt | tr '\\n' ' '", "owner")
    [started] = reply["followups"]
    follow = Job.objects.get(id=started["followup"])
    assert started["job"] == job.id and started["thread"] == services.job_thread(follow.id)
    assert follow.origin == "forum" and follow.origin_ref == str(reply["id"]) and follow.backend == "shell"
    assert follow.workdir == str(job_dir(job.id) / "work") and follow.task.startswith("echo two")
    assert f"Started follow-up [commis #{follow.id}](/commis/{follow.id})" in texts(thread_id)[-1]
    own = texts(started["thread"])
    assert f"a [Forum reply](/forum/t/{thread_id}#post-{reply['id']})" in own[0]
    assert f"Follow-up of [commis #{job.id}](/commis/{job.id}) ([its thread](/forum/t/{thread_id}))" in own[1]
    assert run_job(follow.id) == Job.SUCCEEDED
    follow.refresh_from_db()
    assert follow.summary.strip() == "one two" and Path(follow.workspace) == job_dir(job.id) / "work"


def test_a_mention_continues_that_job_and_a_running_job_is_left_alone():
    done = shell("echo first")
    run_job(done.id)
    busy = shell("sleep 30")
    Job.objects.filter(id=busy.id).update(status=Job.RUNNING)
    general = services.new_thread("general", "coordination", "hi", "owner")
    result = services.post(general["id"], f"@commis-{done.id} echo again and @commis-{busy.id}", "owner")
    ok, refused = result["followups"]
    assert ok["job"] == done.id and Job.objects.get(id=ok["followup"]).task == "echo again and"
    assert refused == {"job": busy.id, "error": f"commis {busy.id} is still running"}
    notes = texts(general["id"])
    assert any("is still running: no follow-up started" in n for n in notes)
    # a commis mentioning a job does not start anything
    assert services.post(general["id"], f"@commis-{done.id} hi", "commis", "5")["followups"] == []
    assert Job.objects.filter(origin="forum").count() == 1


def test_a_claude_followup_resumes_the_session():
    job = jobs.spawn("write the docs", "claude", enqueue_task=False, options={"model": "m1"})
    work = job_dir(job.id) / "work"
    work.mkdir(parents=True)
    Job.objects.filter(id=job.id).update(
        status=Job.SUCCEEDED, session_id="sess-123", workspace=str(work), summary="wrote half"
    )
    thread_id = services.job_thread(job.id)
    [started] = services.post(thread_id, "now the other half", "owner")["followups"]
    follow = Job.objects.get(id=started["followup"])
    assert follow.backend == "claude" and follow.task == "now the other half"
    assert follow.options == {"model": "m1", "resume_session": "sess-123"} and follow.workdir == str(work)
    assert "resuming session `sess-123`" in texts(started["thread"])[1]
    # once the Timeline holds the session, the follow-up asks commis to restore its file
    # (commis ingests a job's session file as its own device; a device's session of that id is not it)
    Session.objects.create(provider="claude", provider_session_id="sess-123", device="laptop")
    session = Session.objects.create(provider="claude", provider_session_id="sess-123", device=COMMIS_DEVICE)
    [again] = services.post(thread_id, "and the index", "owner")["followups"]
    assert Job.objects.get(id=again["followup"]).options == {
        "model": "m1",
        "resume_session": "sess-123",
        "continues_session": session.id,
    }


def test_an_agent_followup_gets_the_old_task_and_summary():
    job = jobs.spawn("fix the bug", "agent", enqueue_task=False)
    Job.objects.filter(id=job.id).update(status=Job.FAILED, summary="tests still red")
    [started] = services.post(services.job_thread(job.id), "try again with the logs", "owner")["followups"]
    follow = Job.objects.get(id=started["followup"])
    assert (
        "fix the bug" in follow.task and "tests still red" in follow.task and "try again with the logs" in follow.task
    )
    assert "resume_session" not in follow.options


def test_a_claude_followup_really_resumes_the_session_in_a_new_job(monkeypatch, settings, tmp_path):
    """With the fake Claude CLI: the follow-up's CLI finds the first job's session file (restored
    from the Timeline into its own config dir) and runs in the first job's workspace."""
    import json

    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="sk-test-key")
    bin_dir = Path(__file__).resolve().parents[1] / "fakes" / "bin"
    record, resumed = tmp_path / "record.jsonl", tmp_path / "resume.jsonl"
    monkeypatch.setenv("ZERG_CLAUDE_BIN", str(bin_dir / "claude"))
    monkeypatch.setenv("FAKE_CLI_RECORD", str(record))
    monkeypatch.setenv("FAKE_CLI_RESUME_RECORD", str(resumed))
    for var in ("FAKE_CLI_FAIL", "FAKE_CLI_SLEEP", "FAKE_CLI_IGNORE_TERM", "FAKE_CLI_CHILD"):
        monkeypatch.delenv(var, raising=False)

    job = jobs.spawn("Create the greeting file.", "claude", enqueue_task=False)
    assert run_job(job.id) == Job.SUCCEEDED
    job.refresh_from_db()
    [started] = services.post(services.job_thread(job.id), "Now say goodbye too.", "owner")["followups"]
    follow = Job.objects.get(id=started["followup"])
    assert run_job(follow.id) == Job.SUCCEEDED, follow.summary
    follow.refresh_from_db()
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    argv = calls[-1]["argv"]
    assert argv[argv.index("--resume") + 1] == job.session_id and argv[-1] == "Now say goodbye too."
    assert calls[-1]["cwd"] == job.workspace and follow.workspace == job.workspace
    [resume] = [json.loads(line) for line in resumed.read_text().splitlines()]
    assert resume["exists"] and resume["session_id"] == job.session_id


def test_a_forum_failure_never_breaks_the_callers_transaction(monkeypatch):
    """A schedule spawns its job inside its own transaction: if the Forum's receiver fails
    there, the job and the caller's later statements still commit (on Postgres too)."""
    from django.db import transaction

    from forum import hooks

    def broken(*args, **kwargs):
        Thread.objects.raw("SELECT no_such_column FROM forum_thread")[0]  # a real database error

    monkeypatch.setattr(hooks, "ensure_job_thread", broken)
    with transaction.atomic():
        job = shell("echo inside")
        Job.objects.filter(id=job.id).update(summary="still usable")
    assert Job.objects.get(id=job.id).summary == "still usable"
    assert services.job_thread(job.id) is None
