"""Budgets: a job stopped at its own budget, and nothing new started while the day's or the month's
spend is over its budget (issue 21).

Real parts: the real database, the real runner with the fake Claude Code CLI (known usage: its
first response is 42 input tokens at the recorded model's price, $0.00021), Sauron's ``fire_due``
with a controlled clock, the API through Django's test client, Oikos's approval gate. What has
been spent is a finished commis job with a known cost (spend counts jobs on the day they finished).
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from commis import jobs, sauron
from commis.models import Job, Schedule, ScheduleMiss, ScheduleRun
from zerg_site import budget
from zerg_site.models import BudgetSetting, Event

BIN = Path(__file__).parents[1] / "fakes" / "bin"
MINUTE = timedelta(minutes=1)


def spent_today(cost: float) -> Job:
    """A finished job that cost ``cost`` today: what the day's spend adds up."""
    now = timezone.now()
    return Job.objects.create(
        task="earlier work", backend="shell", status=Job.SUCCEEDED, cost_usd=cost, started_at=now, finished_at=now
    )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def post(client, url, body):
    return client.post(url, json.dumps(body) if not isinstance(body, str) else body, content_type="application/json")


def put(client, url, body):
    return client.put(url, json.dumps(body) if not isinstance(body, str) else body, content_type="application/json")


@pytest.fixture
def fake_claude(monkeypatch, tmp_path, settings):
    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="sk-test-key", heartbeat_interval=0.3)
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("ZERG_CLAUDE_BIN", str(BIN / "claude"))
    monkeypatch.setenv("FAKE_CLI_RECORD", str(record))
    for var in ("FAKE_CLI_FAIL", "FAKE_CLI_SLEEP", "FAKE_CLI_IGNORE_TERM", "FAKE_CLI_CHILD", "FAKE_CLI_RESULT"):
        monkeypatch.delenv(var, raising=False)
    return record


# --- a job's own budget


@pytest.mark.django_db(transaction=True)
def test_it_stops_a_claude_job_whose_cost_passes_its_budget_and_kills_its_process_group(fake_claude, monkeypatch):
    """The CLI's first response already costs more than the job may: the job is stopped mid-run (the CLI
    ignores SIGTERM and has a child: the whole group is killed), its status and summary say so."""
    from commis.backends.claude import ClaudeBackend
    from commis.runner import run_job
    from zerg_site.attention import items
    from zerg_site.push.receivers import job_notice

    monkeypatch.setattr(ClaudeBackend, "kill_grace", 1.0)
    monkeypatch.setenv("FAKE_CLI_IGNORE_TERM", "1")
    monkeypatch.setenv("FAKE_CLI_CHILD", "1")
    monkeypatch.setenv("FAKE_CLI_SLEEP", "120")  # it would go on for two minutes
    job = jobs.spawn("Create the greeting file.", "claude", enqueue_task=False, budget_usd=0.0001)
    result = {}

    def target():
        from django.db import connection

        try:
            result["status"] = run_job(job.id)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    assert result["status"] == Job.OVER_BUDGET
    rec = json.loads(fake_claude.read_text().splitlines()[0])
    assert not pid_alive(rec["pid"]) and not pid_alive(rec["child_pid"])
    job.refresh_from_db()
    assert job.status == "over_budget"
    assert job.cost_usd == pytest.approx(0.00021)  # 42 input tokens of its first response
    assert job.summary.startswith("over budget: cost $0.00021 passed its budget $0.0001")
    assert job.usage == {} or job.usage.get("input_tokens", 0) <= 42
    log = (Path(job.artifacts_dir) / "log.txt").read_text()
    assert "passed its budget $0.0001: stopping it" in log and "=== zerg: over_budget" in log
    stopped = Event.objects.get(kind="budget.job_stopped", topic=f"commis:{job.id}")
    assert stopped.payload == {"job": job.id, "cost_usd": job.cost_usd, "budget_usd": 0.0001}
    # the owner hears of it: a push like a failed commis, and a needs-attention item
    assert job_notice(job) == ("job_failed", f"Commis #{job.id} over budget", job.summary)
    found, _ = items()
    assert any(i["key"] == f"job:{job.id}" and i["title"] == f"Commis #{job.id} over budget" for i in found)


@pytest.mark.django_db(transaction=True)
def test_it_stops_a_codex_job_once_its_turn_reports_usage_over_budget(monkeypatch, settings, tmp_path):
    """Codex reports usage only when a turn completes: the job ends over_budget with the figure."""
    from commis.runner import run_job

    settings.ZERG = dataclasses.replace(settings.ZERG, openai_api_key="sk-test-key", heartbeat_interval=0.3)
    monkeypatch.setenv("ZERG_CODEX_BIN", str(BIN / "codex"))
    monkeypatch.setenv(
        "FAKE_CLI_RESULT",
        json.dumps({"usage": {"input_tokens": 1_000_000, "cached_input_tokens": 0, "output_tokens": 0}}),
    )
    for var in ("FAKE_CLI_FAIL", "FAKE_CLI_SLEEP", "FAKE_CLI_RECORD"):
        monkeypatch.delenv(var, raising=False)
    job = jobs.spawn("Say hi.", "codex", enqueue_task=False, budget_usd=0.5, options={"model": "gpt-5"})
    assert run_job(job.id) == Job.OVER_BUDGET
    job.refresh_from_db()
    assert job.cost_usd == pytest.approx(1.25)  # a million input tokens of gpt-5 at $1.25
    assert job.summary.startswith("over budget: cost $1.25 passed its budget $0.50")


