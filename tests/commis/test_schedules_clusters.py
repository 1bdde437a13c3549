"""Two real worker clusters (``zerg worker``) on one database: each due time runs once.

Both clusters register the django-q2 tick schedule at start; the test floods the shared
queue with tick tasks so both clusters' workers tick at the same moment, then lets the
django-q2 scheduler fire the next due time on its own. A second schedule, whose due times
passed while no cluster was up, is recorded as missed and run once (its run_once policy).
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.commis_helpers import commis_env, query
from tests.procs import REPO, run_zerg, wait_for, zerg_command

pytestmark = pytest.mark.slow


def execute(env: dict, sql: str, params=()) -> None:
    """Write to the clusters' database (the helper in commis_helpers only reads)."""
    url = env.get("DATABASE_URL")
    if url:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.replace("?", "%s"), params)
        return
    conn = sqlite3.connect(Path(env["ZERG_HOME"]) / "zerg.db", timeout=20)
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def db_time(env: dict, value: datetime):
    """A UTC datetime as the database column takes it (naive text on SQLite, aware on Postgres)."""
    return value if env.get("DATABASE_URL") else value.replace(tzinfo=None).isoformat(" ")


def runs(env: dict) -> list[tuple]:
    return query(
        env,
        "SELECT r.due_at, r.job_id FROM commis_schedulerun r JOIN commis_schedule s"
        " ON s.id = r.schedule_id WHERE s.name = 'dup' ORDER BY r.id",
    )


def test_it_fires_each_due_time_once_across_two_clusters(tmp_path):
    with commis_env(tmp_path / "home", ZERG_MAX_CONCURRENT="2") as env:
        done = run_zerg(["schedule", "add", "dup", "--cron", "* * * * *", "--json", "--", "echo", "fired"], env)
        assert done.returncode == 0, done.stderr
        # Down for hours: four due times passed with no worker up; run_once runs it once on start.
        done = run_zerg(["schedule", "add", "late", "--interval", "1h", "--missed", "run_once", "--", "true"], env)
        assert done.returncode == 0, done.stderr
        down = (datetime.now(UTC) - timedelta(hours=3, minutes=30)).replace(microsecond=0)
        execute(env, "UPDATE commis_schedule SET next_run_at = ? WHERE name = 'late'", (db_time(env, down),))

        logs = [open(tmp_path / f"worker{i}.log", "wb") for i in range(2)]
        workers = [
            subprocess.Popen(
                zerg_command("worker"), env=env, cwd=REPO, stdout=log, stderr=log, stdin=subprocess.DEVNULL
            )
            for log in logs
        ]
        try:
            wait_for(
                lambda: (
                    query(
                        env,
                        "SELECT COUNT(*) FROM zerg_site_processheartbeat WHERE kind = 'worker' AND stopped_at IS NULL",
                    )[0][0]
                    == 2
                ),
                60,
                interval=0.3,
                message="two live worker clusters",
            )
            assert query(env, "SELECT COUNT(*) FROM django_q_schedule WHERE func = 'commis.sauron.tick'")[0][0] == 1

            due = (datetime.now(UTC) - timedelta(seconds=5)).replace(microsecond=0)
            execute(env, "UPDATE commis_schedule SET next_run_at = ? WHERE name = 'dup'", (db_time(env, due),))
            flood = (
                "from zerg_site.cli.common import setup_django; setup_django(migrate=False);"
                "from django_q.tasks import async_task;"
                "[async_task('commis.sauron.tick', q_options={'group': 'flood'}) for _ in range(20)]"
            )
            subprocess.run([sys.executable, "-c", flood], env=env, cwd=REPO, check=True, timeout=120)
            wait_for(
                lambda: query(env, """SELECT COUNT(*) FROM django_q_task WHERE "group" = 'flood'""")[0][0] >= 20,
                120,
                interval=0.5,
                message="20 tick tasks done",
            )
            first = runs(env)
            # twenty ticks on two clusters: one run (two if a minute boundary passed meanwhile)
            assert 1 <= len(first) == len({r[0] for r in first}) <= 2, first
            job_id = first[0][1]
            late = query(
                env,
                "SELECT r.trigger, m.count, m.policy FROM commis_schedulemiss m JOIN commis_schedule s"
                " ON s.id = m.schedule_id LEFT JOIN commis_schedulerun r ON r.id = m.run_id"
                " WHERE s.name = 'late'",
            )
            assert late == [("missed", 4, "run_once")], late
            assert query(env, "SELECT COUNT(*) FROM commis_job WHERE origin_ref = 'late'")[0][0] == 1
            wait_for(
                lambda: query(env, "SELECT status FROM commis_job WHERE id = ?", (job_id,))[0][0] == "succeeded",
                60,
                interval=0.3,
                message="the scheduled job succeeded",
            )

            # The next due time (the next minute) is fired by django-q2's own scheduler.
            wait_for(
                lambda: len(runs(env)) >= len(first) + 1,
                150,
                interval=1,
                message="the django-q2 tick fired the next run",
            )
            later = runs(env)
            assert len({r[0] for r in later}) == len(later)
            jobs = query(env, "SELECT COUNT(*) FROM commis_job WHERE origin = 'schedule' AND origin_ref = 'dup'")
            assert jobs[0][0] == len(later)
            ticks = query(
                env,
                """SELECT COUNT(*) FROM django_q_task WHERE func = 'commis.sauron.tick'"""
                """ AND "group" <> 'flood'""",
            )
            assert ticks[0][0] == 0  # the minutely tick leaves no result rows behind
        finally:
            for proc in workers:
                proc.send_signal(signal.SIGTERM)
            for proc in workers:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for log in logs:
                log.close()
        listing = json.loads(run_zerg(["schedule", "list", "--json"], env).stdout)
        assert listing[0]["last_run"]["job_id"] == later[-1][1]
