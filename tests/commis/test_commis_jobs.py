"""Commis jobs in-process: claim, run, cancel, timeout, duplicates, reclaim, workspaces."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from commis import jobs
from commis.backends import BACKENDS, get_backend
from commis.backends.base import Backend, BackendUnavailable
from commis.models import Job
from commis.runner import run_job
from zerg_site.heartbeat import pid_alive
from zerg_site.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fast_commis(settings):
    settings.ZERG = dataclasses.replace(settings.ZERG, heartbeat_interval=0.3, stale_threshold=3.0)


def shell(task: str, **kw) -> Job:
    return jobs.spawn(task, "shell", enqueue_task=False, **kw)


def run_in_thread(job_id: int) -> tuple[threading.Thread, dict]:
    result = {}

    def target():
        from django.db import connection

        try:
            result["status"] = run_job(job_id)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    return thread, result


def wait_status(job_id: int, statuses, timeout: float = 20) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(id=job_id)
        if job.status in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} is {Job.objects.get(id=job_id).status}, expected {statuses}")


def log_text(job: Job) -> str:
    return (Path(job.artifacts_dir) / "log.txt").read_text()


def test_shell_job_succeeds_with_log_and_events():
    job = shell("echo hello; echo world >&2; echo done > out.txt")
    assert job.status == Job.QUEUED
    assert run_job(job.id) == Job.SUCCEEDED
    job.refresh_from_db()
    assert job.status == Job.SUCCEEDED and job.exit_code == 0 and job.attempts == 1
    assert job.lease == "" and job.finished_at and job.started_at
    assert (Path(job.workspace) / "out.txt").read_text() == "done\n"
    assert Path(job.workspace) == Path(settings.ZERG.home) / "workspaces" / str(job.id) / "work"
    text = log_text(job)
    assert "hello" in text and "world" in text
    outputs = Event.objects.filter(topic=f"commis:{job.id}", kind="commis.output")
    lines = [e["text"] for row in outputs for e in row.payload["events"]]
    assert lines == ["hello", "world"]
    statuses = [
        e.payload["status"] for e in Event.objects.filter(topic="commis", kind="commis.status", payload__job=job.id)
    ]
    assert statuses[0] == "queued" and statuses[-1] == "succeeded" and "running" in statuses
    assert job.summary == "world"


def test_failing_command_is_a_failed_job():
    job = shell("no-such-binary-zerg --flag")
    assert run_job(job.id) == Job.FAILED
    job.refresh_from_db()
    assert job.exit_code == 127
    assert "not found" in job.summary


class Unavailable(Backend):
    name = "nope"

    def check(self, job):
        raise BackendUnavailable("install nope-cli: npm i -g nope")


def test_backend_check_failure_fails_at_once(monkeypatch):
    monkeypatch.setitem(BACKENDS, "nope", f"{__name__}.Unavailable")
    job = jobs.spawn("x", "nope", enqueue_task=False)
    assert run_job(job.id) == Job.FAILED
    job.refresh_from_db()
    assert job.summary == "install nope-cli: npm i -g nope" and job.attempts == 1


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError):
        jobs.spawn("x", "nonsense", enqueue_task=False)
    with pytest.raises(BackendUnavailable):
        get_backend("nonsense")


def test_duplicate_delivery_runs_once(tmp_path):
    marker = tmp_path / "runs"
    job = shell(f"echo run >> {marker}; sleep 1")
    results = []
    barrier = threading.Barrier(2)

    def deliver():
        from django.db import connection

        barrier.wait()
        results.append(run_job(job.id))
        connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    [t.start() for t in threads]
    [t.join(30) for t in threads]
    assert sorted(results) == ["duplicate", "succeeded"]
    assert marker.read_text() == "run\n"
    assert Job.objects.get(id=job.id).attempts == 1
    # a late redelivery of a finished job does nothing
    assert run_job(job.id) == "duplicate"


def test_cancel_kills_process_group_ignoring_sigterm(tmp_path):
    pidfile = tmp_path / "child.pid"
    # the child ignores SIGTERM; the grace period then SIGKILLs the whole group
    job = shell(f"bash -c 'trap \"\" TERM; echo $$ > {pidfile}; while true; do sleep 0.2; done' & wait")
    monkey_grace = 1.0
    from commis.backends import shell as shell_mod

    shell_mod.ShellBackend.kill_grace = monkey_grace
    try:
        thread, result = run_in_thread(job.id)
        wait_status(job.id, [Job.RUNNING])
        deadline = time.monotonic() + 10
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(pidfile.read_text())
        assert pid_alive(child)
        started = time.monotonic()
        jobs.cancel(job.id)
        thread.join(20)
        took = time.monotonic() - started
    finally:
        shell_mod.ShellBackend.kill_grace = 5.0
    assert result["status"] == Job.CANCELLED
    job.refresh_from_db()
    assert job.status == Job.CANCELLED and job.summary.startswith("cancelled")
    assert not pid_alive(child)
    assert took < 10


def test_cancel_queued_job_ends_it_at_once():
    job = shell("echo never")
    job = jobs.cancel(job.id)
    assert job.status == Job.CANCELLED
    assert run_job(job.id) == "duplicate"


def test_timeout_records_timed_out():
    job = shell("sleep 30", timeout=1)
    started = time.monotonic()
    assert run_job(job.id) == Job.TIMED_OUT
    assert time.monotonic() - started < 15
    job.refresh_from_db()
    assert job.status == Job.TIMED_OUT and "timed out after 1s" in job.summary


def test_stale_job_is_reclaimed_and_old_attempt_fenced(tmp_path):
    job = shell("sleep 30")
    thread, result = run_in_thread(job.id)
    wait_status(job.id, [Job.RUNNING])
    while not Job.objects.get(id=job.id).pid:
        time.sleep(0.05)
    leader = Job.objects.get(id=job.id).pid
    # Someone else takes the job over (as a reclaim after a stale heartbeat would). The attempt
    # beats every 0.3 s: a beat that lands between the backdating and the reclaim makes the job
    # fresh again, so backdate until a reclaim sees it stale.
    for _ in range(10):
        Job.objects.filter(id=job.id).update(heartbeat_at=timezone.now() - timedelta(seconds=60))
        reclaimed = jobs.reclaim(stale_only=True)
        if reclaimed:
            break
    # ...the old attempt notices at its next heartbeat or poll and stops its process group
    assert reclaimed == [job.id]
    thread.join(20)
    assert result["status"] == "lost_lease"
    job.refresh_from_db()
    assert job.status == Job.QUEUED and job.lease == "" and job.attempts == 1
    assert not pid_alive(leader)


def test_reclaim_gives_up_after_max_attempts():
    job = shell("sleep 1", max_attempts=1)
    Job.objects.filter(id=job.id).update(
        status=Job.RUNNING, lease="x", attempts=1, heartbeat_at=timezone.now() - timedelta(seconds=60)
    )
    assert jobs.reclaim() == [job.id]
    job.refresh_from_db()
    assert job.status == Job.FAILED and "gave up after 1 attempts" in job.summary


def test_reclaim_of_dead_worker_and_requeue_runs_again(tmp_path):
    from zerg_site.models import ProcessHeartbeat

    dead = ProcessHeartbeat.objects.create(
        kind="worker", name="worker:h:1:dead", host="h", pid=1, stopped_at=timezone.now()
    )
    job = shell(f"echo again >> {tmp_path / 'runs'}")
    Job.objects.filter(id=job.id).update(
        status=Job.RUNNING, lease="old", attempts=1, worker=dead.name, heartbeat_at=timezone.now()
    )
    assert jobs.reclaim(stale_only=True) == []  # the heartbeat is fresh
    assert jobs.reclaim() == [job.id]  # but its worker is gone
    assert run_job(job.id) == Job.SUCCEEDED
    job.refresh_from_db()
    assert job.attempts == 2


def git(*args, cwd):
    subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        },
    )


def test_git_workspace_branch_and_diff(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    (repo / "a.txt").write_text("one\n")
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "init", cwd=repo)
    job = shell("echo two >> a.txt; echo new > b.txt; git branch --show-current", repo_url=f"file://{repo}")
    assert run_job(job.id) == Job.SUCCEEDED
    job.refresh_from_db()
    assert job.branch == f"zerg/{job.id}" and job.summary == f"zerg/{job.id}" and len(job.base_commit) == 40
    patch = (Path(job.artifacts_dir) / "diff.patch").read_text()
    assert "+two" in patch and "b.txt" in patch and "+new" in patch


def test_bad_repo_fails_the_job(tmp_path):
    job = shell("true", repo_url=str(tmp_path / "missing"))
    assert run_job(job.id) == Job.FAILED
    assert "git clone failed" in Job.objects.get(id=job.id).summary


def test_workdir_runs_in_existing_dir(tmp_path):
    job = shell("pwd", workdir=str(tmp_path))
    assert run_job(job.id) == Job.SUCCEEDED
    assert Job.objects.get(id=job.id).summary == str(tmp_path)


def test_retry_runs_a_finished_job_again():
    job = shell("exit 3")
    assert run_job(job.id) == Job.FAILED
    job = jobs.retry(job.id)
    assert job.status == Job.QUEUED
    assert run_job(job.id) == Job.FAILED
    assert Job.objects.get(id=job.id).attempts == 2


def test_slot_usage_counts_running_jobs():
    from commis.slots import slot_usage

    a, _queued = shell("true"), shell("true")
    Job.objects.filter(id=a.id).update(status=Job.RUNNING)
    assert slot_usage() == {"max": settings.ZERG.max_concurrent, "running": 1, "queued": 1}


def test_prune_removes_old_finished_workspaces():
    from commis import workspaces

    job = shell("true")
    assert run_job(job.id) == Job.SUCCEEDED
    assert workspaces.prune(1) == []
    Job.objects.filter(id=job.id).update(finished_at=timezone.now() - timedelta(days=3))
    assert workspaces.prune(1) == [job.id]
    assert not workspaces.job_dir(job.id).exists()


def test_it_prunes_workspaces_by_the_retention_setting(settings, tmp_path):
    """prune_workspaces without --days follows [commis] workspace_retention_days (the daily
    maintenance schedule runs it so); --days still wins; a bad setting stops the start."""
    import io

    from django.core.management import call_command

    from commis import workspaces
    from zerg_site import config

    old, recent = shell("true"), shell("true")
    assert run_job(old.id) == Job.SUCCEEDED and run_job(recent.id) == Job.SUCCEEDED
    Job.objects.filter(id=old.id).update(finished_at=timezone.now() - timedelta(days=10))
    Job.objects.filter(id=recent.id).update(finished_at=timezone.now() - timedelta(days=3))
    settings.ZERG = dataclasses.replace(settings.ZERG, workspace_retention_days=7)
    out = io.StringIO()
    call_command("prune_workspaces", "--dry-run", stdout=out)
    assert out.getvalue().strip() == "would prune 1 workspaces of jobs finished more than 7 days ago"
    call_command("prune_workspaces", stdout=io.StringIO())
    assert not workspaces.job_dir(old.id).exists() and workspaces.job_dir(recent.id).exists()
    call_command("prune_workspaces", "--days", "2", stdout=io.StringIO())
    assert not workspaces.job_dir(recent.id).exists()

    home = {"ZERG_HOME": str(tmp_path)}
    assert config.load(home).workspace_retention_days == 14
    assert config.load({**home, "ZERG_WORKSPACE_RETENTION_DAYS": "30"}).workspace_retention_days == 30
    (tmp_path / "config.toml").write_text("[commis]\nworkspace_retention_days = 3\n")
    assert config.load(home).workspace_retention_days == 3
    (tmp_path / "config.toml").write_text("[commis]\nworkspace_retention_days = 0\n")
    with pytest.raises(config.ConfigError, match="workspace_retention_days"):
        config.load(home)


def test_push_option_commits_and_pushes_branch(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    (repo / "a.txt").write_text("one\n")
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "init", cwd=repo)
    job = shell("echo pushed > p.txt", repo_url=str(repo), options={"push": True})
    assert run_job(job.id) == Job.SUCCEEDED, Job.objects.get(id=job.id).summary
    shown = subprocess.run(["git", "show", f"zerg/{job.id}:p.txt"], cwd=repo, capture_output=True, text=True)
    assert shown.stdout == "pushed\n"
    assert "committed and pushed" in log_text(Job.objects.get(id=job.id))


def test_long_output_lines_are_capped_in_events_not_in_log():
    job = shell("python3 -c 'print(\"x\" * 100000)'")
    assert run_job(job.id) == Job.SUCCEEDED
    job.refresh_from_db()
    assert "x" * 100000 in log_text(job)
    texts = [
        e["text"]
        for row in Event.objects.filter(topic=f"commis:{job.id}", kind="commis.output")
        for e in row.payload["events"]
    ]
    assert len(texts[0]) < 17000 and texts[0].endswith("[100000 chars]")


def test_attempt_that_loses_its_lease_kills_its_group_and_writes_nothing():
    job = shell("sleep 30")
    thread, result = run_in_thread(job.id)
    wait_status(job.id, [Job.RUNNING])
    while not Job.objects.get(id=job.id).pid:
        time.sleep(0.05)
    leader = Job.objects.get(id=job.id).pid
    # another worker (on another machine) holds the job now
    Job.objects.filter(id=job.id).update(lease="someone-else", worker="worker:elsewhere:1:x")
    thread.join(20)
    assert result["status"] == "lost_lease"
    assert not pid_alive(leader)
    job.refresh_from_db()
    assert job.status == Job.RUNNING and job.lease == "someone-else"
