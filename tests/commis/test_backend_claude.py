"""The ``claude`` backend: stream-json parsing (on the real CLI's output), the command
line and per-job config dir, credentials checks, and runs of the fake CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from commis.backends import get_backend
from commis.backends.base import FAILED, SUCCEEDED, BackendUnavailable
from commis.backends.claude import INSTALL_HINT, ClaudeBackend
from commis.backends.sessionfiles import claude_project_dir_name
from commis.backends.streamjson import ClaudeStreamParser
from tests.fakes.drive import BIN, drive, make_job, make_workspace
from zerg_site.heartbeat import pid_alive

DATA = Path(__file__).parents[1] / "fakes" / "data"
FIXTURE = DATA / "claude-stream-json-bash-tool.jsonl"
SHARED_FIXTURE = (
    Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "claude-cli" / "stream-json-bash-tool.jsonl"
)


def parse_lines(lines):
    parser = ClaudeStreamParser()
    events = []
    for line in lines:
        events += parser.feed(line)
    return parser, events


@pytest.fixture
def with_key(settings):
    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="sk-test-key")


@pytest.fixture
def no_key(settings, monkeypatch, tmp_path):
    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="")
    for var in (
        "ANTHROPIC_AUTH_TOKEN",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "CLAUDE_CODE_USE_BEDROCK",
        "CLAUDE_CODE_USE_VERTEX",
        "CLAUDE_CONFIG_DIR",
        "ANTHROPIC_API_KEY",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def fake_claude(monkeypatch, tmp_path, with_key):
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("ZERG_CLAUDE_BIN", str(BIN / "claude"))
    monkeypatch.setenv("FAKE_CLI_RECORD", str(record))
    for var in ("FAKE_CLI_FAIL", "FAKE_CLI_SLEEP", "FAKE_CLI_IGNORE_TERM", "FAKE_CLI_CHILD"):
        monkeypatch.delenv(var, raising=False)
    return record


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- parsing


def test_fixture_copy_matches_shared_fixture():
    if not SHARED_FIXTURE.exists():
        pytest.skip("shared fixtures not present")
    assert FIXTURE.read_bytes() == SHARED_FIXTURE.read_bytes()


def test_parse_real_stream_json():
    parser, events = parse_lines(FIXTURE.read_text().splitlines())
    kinds = [e.kind for e in events]
    assert kinds == ["session", "system", "tool_use", "tool_result", "text", "result", "usage"]
    sid = "95e876f6-e99f-42b4-b12b-01cfa1e69b3a"
    assert events[0].payload == {"session_id": sid}
    assert "2.1.197" in events[1].text
    assert events[2].text == "Bash: echo hello > greeting.txt && cat greeting.txt"
    assert events[2].payload["name"] == "Bash"
    assert events[3].text == "hello" and events[3].payload["is_error"] is False
    assert events[4].text == "Done: the fake model has finished the task."
    assert events[6].payload["input_tokens"] == 84 and events[6].payload["cost_usd"] == 0.00077
    outcome = parser.outcome(0)
    assert outcome.status == SUCCEEDED
    assert outcome.summary == "Done: the fake model has finished the task."
    assert outcome.usage["output_tokens"] == 14
    assert outcome.cost_usd == 0.00077
    assert outcome.session_id == sid
    json.dumps([e.as_dict() for e in events])  # the runner publishes them as JSON


def _result(**kw):
    base = json.loads(FIXTURE.read_text().splitlines()[-1])
    base.update(kw)
    return json.dumps(base)


def test_is_error_wins_over_subtype():
    parser, _ = parse_lines([_result(subtype="success", is_error=True, result="API Error: 401 invalid key")])
    outcome = parser.outcome(0)
    assert outcome.status == FAILED and "401" in outcome.summary


def test_error_subtype_with_errors_list():
    parser, events = parse_lines(
        [_result(subtype="error_during_execution", is_error=True, result=None, errors=["boom"])]
    )
    assert events[-2].kind == "result" and events[-2].payload["is_error"] is True
    assert parser.outcome(1).status == FAILED and "boom" in parser.outcome(1).summary


def test_no_result_record_fails_with_output_tail():
    lines = FIXTURE.read_text().splitlines()[:2] + ["Error: something broke"]
    parser, events = parse_lines(lines)
    outcome = parser.outcome(1)
    assert outcome.status == FAILED
    assert "without a result" in outcome.summary and "something broke" in outcome.summary
    assert outcome.session_id == "95e876f6-e99f-42b4-b12b-01cfa1e69b3a"


def test_odd_lines_never_raise():
    parser, events = parse_lines(
        [
            "plain text on stderr",
            "",
            "[1, 2]",
            "{not json",
            json.dumps({"type": "brand_new_record", "x": 1}),
            json.dumps({"type": "assistant", "message": "not a dict"}),
            json.dumps(
                {
                    "type": "user",
                    "message": {
                        "content": [
                            {
                                "type": "tool_result",
                                "content": [{"type": "text", "text": "a"}, {"type": "image", "source": {}}],
                            }
                        ]
                    },
                }
            ),
            json.dumps({"type": "system", "subtype": "compact_boundary"}),
            json.dumps({"type": "stream_event", "event": {}}),
        ]
    )
    kinds = [e.kind for e in events]
    assert kinds == ["output", "output", "output", "raw", "raw", "tool_result", "system"]
    assert events[3].payload["record"]["type"] == "brand_new_record"
    assert "parse_error" in events[4].payload
    assert events[5].text == "a\n[image]"
    assert parser.outcome(0).status == FAILED


# --- check / command


def test_registry_builds_it():
    assert isinstance(get_backend("claude"), ClaudeBackend)


def test_missing_binary(monkeypatch, with_key):
    monkeypatch.delenv("ZERG_CLAUDE_BIN", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BackendUnavailable) as info:
        ClaudeBackend().check(make_job())
    assert INSTALL_HINT in str(info.value)
    assert "npm install -g @anthropic-ai/claude-code" in str(info.value)


def test_missing_credentials(monkeypatch, no_key):
    monkeypatch.setenv("ZERG_CLAUDE_BIN", str(BIN / "claude"))
    with pytest.raises(BackendUnavailable) as info:
        ClaudeBackend().check(make_job())
    assert "ANTHROPIC_API_KEY" in str(info.value) and "anthropic_api_key" in str(info.value)


def test_login_counts_as_credentials(monkeypatch, no_key, tmp_path):
    monkeypatch.setenv("ZERG_CLAUDE_BIN", str(BIN / "claude"))
    creds = tmp_path / "home" / ".claude" / ".credentials.json"
    creds.parent.mkdir(parents=True)
    creds.write_text('{"claudeAiOauth": {}}')
    backend = ClaudeBackend()
    backend.check(make_job())  # no error
    ws = make_workspace(tmp_path / "job")
    backend.command(make_job(), ws)
    copied = ws.state / "claude-config" / ".credentials.json"
    assert copied.read_text() == '{"claudeAiOauth": {}}'
    assert oct(copied.stat().st_mode & 0o777) == "0o600"


def test_command_line_and_env(fake_claude, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/")
    backend = ClaudeBackend()
    job = make_job(task="-starts with a dash", options={"model": "claude-x", "allowed_tools": ["Bash", "Read"]})
    backend.check(job)
    ws = make_workspace(tmp_path / "job")
    argv, env = backend.command(job, ws)
    assert argv[0] == str(BIN / "claude")
    assert argv[1] == "-p"
    assert argv[argv.index("--output-format") + 1] == "stream-json" and "--verbose" in argv
    assert argv[argv.index("--model") + 1] == "claude-x"
    assert argv[argv.index("--allowedTools") + 1] == "Bash,Read"
    assert argv[-2:] == ["--", "-starts with a dash"]
    assert "--resume" not in argv
    assert env["CLAUDE_CONFIG_DIR"] == str(ws.state / "claude-config")
    assert (ws.state / "claude-config").is_dir()
    assert env["ANTHROPIC_API_KEY"] == "sk-test-key"
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9/"


# --- runs of the fake CLI


def test_run_fake_cli(fake_claude, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(
        "commis.backends.sessionfiles.session_file_ready", lambda job, path, source: seen.append((job.id, path, source))
    )
    ws = make_workspace(tmp_path / "job")
    job = make_job()
    events, outcome, code, argv, env = drive(ClaudeBackend(), job, ws)
    assert code == 0
    assert outcome.status == SUCCEEDED
    assert outcome.summary == "Done: the fake model has finished the task."
    assert outcome.cost_usd == 0.00077 and outcome.usage["input_tokens"] == 84
    assert [e.kind for e in events][:3] == ["session", "system", "tool_use"]
    assert (ws.path / "greeting.txt").read_text() == "hello\n"
    rec = records(fake_claude)[0]
    assert rec["cwd"] == str(ws.path)
    assert rec["env"]["CLAUDE_CONFIG_DIR"] == str(ws.state / "claude-config")
    assert rec["argv"][:1] == ["-p"] and rec["argv"][-1] == job.task
    # the session file the CLI wrote, found where the real CLI puts it
    expected = (
        ws.state / "claude-config" / "projects" / claude_project_dir_name(ws.path) / f"{outcome.session_id}.jsonl"
    )
    assert expected.is_file()
    assert outcome.session_file == str(expected)
    assert seen == [(7, expected, "claude")]


def test_rerun_resumes_its_session(fake_claude, tmp_path):
    ws = make_workspace(tmp_path / "job")
    job = make_job()
    _, first, *_ = drive(ClaudeBackend(), job, ws)
    job.session_id, job.attempts = first.session_id, 2  # what the runner stores; a re-run after a crash
    events, second, code, argv, _ = drive(ClaudeBackend(), job, ws)
    assert argv[argv.index("--resume") + 1] == first.session_id
    assert "is being run again (attempt 2)" in argv[-1] and job.task in argv[-1]
    assert second.status == SUCCEEDED and second.session_id == first.session_id
    session_file = Path(second.session_file)
    assert session_file.read_text().count('"type": "last-prompt"') == 2  # appended to, as the CLI does


def test_rerun_without_session_file_starts_afresh(fake_claude, tmp_path):
    ws = make_workspace(tmp_path / "job")
    job = make_job(session_id="0000-never-written", attempts=2)
    backend = ClaudeBackend()
    backend.check(job)
    argv, _ = backend.command(job, ws)
    assert "--resume" not in argv and argv[-1] == job.task


def test_explicit_resume_option(fake_claude, tmp_path):
    ws = make_workspace(tmp_path / "job")
    job = make_job(task="and now the tests", options={"resume_session": "abc-123"})
    backend = ClaudeBackend()
    backend.check(job)
    argv, _ = backend.command(job, ws)
    assert argv[argv.index("--resume") + 1] == "abc-123" and argv[-1] == "and now the tests"


@pytest.mark.parametrize(
    "mode,needle",
    [
        ("is_error", "API Error: 500"),
        ("exit", "Invalid API key"),
        ("crash", "crashed"),
    ],
)
def test_failures(fake_claude, tmp_path, monkeypatch, mode, needle):
    monkeypatch.setenv("FAKE_CLI_FAIL", mode)
    ws = make_workspace(tmp_path / "job")
    events, outcome, code, *_ = drive(ClaudeBackend(), make_job(), ws)
    assert code != 0
    assert outcome.status == FAILED
    assert needle in outcome.summary
    assert outcome.session_id  # known from the init record, even on failure


# --- through the real runner (commis.runner.run_job)


@pytest.mark.django_db(transaction=True)
def test_runner_runs_claude_job(fake_claude, monkeypatch):
    from commis import jobs
    from commis.models import Job
    from commis.runner import run_job
    from zerg_site.models import Event

    job = jobs.spawn("Create the greeting file.", "claude", enqueue_task=False)
    assert run_job(job.id) == Job.SUCCEEDED
    job.refresh_from_db()
    assert job.summary == "Done: the fake model has finished the task."
    assert job.cost_usd == 0.00077 and job.usage["input_tokens"] == 84
    assert len(job.session_id) == 36
    assert (Path(job.workspace) / "greeting.txt").exists()
    log = (Path(job.artifacts_dir) / "log.txt").read_text()
    assert '"type": "result"' in log
    kinds = [e["kind"] for ev in Event.objects.filter(kind="commis.output") for e in ev.payload["events"]]
    assert {"session", "tool_use", "tool_result", "text", "result", "usage"} <= set(kinds)
    rec = records(fake_claude)[0]
    assert rec["env"]["CLAUDE_CONFIG_DIR"].startswith(str(Path(job.artifacts_dir).parent))

    # the session file the CLI wrote is in the Timeline, under the job's session id
    from timeline.models import Session

    session = Session.objects.get(provider="claude", provider_session_id=job.session_id)
    events_first = session.events.count()
    assert events_first > 0

    # a second attempt (retry / reclaim after a crash) resumes the same session
    jobs.retry(job.id)
    assert run_job(job.id) == Job.SUCCEEDED
    rec2 = records(fake_claude)[1]
    assert rec2["argv"][rec2["argv"].index("--resume") + 1] == job.session_id
    # ... and its new turns land in the same Timeline session, nothing twice
    assert Session.objects.filter(provider="claude", provider_session_id=job.session_id).count() == 1
    assert session.events.count() > events_first


@pytest.mark.django_db(transaction=True)
def test_runner_fails_claude_job_on_is_error(fake_claude, monkeypatch):
    from commis import jobs
    from commis.models import Job
    from commis.runner import run_job

    monkeypatch.setenv("FAKE_CLI_FAIL", "is_error")
    job = jobs.spawn("x", "claude", enqueue_task=False)
    assert run_job(job.id) == Job.FAILED
    job.refresh_from_db()
    assert "API Error: 500" in job.summary and job.session_id


@pytest.mark.django_db(transaction=True)
def test_runner_missing_cli_fails_at_once(monkeypatch, with_key):
    from commis import jobs
    from commis.models import Job
    from commis.runner import run_job

    monkeypatch.delenv("ZERG_CLAUDE_BIN", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    job = jobs.spawn("x", "claude", enqueue_task=False)
    assert run_job(job.id) == Job.FAILED
    job.refresh_from_db()
    assert "npm install -g @anthropic-ai/claude-code" in job.summary


@pytest.mark.django_db(transaction=True)
def test_runner_cancel_kills_cli_ignoring_sigterm_and_its_child(fake_claude, monkeypatch, settings):
    import threading
    import time

    from django.db import connection

    from commis import jobs
    from commis.models import Job
    from commis.runner import run_job

    settings.ZERG = dataclasses.replace(settings.ZERG, heartbeat_interval=0.3)
    monkeypatch.setattr(ClaudeBackend, "kill_grace", 1.0)
    monkeypatch.setenv("FAKE_CLI_IGNORE_TERM", "1")
    monkeypatch.setenv("FAKE_CLI_CHILD", "1")
    monkeypatch.setenv("FAKE_CLI_SLEEP", "120")
    job = jobs.spawn("x", "claude", enqueue_task=False)
    result = {}

    def target():
        try:
            result["status"] = run_job(job.id)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    deadline = time.monotonic() + 20
    while not (fake_claude.exists() and fake_claude.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    rec = records(fake_claude)[0]
    assert pid_alive(rec["pid"]) and pid_alive(rec["child_pid"])
    jobs.cancel(job.id)
    thread.join(20)
    assert result["status"] == Job.CANCELLED
    assert not pid_alive(rec["pid"]) and not pid_alive(rec["child_pid"])
    job.refresh_from_db()
    assert job.status == Job.CANCELLED and job.session_id  # the init record was seen before the cancel


@pytest.mark.parametrize(
    "euid,mode,tools",
    [
        (1000, "bypassPermissions", None),
        (0, "acceptEdits", "Bash,Edit,Write,Read,Glob,Grep,NotebookEdit,WebFetch,WebSearch,TodoWrite,Task"),
    ],
)
def test_default_permissions(fake_claude, tmp_path, monkeypatch, euid, mode, tools):
    monkeypatch.setattr("os.geteuid", lambda: euid)
    backend = ClaudeBackend()
    backend.check(make_job())
    argv, _ = backend.command(make_job(), make_workspace(tmp_path / "job"))
    assert argv[argv.index("--permission-mode") + 1] == mode
    assert (argv[argv.index("--allowedTools") + 1] if "--allowedTools" in argv else None) == tools
    argv, _ = backend.command(make_job(options={"permission_mode": "plan"}), make_workspace(tmp_path / "job2"))
    assert argv[argv.index("--permission-mode") + 1] == "plan" and "--allowedTools" not in argv


# --- the real Claude Code CLI (from npm) against the fake Anthropic server

REAL_CLI = Path(__file__).resolve().parents[2] / ".ci" / "node" / "node_modules" / ".bin" / "claude"


def real_claude_cli() -> Path:
    import os

    wanted = os.environ.get("ZERG_TEST_CLAUDE_CLI")
    if wanted:  # CI installs it and sets this: a missing CLI is then a failure, not a skip
        assert Path(wanted).is_file(), f"ZERG_TEST_CLAUDE_CLI={wanted} does not exist"
        return Path(wanted)
    if not REAL_CLI.is_file():
        pytest.skip("the real Claude Code CLI is not installed (.ci/run installs it into .ci/node)")
    return REAL_CLI


def test_real_claude_cli_against_fake_server(tmp_path, monkeypatch, with_key, settings):
    from tests.fakes.fake_anthropic import FakeAnthropic

    cli = real_claude_cli()
    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="test")
    with FakeAnthropic(api_key="test") as fake:
        monkeypatch.setenv("ZERG_CLAUDE_BIN", str(cli))
        monkeypatch.setenv("HOME", str(tmp_path / "home"))  # never the developer's own ~/.claude
        for var, value in {
            "ANTHROPIC_BASE_URL": fake.url,
            "CLAUDE_CODE_MAX_RETRIES": "0",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        }.items():
            monkeypatch.setenv(var, value)
        for var in (
            "CLAUDE_CONFIG_DIR",
            "ANTHROPIC_AUTH_TOKEN",
            "CLAUDE_CODE_OAUTH_TOKEN",
            "HTTPS_PROXY",
            "HTTP_PROXY",
            "https_proxy",
            "http_proxy",
        ):
            monkeypatch.delenv(var, raising=False)
        ws = make_workspace(tmp_path / "job")
        task = (
            "Create the greeting file.\n"
            'TOOL Bash {"command": "echo hello > greeting.txt && cat greeting.txt", "description": "greet"}'
        )
        events, outcome, code, argv, env = drive(ClaudeBackend(), make_job(task=task), ws, timeout=120)
        log = "\n".join(e.text for e in events)
        assert code == 0, log
        assert outcome.status == SUCCEEDED, log
        assert outcome.summary == "Done: the fake model has finished the task."
        assert (ws.path / "greeting.txt").read_text() == "hello\n"
        tool_uses = [e for e in events if e.kind == "tool_use"]
        assert tool_uses and tool_uses[0].payload["name"] == "Bash"
        assert any(e.kind == "tool_result" and e.text == "hello" for e in events)
        assert outcome.usage["input_tokens"] > 0 and outcome.cost_usd is not None
        assert Path(outcome.session_file).is_file()
        assert Path(outcome.session_file).is_relative_to(ws.state / "claude-config" / "projects")
        posts = fake.message_requests
        assert len(posts) >= 2
        assert all(r.api_key == "test" for r in posts)

        # a re-run (attempt 2) resumes that session from the per-job config dir
        job = make_job(task=task, session_id=outcome.session_id, attempts=2)
        before = len(fake.message_requests)
        events2, outcome2, code2, argv2, _ = drive(ClaudeBackend(), job, ws, timeout=120)
        assert code2 == 0 and outcome2.status == SUCCEEDED, "\n".join(e.text for e in events2)
        assert argv2[argv2.index("--resume") + 1] == outcome.session_id
        assert outcome2.session_id == outcome.session_id
        resumed = fake.message_requests[before].body["messages"]
        first_call = tool_uses[0].payload["id"]
        assert any(
            isinstance(m.get("content"), list) and any(b.get("id") == first_call for b in m["content"]) for m in resumed
        ), "the resumed request carries the earlier conversation"


@pytest.mark.django_db(transaction=True)
def test_it_costs_a_claude_job_at_zergs_prices_not_the_figure_the_cli_prints(fake_claude, monkeypatch):
    """The CLI's own total_cost_usd is its word: the job's cost is its usage at the library's price,
    per model of modelUsage (a run that handed work to Haiku), 1-hour cache writes at their rate."""
    from commis import jobs
    from commis.models import Job
    from commis.runner import run_job

    monkeypatch.setenv(
        "FAKE_CLI_RESULT",
        json.dumps(
            {
                "total_cost_usd": 99.0,
                "modelUsage": {
                    "claude-opus-4-8[1m]": {
                        "inputTokens": 20_000,
                        "outputTokens": 3_000,
                        "cacheReadInputTokens": 100_000,
                        "cacheCreationInputTokens": 8_000,
                        "costUSD": 90.0,
                    },
                    "claude-haiku-4-5-20251001": {"inputTokens": 50_000, "outputTokens": 3_000, "costUSD": 9.0},
                },
            }
        ),
    )
    job = jobs.spawn("Create the greeting file.", "claude", enqueue_task=False)
    assert run_job(job.id) == Job.SUCCEEDED
    job.refresh_from_db()
    # Opus 4.8: $5 in, $25 out, $0.50 cache read, $6.25 cache write; Haiku 4.5: $1 in, $5 out
    opus = (20_000 * 5 + 3_000 * 25 + 100_000 * 0.5 + 8_000 * 6.25) / 1e6
    haiku = (50_000 * 1 + 3_000 * 5) / 1e6
    assert job.cost_usd == pytest.approx(opus + haiku) and round(job.cost_usd, 2) == 0.34

    monkeypatch.setenv(
        "FAKE_CLI_RESULT",
        json.dumps(
            {
                "modelUsage": {},
                "usage": {
                    "input_tokens": 10_000,
                    "output_tokens": 1_000,
                    "cache_creation_input_tokens": 40_000,
                    "cache_creation": {"ephemeral_1h_input_tokens": 40_000, "ephemeral_5m_input_tokens": 0},
                },
            }
        ),
    )
    job = jobs.spawn("Create the greeting file.", "claude", enqueue_task=False, options={"model": "claude-opus-4-7"})
    assert run_job(job.id) == Job.SUCCEEDED
    job.refresh_from_db()
    # one model (the run's, from system/init): the result's usage, the 1-hour writes at $10
    assert job.cost_usd == pytest.approx((10_000 * 5 + 1_000 * 25 + 40_000 * 10) / 1e6) == 0.475
    assert job.usage["cache_creation_input_tokens"] == 40_000

    monkeypatch.setenv("FAKE_CLI_RESULT", json.dumps({"modelUsage": {}, "total_cost_usd": 1.0}))
    job = jobs.spawn("Create the greeting file.", "claude", enqueue_task=False, options={"model": "my-local-model"})
    assert run_job(job.id) == Job.SUCCEEDED
    job.refresh_from_db()
    assert job.cost_usd is None and job.usage["input_tokens"] == 84  # unknown, not the CLI's guess
