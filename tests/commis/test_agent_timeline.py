"""Every agent run is in the Timeline: a real ``agent`` job (the runner, the agent host's child, the
real ``anthropic`` SDK against the fake Anthropic server) writes its transcript, which is ingested
as a ``zerg-agent`` session of device ``zerg-commis``: searchable, with tokens and cost, exported
byte for byte, and found by the job's ``session_id`` (the job page's link)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from agents_ingest.parsers import parse_bytes
from tests.fakes.fake_anthropic import FakeAnthropic
from zerg_site.devices import COMMIS_DEVICE


@pytest.fixture
def fake(monkeypatch, settings):
    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="test", model="")
    with FakeAnthropic() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server


def run_agent_job(fake, task: str):
    from commis import jobs
    from commis.models import Job
    from commis.runner import run_job

    fake.reply_tool_use("write_file", {"path": "notes.txt", "content": "quokka census\n"}, text="Writing the notes.")
    fake.reply_tool_use("run_command", {"command": "cat notes.txt"})
    fake.reply_text("Counted the quokkas: the notes are in notes.txt.")
    job = jobs.spawn(task, "agent", enqueue_task=False)
    assert run_job(job.id) == Job.SUCCEEDED
    job.refresh_from_db()
    return job


@pytest.mark.django_db(transaction=True)
def test_it_puts_an_agent_job_in_the_timeline_searchable_with_cost_and_export(fake, owner_client):
    job = run_agent_job(fake, "Take the quokka census of the island")
    transcript = Path(job.artifacts_dir) / "transcript.jsonl"
    records = [json.loads(line) for line in transcript.read_bytes().splitlines()]
    assert [r["type"] for r in records] == ["start"] + ["message"] * 6 + ["end"]
    assert [r["index"] for r in records if r["type"] == "message"] == list(range(6))
    assert records[1]["message"] == {"role": "user", "content": "Take the quokka census of the island"}

    # the job page links to /timeline/<job.session_id>: the API finds the session by that id
    detail = owner_client.get(f"/api/timeline/sessions/{job.session_id}").json()
    session = detail["session"]
    assert session["provider"] == "zerg-agent" and session["device"] == COMMIS_DEVICE
    assert session["provider_session_id"] == job.session_id == f"commis-{job.id}"
    assert session["title"] == "Take the quokka census of the island"
    assert owner_client.get(f"/api/commis/jobs/{job.id}").json()["timeline_session"] == session["id"]
    assert session["tokens"]["input"] == job.usage["input_tokens"] > 0
    assert session["tokens"]["output"] == job.usage["output_tokens"] > 0
    assert session["cost_usd"] == pytest.approx(job.cost_usd) and job.cost_usd > 0
    kinds = [(e["kind"], e["role"]) for e in detail["events"]]
    assert ("message", "user") in kinds and ("message", "assistant") in kinds
    assert [e["tool_name"] for e in detail["events"] if e["kind"] == "tool_call"] == ["write_file", "run_command"]
    outputs = [e["tool_output"] for e in detail["events"] if e["kind"] == "tool_result"]
    assert any("quokka census" in out for out in outputs)

    hits = owner_client.get("/api/timeline/search?q=quokkas").json()["hits"]
    assert hits and {h["session"]["id"] for h in hits} == {session["id"]}
    listed = owner_client.get("/api/timeline/sessions?provider=zerg-agent").json()
    assert [s["id"] for s in listed["sessions"]] == [session["id"]]

    export = owner_client.get(f"/api/timeline/sessions/{session['id']}/export")
    assert export.status_code == 200
    assert b"".join(export.streaming_content) == transcript.read_bytes()  # the raw lines, losslessly


@pytest.mark.django_db(transaction=True)
def test_it_adds_a_retry_to_the_same_session_and_counts_nothing_twice(fake, owner_client):
    from commis import jobs
    from commis.models import Job
    from commis.runner import run_job

    job = run_agent_job(fake, "Take the quokka census")
    first = owner_client.get(f"/api/timeline/sessions/{job.session_id}").json()["session"]
    fake.reply_text("Checked again: still 42 quokkas.")
    jobs.retry(job.id)
    assert run_job(job.id) == Job.SUCCEEDED
    again = owner_client.get(f"/api/timeline/sessions/{job.session_id}").json()["session"]
    assert again["id"] == first["id"]
    assert again["tokens"]["output"] > first["tokens"]["output"]
    assert again["cost_usd"] > first["cost_usd"]
    records = [json.loads(line) for line in (Path(job.artifacts_dir) / "transcript.jsonl").read_bytes().splitlines()]
    indices = [r["index"] for r in records if r["type"] == "message"]
    assert indices == list(range(len(indices)))  # each message once, in order, across both attempts
    assert [r["type"] for r in records].count("start") == 2
    job.refresh_from_db()
    assert again["tokens"]["output"] == job.usage["output_tokens"]  # the checkpoint's totals: nothing counted twice


def test_it_keeps_odd_transcript_lines_as_unknown_or_malformed_never_failing():
    data = (
        b'{"type": "start", "session_id": "commis-5", "job": 5}\n'
        b'{"type": "message", "index": "x", "message": {"role": 7, "content": {"a": 1}}}\n'
        b'{"type": "message", "index": 1, "message": "not an object"}\n'
        b'{"type": "telemetry", "x": 1}\nnot json\n'
        b'{"type": "message", "index": 2, "usage": {"output_tokens": -5}, '
        b'"message": {"role": "assistant", "content": [{"type": "mystery"}, 3]}}\n'
    )
    events, meta = parse_bytes("zerg-agent", data, "/x/transcript.jsonl")
    assert meta.session_id == "commis-5"
    assert [e.kind for e in events] == ["system", "message", "unknown", "unknown", "malformed", "unknown", "message"]
    assert meta.output_tokens == 0 and meta.unknown == 3 and len(meta.malformed) == 1
