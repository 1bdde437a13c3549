"""``zerg schedule ...`` as a real process: on the server (database) and remotely (--server/--token)."""

from __future__ import annotations

import json

import pytest

from tests.procs import create_token, run_zerg

pytestmark = pytest.mark.slow


def ok(env, *args) -> str:
    done = run_zerg(["schedule", *args], env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_it_manages_schedules_on_the_server(zerg_env):
    out = ok(
        zerg_env,
        "add",
        "nightly",
        "--cron",
        "0 3 * * *",
        "--tz",
        "Europe/Berlin",
        "--missed",
        "run_once",
        "--json",
        "--",
        "echo",
        "hello world",
    )
    s = json.loads(out)
    assert (s["cron"], s["tz"], s["missed"], s["task"]) == (
        "0 3 * * *",
        "Europe/Berlin",
        "run_once",
        "echo 'hello world'",
    )
    assert all(t.endswith(("02:00:00+00:00", "01:00:00+00:00")) for t in s["next_runs"])  # 03:00 CET/CEST

    bad_cron = run_zerg(["schedule", "add", "x", "--cron", "0 3 * *", "--", "echo"], zerg_env)
    assert bad_cron.returncode == 2
    assert bad_cron.stderr.strip().splitlines() == [
        "zerg: invalid cron expression '0 3 * *': expected 5 fields (minute hour day month weekday)"
    ]
    bad_tz = run_zerg(["schedule", "add", "x", "--cron", "0 3 * * *", "--tz", "Berlin", "--", "echo"], zerg_env)
    assert bad_tz.returncode == 2 and len(bad_tz.stderr.strip().splitlines()) == 1
    assert "unknown time zone 'Berlin'" in bad_tz.stderr

    ok(zerg_env, "add", "often", "--interval", "10m", "--", "true")
    listed = json.loads(ok(zerg_env, "list", "--json"))
    assert [x["name"] for x in listed] == ["nightly", "often"] and listed[1]["interval"] == 600
    assert "nightly" in ok(zerg_env, "list")
    job = json.loads(ok(zerg_env, "run", "nightly", "--json"))
    assert (job["origin"], job["origin_ref"], job["status"]) == ("schedule", "nightly", "queued")
    assert json.loads(ok(zerg_env, "disable", "often", "--json"))["next_runs"] == []
    assert json.loads(ok(zerg_env, "enable", "often", "--json"))["enabled"] is True
    edited = json.loads(ok(zerg_env, "edit", "often", "--cron", "@hourly", "--json"))
    assert (edited["cron"], edited["interval"]) == ("@hourly", None)
    shown = json.loads(ok(zerg_env, "show", "nightly", "--json"))
    assert shown["runs"][0]["job_id"] == job["id"]
    assert "removed often" in ok(zerg_env, "rm", "often")
    missing = run_zerg(["schedule", "rm", "often"], zerg_env)
    assert missing.returncode == 1 and "no schedule named 'often'" in missing.stderr


def test_it_manages_schedules_remotely(zerg_server, zerg_env):
    remote = ["--server", zerg_server.url, "--token", create_token(zerg_env)]
    s = json.loads(ok(zerg_env, "add", "r1", "--interval", "1h", "--json", *remote, "--", "echo", "hi"))
    assert s["interval"] == 3600 and s["task"] == "echo hi"
    bad = run_zerg(["schedule", "add", "r2", "--cron", "99 * * * *", *remote, "--", "echo"], zerg_env)
    assert bad.returncode == 2 and bad.stderr.startswith("zerg: invalid cron expression '99 * * * *'")
    assert len(bad.stderr.strip().splitlines()) == 1
    assert [x["name"] for x in json.loads(ok(zerg_env, "list", "--json", *remote))] == ["r1"]
    job = json.loads(ok(zerg_env, "run", "r1", "--json", *remote))
    assert job["origin_ref"] == "r1"
    ok(zerg_env, "rm", "r1", *remote)
    assert json.loads(ok(zerg_env, "list", "--json", *remote)) == []


def test_it_reports_a_remote_refusal_in_one_line_with_the_url_status_and_detail(zerg_server, zerg_env):
    url, token = zerg_server.url, create_token(zerg_env)
    missing = run_zerg(["schedule", "show", "nope", "--server", url, "--token", token], zerg_env)
    assert missing.returncode == 1, missing.stderr
    assert missing.stderr.startswith(f"zerg: {url}/api/schedules/nope: 404 "), missing.stderr
    assert "nope" in missing.stderr.split(": 404 ", 1)[1]
    for args in (["schedule", "list"], ["jobs"]):
        wrong = run_zerg([*args, "--server", url, "--token", "zerg_not_a_token"], zerg_env)
        assert wrong.returncode == 1 and ": 401 " in wrong.stderr, wrong.stderr
        assert len(missing.stderr.strip().splitlines()) == len(wrong.stderr.strip().splitlines()) == 1
    assert wrong.stderr.startswith(f"zerg: {url}/api/commis/jobs?limit=20: 401 ")