@pytest.mark.django_db(transaction=True)
def test_it_lets_a_job_within_its_budget_finish(fake_claude):
    from commis.runner import run_job

    job = jobs.spawn("Create the greeting file.", "claude", enqueue_task=False, budget_usd=1.0)
    assert run_job(job.id) == Job.SUCCEEDED
    job.refresh_from_db()
    assert job.cost_usd == 0.00077 and not Event.objects.filter(kind__startswith="budget.").exists()


# --- the day's and the month's budget


@pytest.mark.django_db(transaction=True)
def test_it_skips_a_scheduled_run_over_the_daily_budget_and_records_why():
    from commis import schedules

    budget.save(10.0, None)
    spent_today(12.3)
    start = timezone.now().replace(second=0, microsecond=0)
    s = schedules.add("nightly", task="true", interval="1m", budget_usd=2.0)
    Schedule.objects.filter(id=s.id).update(next_run_at=start)
    assert sauron.fire_due(s.id, start + timedelta(seconds=1)) == 0
    assert not ScheduleRun.objects.filter(schedule=s).exists()
    miss = ScheduleMiss.objects.get(schedule=s)
    assert (miss.count, miss.first_at, miss.last_at) == (1, start, start)
    assert miss.reason == "budget: today's spend $12.30 is over its daily budget $10.00; not started"
    assert Schedule.objects.get(id=s.id).next_run_at == start + MINUTE  # the due time is accounted for
    event = Event.objects.get(kind="budget.schedule_skipped", topic=f"schedule:{s.id}")
    assert event.payload["schedule"] == "nightly" and event.payload["daily"]["spent_usd"] == 12.3
    # under budget again (the owner raised it): the next due time runs, with the schedule's run budget
    budget.save(20.0, None)
    assert sauron.fire_due(s.id, start + MINUTE + timedelta(seconds=1)) == 1
    run = ScheduleRun.objects.get(schedule=s)
    assert run.due_at == start + MINUTE and run.job.budget_usd == 2.0
    # every due time: one run or one record
    assert ScheduleRun.objects.filter(schedule=s).count() + sum(m.count for m in ScheduleMiss.objects.all()) == 2


@pytest.mark.django_db(transaction=True)
def test_it_answers_402_with_the_figures_over_the_monthly_budget_unless_overridden(token_client):
    budget.save(None, 5.0)
    spent_today(7.5)
    before = Job.objects.count()
    response = post(token_client, "/api/commis/jobs", {"task": "echo hi", "budget_usd": 1})
    assert response.status_code == 402, response.content
    body = response.json()
    assert body["detail"] == (
        "not spawned: this month's spend $7.50 is over its monthly budget $5.00; "
        "send override_budget: true to spawn anyway"
    )
    assert body["budget"]["monthly"] == {"budget_usd": 5.0, "spent_usd": 7.5, "partial": False, "over": True}
    assert Job.objects.count() == before
    assert Event.objects.filter(kind="budget.spawn_refused", topic="budget").count() == 1

    response = post(token_client, "/api/commis/jobs", {"task": "echo hi", "budget_usd": 1, "override_budget": True})
    assert response.status_code == 200, response.content
    job = response.json()
    assert job["budget_usd"] == 1.0
    assert (
        job["budget_note"] == "spawned by override although this month's spend $7.50 is over its monthly budget $5.00"
    )
    assert Event.objects.filter(kind="budget.overridden", topic=f"commis:{job['id']}").count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_refuses_a_bad_job_budget_with_a_clear_error_and_spawns_nothing(token_client):
    for bad in (0, -1, "ten"):
        response = post(token_client, "/api/commis/jobs", {"task": "echo hi", "budget_usd": bad})
        assert response.status_code in (400, 422), response.content
        assert "detail" in response.json()
    assert post(token_client, "/api/commis/jobs", {"task": "echo hi", "budget_usd": 0}).json()["detail"] == (
        "budget_usd must be an amount above 0 in US dollars, such as 2.50, got 0.0"
    )
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_does_not_kill_a_running_job_when_the_day_goes_over_budget():
    """The global budget stops new work only: a running job keeps running."""
    job = jobs.spawn("sleep 1", "shell", enqueue_task=False)
    Job.objects.filter(id=job.id).update(status=Job.RUNNING, started_at=timezone.now())
    budget.save(1.0, None)
    spent_today(3.0)
    assert budget.status().over
    assert Job.objects.get(id=job.id).status == Job.RUNNING


# --- the owner's setting


