"""`zerg ship` on a "laptop" against a real `zerg serve`: every fixture lands, once, byte for byte."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.procs import base_env, create_token, http_json, run_zerg
from tests.shipper_fake_server import lay_out_home

pytestmark = pytest.mark.slow


def export(server, token, session_id) -> bytes:
    request = urllib.request.Request(f"{server.url}/api/timeline/sessions/{session_id}/export")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def test_it_ships_the_fixtures_to_a_real_server_once_and_exports_them_unchanged(zerg_server, zerg_env, tmp_path):
    api_token = create_token(zerg_env)
    made = run_zerg(["token", "create", "--device", "laptop", "--json"], zerg_env)
    assert made.returncode == 0, made.stderr
    device_token = json.loads(made.stdout)["token"]

    home = tmp_path / "laptop-home"
    home.mkdir()
    laptop = base_env(tmp_path / "laptop-zerg", HOME=str(home))
    files = lay_out_home(home)

    def ship(*args):
        return run_zerg(list(args), laptop, timeout=300)

    done = ship("connect", zerg_server.url, "--token", device_token, "--device", "laptop")
    assert done.returncode == 0, done.stderr
    done = ship("ship", "--once")
    assert done.returncode == 0, done.stderr

    status, listing = http_json(f"{zerg_server.url}/api/timeline/sessions?limit=500", token=api_token)
    assert status == 200
    sessions = listing["sessions"]
    assert listing["total"] > 0 and all(s["device"] == "laptop" for s in sessions)

    # A main (non-subagent, non-empty) session file comes back byte for byte.
    main_file = next(
        f
        for f in files
        if f.suffix == ".jsonl"
        and not f.name.startswith("agent-")
        and "subagents" not in f.parts
        and f.stat().st_size > 10_000
        and ".claude" in f.parts
    )
    assert export(zerg_server, api_token, main_file.stem) == main_file.read_bytes()

    # Shipping again sends nothing new; the server stores nothing new.
    events_before = listing["total"]
    done = ship("ship", "--once")
    assert done.returncode == 0, done.stderr
    status, again = http_json(f"{zerg_server.url}/api/timeline/sessions?limit=500", token=api_token)
    assert again["total"] == events_before
    assert [s.get("event_count") for s in again["sessions"]] == [s.get("event_count") for s in sessions]

    # A line appended on the laptop arrives, and the export follows the file.
    with main_file.open("ab") as handle:
        handle.write(main_file.read_bytes().splitlines(keepends=True)[-1])
    done = ship("ship", "--once")
    assert done.returncode == 0, done.stderr
    assert export(zerg_server, api_token, main_file.stem) == main_file.read_bytes()

    # Search finds what was shipped, in the session it came from.
    status, found = http_json(f"{zerg_server.url}/api/timeline/search?q=JSSoundRecorder&limit=5", token=api_token)
    assert status == 200 and found["hits"], found


def test_it_refuses_a_revoked_device_token_with_one_line(zerg_server, zerg_env, tmp_path):
    made = run_zerg(["token", "create", "--device", "laptop", "--json"], zerg_env)
    token = json.loads(made.stdout)
    assert run_zerg(["token", "revoke", str(token["id"])], zerg_env).returncode == 0
    laptop = base_env(tmp_path / "laptop-zerg", HOME=str(tmp_path))
    done = run_zerg(["connect", zerg_server.url, "--token", token["token"]], laptop)
    assert done.returncode != 0
    assert done.stderr.strip().startswith("zerg: the server refused the token: HTTP 401")
    assert len(done.stderr.strip().splitlines()) == 1
