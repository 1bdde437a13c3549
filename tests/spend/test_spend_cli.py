"""``zerg spend`` as a real process: on the server (the database) and remotely (``--server``/``--token``
through the shared API client), the same figures as the API; bad input is one line and exit 2."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.ingest_batch import http_ingest
from tests.procs import create_token, http_json, run_zerg


def ship_today(server) -> dict:
    done = run_zerg(["token", "create", "--device", "laptop", "--json"], server.env)
    assert done.returncode == 0, done.stderr
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0).isoformat().replace("+00:00", "Z")
    line = {
        "type": "assistant",
        "uuid": "u1",
        "sessionId": "s-cli",
        "cwd": "/home/o/work/widget",
        "timestamp": now,
        "message": {
            "id": "m1",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "usage": {"input_tokens": 200_000, "output_tokens": 10_000},
            "content": [],
        },
    }
    status, reply = http_ingest(
        server.url + "/api/agents/ingest",
        json.loads(done.stdout)["token"],
        {
            "device": "laptop",
            "files": [
                {
                    "provider": "claude",
                    "path": "/h/.claude/projects/-w/s-cli.jsonl",
                    "generation": 0,
                    "offset": 0,
                    "data": json.dumps(line) + "\n",
                }
            ],
        },
    )
    assert status == 200, reply
    status, listing = http_json(server.url + "/api/timeline/sessions", token=create_token(server.env))
    assert status == 200
    return listing["sessions"][0]


def test_it_prints_the_same_table_on_the_server_and_through_the_api(zerg_server):
    session = ship_today(zerg_server)
    assert session["cost_usd"]
    remote = ["--server", zerg_server.url, "--token", create_token(zerg_server.env)]
    local = run_zerg(["spend", "--days", "7", "--by", "model", "--json"], zerg_server.env)
    assert local.returncode == 0, local.stderr
    document = json.loads(local.stdout)
    assert document["currency"] == "USD" and round(document["total"], 2) == round(session["cost_usd"], 2)
    assert [r["key"] for r in document["rows"]] == ["claude-sonnet-4-5-20250929"]
    assert document["rows"][0]["input_tokens"] == 200_000 and document["rows"][0]["sessions"] == 1
    through_api = run_zerg(["spend", "--days", "7", "--by", "model", "--json", *remote], zerg_server.env)
    assert through_api.returncode == 0, through_api.stderr
    assert json.loads(through_api.stdout) == document

    table = run_zerg(["spend", "--by", "project", *remote], zerg_server.env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["project", "cost", "input", "output", "cache", "read", "runs"]
    assert lines[1].split()[:3] == ["widget", f"${session['cost_usd']:,.2f}", "200,000"]
    assert lines[-1].split() == ["total", f"${session['cost_usd']:,.2f}"]


def test_it_refuses_a_bad_number_of_days_in_one_line(zerg_env):
    done = run_zerg(["spend", "--days", "0"], zerg_env)
    assert done.returncode == 2 and done.stderr.strip() == "zerg: --days must be from 1 to 3660"