@pytest.mark.django_db(transaction=True)
def test_it_sets_the_budgets_from_settings_over_the_config(owner_client, settings):
    settings.ZERG = dataclasses.replace(settings.ZERG, budget_daily_usd=50.0, budget_monthly_usd=None)
    spent_today(1.25)
    got = owner_client.get("/api/budget").json()
    assert got["source"] == "config" and got["daily"] == {
        "budget_usd": 50.0,
        "spent_usd": 1.25,
        "partial": False,
        "over": False,
    }
    response = put(owner_client, "/api/budget", {"daily_usd": 1.0, "monthly_usd": 30})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["source"] == "settings" and body["daily"]["over"] and body["monthly"]["budget_usd"] == 30.0
    assert body["reason"] == "today's spend $1.25 is over its daily budget $1.00"
    assert Event.objects.filter(kind="budget.changed").count() == 1
    back = put(owner_client, "/api/budget", {"use_config": True}).json()
    assert back["source"] == "config" and back["daily"]["budget_usd"] == 50.0


@pytest.mark.django_db(transaction=True)
def test_it_refuses_a_bad_budget_and_keeps_the_one_saved(owner_client):
    assert put(owner_client, "/api/budget", {"daily_usd": 10, "monthly_usd": None}).status_code == 200
    for bad, status in (
        ({"daily_usd": -5}, 400),
        ({"daily_usd": 0}, 400),
        ({"monthly_usd": "lots"}, 422),
        ('{"daily_usd": NaN}', 400),
        ("[", 400),
    ):
        response = put(owner_client, "/api/budget", bad)
        assert response.status_code == status, (bad, response.content)
        assert "detail" in response.json()
    assert put(owner_client, "/api/budget", {"daily_usd": -5}).json()["detail"] == (
        "daily_usd must be an amount above 0 in US dollars, such as 10 or 2.50 (null for no budget), got -5.0"
    )
    row = BudgetSetting.objects.get()
    assert (row.daily_usd, row.monthly_usd) == (10.0, None)


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_budget_api_to_the_owner(client):
    assert client.get("/api/budget").status_code == 401
    assert put(client, "/api/budget", {"daily_usd": 1000}).status_code in (401, 403)
    assert not BudgetSetting.objects.exists()


# --- Oikos


@pytest.mark.django_db(transaction=True)
def test_it_makes_oikos_ask_before_spawning_over_budget():
    from oikos.tools import Context, needs_approval, spawn_commis

    call = {"id": "t1", "name": "spawn_commis", "input": {"task": "echo hi"}}
    assert needs_approval([call], 0) == []  # no budget: the usual rules
    budget.save(2.0, None)
    spent_today(2.5)
    risky = needs_approval([call], 0)
    assert risky == [(call, "spawn a commis although today's spend $2.50 is over its daily budget $2.00")]
    assert needs_approval([{"id": "t2", "name": "list_commis", "input": {}}], 0) == []  # reading is free
    # the owner approved: the job says why it was spawned anyway, and the thread has the event
    result = spawn_commis(Context(thread_id=7), task="echo hi", budget_usd=0.5)
    job = Job.objects.get(id=result.job_id)
    assert job.budget_usd == 0.5 and job.budget_note.startswith("spawned with the owner's approval in Oikos")
    assert "over its daily budget $2.00" in result.text
    assert Event.objects.filter(kind="budget.overridden", topic="oikos:7").count() == 1


def test_it_reads_a_budget_sentence_for_small_and_large_figures():
    assert budget.money(None) == "no budget"
    assert budget.money(1234.5) == "$1,234.50"
    assert budget.money(0.00021) == "$0.00021"
    assert budget.job_over(0.5, 0.5) and not budget.job_over(None, 0.5) and not budget.job_over(9.0, None)


# --- the CLI, as a real process


@pytest.mark.slow
def test_it_gives_jobs_and_schedule_runs_a_budget_from_the_cli_and_refuses_a_bad_one(zerg_env):
    from tests.procs import run_zerg

    done = run_zerg(["spawn", "echo hi", "--budget-usd", "0.5", "--json"], zerg_env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["budget_usd"] == 0.5
    done = run_zerg(
        ["schedule", "add", "nightly", "--cron", "0 3 * * *", "--budget-usd", "2", "--json", "--", "true"], zerg_env
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["budget_usd"] == 2.0
    bad = run_zerg(["schedule", "add", "other", "--interval", "1h", "--budget-usd", "-1", "--", "true"], zerg_env)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "zerg: budget_usd must be an amount above 0 in US dollars, such as 2.50, got -1.0"
    listed = run_zerg(["schedule", "list", "--json"], zerg_env)
    assert [s["name"] for s in json.loads(listed.stdout)] == ["nightly"]
    env = {**zerg_env, "ZERG_BUDGET_DAILY_USD": "ten dollars"}
    refused = run_zerg(["spawn", "echo hi"], env)
    assert refused.returncode != 0
    assert "environment variable ZERG_BUDGET_DAILY_USD: expected an amount in US dollars" in refused.stderr
