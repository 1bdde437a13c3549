"""The ``codex`` backend: ``codex exec --json`` parsing, rollout-style lines (the real
Codex session files in the shared fixtures), the command line, and runs of the fake CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from commis.backends import get_backend
from commis.backends.base import FAILED, SUCCEEDED, BackendUnavailable
from commis.backends.codex import INSTALL_HINT, CodexBackend
from commis.backends.streamjson import CodexStreamParser
from tests.fakes.drive import BIN, drive, make_job, make_workspace

CODEX_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "codex"

EXEC_JSON = [
    {"type": "thread.started", "thread_id": "0199a213-81c0-7800-8aa1-bbab2a035a53"},
    {"type": "turn.started"},
    {"type": "item.completed", "item": {"id": "item_0", "type": "reasoning", "text": "**Looking around**"}},
    {
        "type": "item.started",
        "item": {
            "id": "item_1",
            "type": "command_execution",
            "command": "bash -lc ls",
            "aggregated_output": "",
            "exit_code": None,
            "status": "in_progress",
        },
    },
    {
        "type": "item.completed",
        "item": {
            "id": "item_1",
            "type": "command_execution",
            "command": "bash -lc ls",
            "aggregated_output": "docs\nsrc\n",
            "exit_code": 0,
            "status": "completed",
        },
    },
    {
        "type": "item.completed",
        "item": {
            "id": "item_2",
            "type": "file_change",
            "status": "completed",
            "changes": [{"path": "src/a.py", "kind": "update"}],
        },
    },
    {
        "type": "item.updated",
        "item": {
            "id": "item_3",
            "type": "todo_list",
            "items": [{"text": "read", "completed": True}, {"text": "fix", "completed": False}],
        },
    },
    {"type": "item.completed", "item": {"id": "item_4", "type": "agent_message", "text": "Repo has docs and src."}},
    {"type": "turn.completed", "usage": {"input_tokens": 24763, "cached_input_tokens": 24448, "output_tokens": 122}},
]


def parse(lines):
    parser = CodexStreamParser()
    events = []
    for line in lines:
        events += parser.feed(line if isinstance(line, str) else json.dumps(line))
    return parser, events


@pytest.fixture
def fake_codex(monkeypatch, tmp_path, settings):
    settings.ZERG = dataclasses.replace(settings.ZERG, openai_api_key="sk-openai-test", openai_base_url="")
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("ZERG_CODEX_BIN", str(BIN / "codex"))
    monkeypatch.setenv("FAKE_CLI_RECORD", str(record))
    for var in ("FAKE_CLI_FAIL", "FAKE_CLI_SLEEP", "FAKE_CLI_IGNORE_TERM", "FAKE_CLI_CHILD"):
        monkeypatch.delenv(var, raising=False)
    return record


def test_parse_exec_json():
    parser, events = parse(EXEC_JSON)
    kinds = [e.kind for e in events]
    assert kinds == ["session", "system", "thinking", "tool_use", "tool_result", "file_change", "todo", "text", "usage"]
    assert events[0].payload == {"session_id": "0199a213-81c0-7800-8aa1-bbab2a035a53"}
    assert events[3].text == "$ bash -lc ls"
    assert events[4].text == "docs\nsrc\n" and events[4].payload["is_error"] is False
    assert events[5].text == "update src/a.py"
    assert events[6].text == "[x] read\n[ ] fix"
    assert events[8].payload == {"input_tokens": 24763, "cached_input_tokens": 24448, "output_tokens": 122}
    outcome = parser.outcome(0)
    assert outcome.status == SUCCEEDED and outcome.summary == "Repo has docs and src."
    assert outcome.session_id == "0199a213-81c0-7800-8aa1-bbab2a035a53"
    assert outcome.usage["output_tokens"] == 122


def test_turn_failed():
    parser, events = parse(
        EXEC_JSON[:2]
        + [
            {"type": "error", "message": "Reconnecting... 1/5"},
            {"type": "turn.failed", "error": {"message": "stream disconnected"}},
        ]
    )
    assert events[-1].kind == "error"
    outcome = parser.outcome(1)
    assert outcome.status == FAILED and outcome.summary == "stream disconnected"


def test_transient_error_then_completed_succeeds():
    parser, _ = parse(EXEC_JSON[:2] + [{"type": "error", "message": "Reconnecting... 1/5"}] + EXEC_JSON[2:])
    assert parser.outcome(0).status == SUCCEEDED


def test_no_completion_fails_with_tail():
    parser, events = parse(EXEC_JSON[:3] + ["Error: unexpected status 401 Unauthorized"])
    assert events[-1].kind == "output"
    outcome = parser.outcome(1)
    assert outcome.status == FAILED and "401" in outcome.summary


def test_odd_lines_never_raise():
    parser, events = parse(
        [
            "junk",
            "{bad",
            json.dumps({"type": "item.completed", "item": {"type": "new_thing"}}),
            json.dumps({"type": "item.completed", "item": "nope"}),
            json.dumps({"type": "whatever.next"}),
        ]
    )
    assert [e.kind for e in events] == ["output", "output", "raw", "raw", "raw"]


@pytest.mark.skipif(not CODEX_FIXTURES.exists(), reason="shared fixtures not present")
@pytest.mark.parametrize(
    "name",
    [
        "turn-1.jsonl",
        "turn-2.jsonl",
        "turn-spawn-skill.jsonl",
        "rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799.jsonl",
    ],
)
def test_parse_real_rollout_files(name):
    lines = (CODEX_FIXTURES / name).read_text().splitlines()
    parser, events = parse(lines)
    meta = json.loads(lines[0])["payload"]
    assert parser.session_id == meta["id"]
    assert parser.completed
    outcome = parser.outcome(0)
    assert outcome.status == SUCCEEDED
    kinds = {e.kind for e in events}
    assert "session" in kinds
    if name.startswith("rollout"):
        assert {"tool_use", "tool_result", "text", "usage"} <= kinds
        assert outcome.usage["input_tokens"] > 0
        assert sum(e.kind == "tool_use" for e in events) == 99 + 3
    if name == "turn-2.jsonl":
        assert outcome.summary.startswith("I can work with many programming languages")


def test_registry_builds_it():
    assert isinstance(get_backend("codex"), CodexBackend)


def test_missing_binary(monkeypatch, fake_codex):
    monkeypatch.delenv("ZERG_CODEX_BIN")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BackendUnavailable) as info:
        CodexBackend().check(make_job(backend="codex"))
    assert INSTALL_HINT in str(info.value)


def test_missing_credentials(monkeypatch, fake_codex, settings, tmp_path):
    settings.ZERG = dataclasses.replace(settings.ZERG, openai_api_key="")
    monkeypatch.delenv("CODEX_API_KEY", raising=False)
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "nocodex"))
    with pytest.raises(BackendUnavailable) as info:
        CodexBackend().check(make_job(backend="codex"))
    assert "OPENAI_API_KEY" in str(info.value) and "codex login" in str(info.value)
    (tmp_path / "nocodex").mkdir()
    (tmp_path / "nocodex" / "auth.json").write_text("{}")
    CodexBackend().check(make_job(backend="codex"))  # a login is enough


def test_run_fake_cli(fake_codex, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(
        "commis.backends.sessionfiles.session_file_ready", lambda job, path, source: seen.append((path, source))
    )
    ws = make_workspace(tmp_path / "job")
    job = make_job(task="-create greeting", backend="codex", options={"model": "o4-mini"})
    events, outcome, code, argv, env = drive(CodexBackend(), job, ws)
    assert code == 0 and outcome.status == SUCCEEDED
    assert outcome.summary == "I created greeting.txt."
    assert outcome.usage == {"input_tokens": 1024, "cached_input_tokens": 512, "output_tokens": 12}
    assert (ws.path / "greeting.txt").exists()
    rec = json.loads(fake_codex.read_text().splitlines()[0])
    assert rec["argv"][:2] == ["exec", "--json"] and "--full-auto" in rec["argv"]
    assert rec["argv"][-2:] == ["--", "-create greeting"]
    assert rec["argv"][rec["argv"].index("-m") + 1] == "o4-mini"
    assert rec["env"]["CODEX_HOME"] == str(ws.state / "codex-home")
    assert rec["env"]["OPENAI_API_KEY"] == "sk-openai-test"
    path = Path(outcome.session_file)
    assert path.is_file() and path.name.endswith(f"-{outcome.session_id}.jsonl")
    assert path.is_relative_to(ws.state / "codex-home" / "sessions")
    assert seen == [(path, "codex")]


def test_rerun_resumes(fake_codex, tmp_path):
    ws = make_workspace(tmp_path / "job")
    job = make_job(backend="codex")
    _, first, *_ = drive(CodexBackend(), job, ws)
    job.session_id, job.attempts = first.session_id, 2
    _, second, _, argv, _ = drive(CodexBackend(), job, ws)
    i = argv.index("resume")
    assert argv[i + 1] == first.session_id and "is being run again (attempt 2)" in argv[-1]
    assert second.status == SUCCEEDED and second.session_id == first.session_id
    assert second.session_file == first.session_file


@pytest.mark.parametrize("mode,needle", [("is_error", "500"), ("exit", "codex login"), ("crash", "crashed")])
def test_failures(fake_codex, tmp_path, monkeypatch, mode, needle):
    monkeypatch.setenv("FAKE_CLI_FAIL", mode)
    events, outcome, code, *_ = drive(CodexBackend(), make_job(backend="codex"), make_workspace(tmp_path / "j"))
    assert code != 0 and outcome.status == FAILED and needle in outcome.summary


@pytest.mark.django_db(transaction=True)
def test_runner_runs_codex_job(fake_codex):
    from commis import jobs
    from commis.models import Job
    from commis.runner import run_job

    job = jobs.spawn("make a greeting", "codex", enqueue_task=False)
    assert run_job(job.id) == Job.SUCCEEDED
    job.refresh_from_db()
    assert job.summary == "I created greeting.txt."
    assert job.usage["output_tokens"] == 12 and len(job.session_id) == 36
    assert (Path(job.workspace) / "greeting.txt").exists()


@pytest.mark.django_db(transaction=True)
def test_it_costs_a_codex_job_from_its_usage_at_the_jobs_model(fake_codex, monkeypatch):
    from commis import jobs
    from commis.models import Job
    from commis.runner import run_job

    monkeypatch.setenv(
        "FAKE_CLI_RESULT",
        json.dumps({"usage": {"input_tokens": 200_000, "cached_input_tokens": 150_000, "output_tokens": 8_500}}),
    )
    job = jobs.spawn("make a greeting", "codex", enqueue_task=False, options={"model": "gpt-5.5"})
    assert run_job(job.id) == Job.SUCCEEDED
    job.refresh_from_db()
    # GPT-5.5: $5 input, $0.50 cached input (inside the input count), $30 output
    assert job.cost_usd == pytest.approx((50_000 * 5 + 150_000 * 0.5 + 8_500 * 30) / 1e6)
    assert round(job.cost_usd, 2) == 0.58
    assert job.usage == {"input_tokens": 200_000, "cached_input_tokens": 150_000, "output_tokens": 8_500}

    # no model option and none in the session file (the fake writes no turn_context): unknown
    monkeypatch.delenv("FAKE_CLI_RESULT")
    job = jobs.spawn("make a greeting", "codex", enqueue_task=False)
    assert run_job(job.id) == Job.SUCCEEDED
    job.refresh_from_db()
    assert job.cost_usd is None and job.usage["output_tokens"] == 12


def test_it_reads_the_model_of_a_codex_session_file_and_ignores_garbage(tmp_path):
    from commis.backends.codex import session_model

    path = tmp_path / "rollout.jsonl"
    path.write_text(
        '{"type": "turn_context", "payload": {"model": "gpt-5"}}\nnot json "turn_context"\n'
        '{"type": "turn_context", "payload": {"model": ["x"]}}\n'
        '{"type": "turn_context", "payload": {"model": "gpt-5.5"}}\n'
    )
    assert session_model(path) == "gpt-5.5"
    assert session_model(tmp_path / "missing.jsonl") == "" and session_model(None) == ""
