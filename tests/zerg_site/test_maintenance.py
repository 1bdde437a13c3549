"""Maintenance: the commands run, and they are django-q2 schedules exactly once however often Zerg starts."""

from __future__ import annotations

import ast
import json
import logging
import sqlite3
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_q.models import Schedule, Task
from django_q.tasks import async_task

from agents_ingest.ingest import FileChunk, ingest_files
from tests.commis_helpers import query
from tests.procs import ZergServer, wait_for
from timeline.search import search
from zerg_site.maintenance import JOBS, RUN_COMMAND, SCHEDULE_PREFIX, ensure_schedules

COMMANDS = {"prune_events", "prune_workspaces", "checkpoint_wal", "optimize_search"}


def maintenance_schedules() -> dict[str, Schedule]:
    found = list(Schedule.objects.filter(name__startswith=SCHEDULE_PREFIX))
    return {ast.literal_eval(s.args): s for s in found}


def test_it_schedules_each_command_once_and_keeps_the_owners_off_switch(db):
    assert set(ensure_schedules()) == {SCHEDULE_PREFIX + c for c in COMMANDS}
    assert ensure_schedules() == []
    schedules = maintenance_schedules()
    assert set(schedules) == COMMANDS and Schedule.objects.filter(name__startswith=SCHEDULE_PREFIX).count() == 4
    assert schedules["checkpoint_wal"].schedule_type == Schedule.HOURLY
    assert {schedules[c].schedule_type for c in COMMANDS - {"checkpoint_wal"}} == {Schedule.DAILY}
    first_runs = {c: s.next_run for c, s in schedules.items()}

    # A duplicate (left by anything) goes; a damaged row is repaired; "Repeats 0" (off) stays off.
    Schedule.objects.create(name=SCHEDULE_PREFIX + "prune_events", func="x", args="'prune_events'")
    Schedule.objects.filter(id=schedules["optimize_search"].id).update(func="broken.func", schedule_type="O")
    Schedule.objects.filter(id=schedules["prune_workspaces"].id).update(repeats=0)
    assert ensure_schedules() == []
    again = maintenance_schedules()
    assert Schedule.objects.filter(name__startswith=SCHEDULE_PREFIX).count() == 4
    assert again["optimize_search"].func == RUN_COMMAND
    assert again["optimize_search"].schedule_type == Schedule.DAILY
    assert again["prune_workspaces"].repeats == 0 and again["prune_events"].repeats == -1
    assert {c: s.next_run for c, s in again.items()} == first_runs  # a restart does not reschedule


def test_it_runs_every_scheduled_command_through_django_q(transactional_db, caplog):
    ensure_schedules()
    results = {}
    with caplog.at_level(logging.INFO, logger="zerg.maintenance"):
        for command, schedule in maintenance_schedules().items():
            args = ast.literal_eval(schedule.args)  # as django-q2's scheduler reads them
            task_id = async_task(schedule.func, *(args if isinstance(args, tuple) else (args,)), sync=True)
            task = Task.objects.get(id=task_id)
            assert task.success, (command, task.result)
            results[command] = task.result
    assert set(results) == COMMANDS
    assert results["prune_events"].startswith("pruned ") and "search index" in results["optimize_search"]
    assert f"prune_workspaces: {results['prune_workspaces']}" in caplog.text  # the output goes to the log


def test_it_fails_the_task_when_a_command_fails(transactional_db):
    with pytest.raises(CommandError, match="Unknown command"):  # sync mode re-raises what fails the task
        async_task(RUN_COMMAND, "no_such_command", sync=True)


def test_it_checkpoints_and_truncates_the_wal(transactional_db):
    from zerg_site.models import Event

    Event.objects.bulk_create([Event(topic="t", kind="k", payload={"n": i}) for i in range(500)])
    out = StringIO()
    call_command("checkpoint_wal", stdout=out)
    if connection.vendor == "sqlite":
        assert "WAL checkpointed and truncated" in out.getvalue()
        assert Path(connection.settings_dict["NAME"] + "-wal").stat().st_size == 0
    else:
        assert "nothing to do" in out.getvalue()


def fts_pages() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM timeline_event_fts_data")
        return cursor.fetchone()[0]


def test_it_merges_the_search_index_and_search_still_finds(transactional_db):
    if connection.vendor == "sqlite":
        # Start from an empty index: earlier tests' writes leave segments that automerge may
        # already have merged with these (the test database outlives each test's rows).
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO timeline_event_fts(timeline_event_fts) VALUES ('delete-all')")
    for n in range(30):  # one ingest, one transaction, one FTS5 segment each
        line = {
            "type": "user",
            "uuid": f"u{n}",
            "timestamp": "2026-01-01T00:00:00Z",
            "cwd": "/w/opt",
            "message": {"role": "user", "content": f"optimize the wombat{n} index please"},
        }
        ingest_files(
            "laptop", [FileChunk("claude", f"/h/.claude/projects/-w-opt/s{n}.jsonl", json.dumps(line).encode() + b"\n")]
        )
    before = fts_pages() if connection.vendor == "sqlite" else None
    out = StringIO()
    call_command("optimize_search", stdout=out)
    assert "search index" in out.getvalue()
    if before is not None:
        assert fts_pages() < before, out.getvalue()
        call_command("optimize_search", "--full", stdout=out)
    assert [hit["session"]["provider_session_id"] for hit in search("wombat17")["hits"]] == ["s17"]


def make_due(env: dict, name: str) -> None:
    """Set a schedule's next run in the past, in the server's database (SQLite file or Postgres)."""
    sql, params = "UPDATE django_q_schedule SET next_run = ? WHERE name = ?", ("2000-01-01 00:00:00+00:00", name)
    if env.get("DATABASE_URL"):
        import psycopg

        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
            conn.execute(sql.replace("?", "%s"), params)
        return
    with sqlite3.connect(Path(env["ZERG_HOME"]) / "zerg.db", timeout=20) as conn:  # commits on exit
        conn.execute(sql, (params[0][:19], name))
    conn.close()


@pytest.mark.slow
def test_it_has_the_schedules_once_after_two_starts_and_the_cluster_runs_them(zerg_env, tmp_path):
    checkpoint = SCHEDULE_PREFIX + "checkpoint_wal"
    for attempt in (1, 2):  # each start: zerg serve and its worker both ensure them
        server = ZergServer(zerg_env, log_dir=tmp_path / f"logs{attempt}")
        try:
            server.start()
            server.wait_worker()
            if attempt == 2:  # make one due: django-q2's scheduler (every 30 s) hands it to a worker
                make_due(zerg_env, checkpoint)
                wait_for(
                    lambda: query(zerg_env, 'SELECT success FROM django_q_task WHERE "group" = ?', (checkpoint,)),
                    timeout=90,
                    interval=1,
                    message="the scheduled task",
                )
        finally:
            server.close()
    found = query(
        zerg_env, "SELECT name, func, args FROM django_q_schedule WHERE name LIKE ?", (SCHEDULE_PREFIX + "%",)
    )
    assert sorted(found) == sorted((job.name, RUN_COMMAND, repr(job.command)) for job in JOBS)
    assert [
        bool(row[0]) for row in query(zerg_env, 'SELECT success FROM django_q_task WHERE "group" = ?', (checkpoint,))
    ] == [True]
    log = (Path(zerg_env["ZERG_HOME"]) / "logs" / "zerg.log").read_text()
    assert "INFO zerg.maintenance: checkpoint_wal: " in log
