"""The built-in ``agent`` backend: langgraph + the real ``anthropic`` SDK against the fake
Anthropic server, workspace-confined tools (hostile paths), checkpoint resume."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("anthropic")
pytest.importorskip("langgraph")

from commis.agent.tools import WorkspaceTools  # noqa: E402
from commis.backends.agent import NO_KEY, AgentBackend, checkpoint_path  # noqa: E402
from commis.backends.base import FAILED, SUCCEEDED, BackendUnavailable  # noqa: E402
from tests.fakes.drive import make_job, make_workspace  # noqa: E402
from tests.fakes.fake_anthropic import FakeAnthropic  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class FakeContext:
    """The runner's RunContext, in memory. ``stop_after_tools=N``: ask to stop once N tool
    results were emitted (as a cancel or a shutdown would)."""

    def __init__(self, stop_after_tools: int | None = None):
        self.events = []
        self.stop_after_tools = stop_after_tools
        self.commands = []

    def emit(self, event):
        self.events.append(event)

    def log(self, text):
        self.events.append(("log", text))

    def should_stop(self):
        done = sum(1 for e in self.events if getattr(e, "kind", "") == "tool_result")
        if self.stop_after_tools is not None and done >= self.stop_after_tools:
            return "cancelled"
        return None

    def run_subprocess(self, argv, cwd, timeout=None, env=None):
        from commis.agent.tools import _default_run

        self.commands.append(argv)
        return _default_run(argv, cwd, timeout, env)

    def kinds(self):
        return [getattr(e, "kind", None) for e in self.events]


@pytest.fixture
def fake(monkeypatch, settings):
    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="test", model="")
    with FakeAnthropic() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server


@pytest.fixture
def ws(tmp_path):
    return make_workspace(tmp_path / "job")


_next_id = iter(range(1000, 10**6))


def agent_job(task="Do the thing.", **kw):
    return make_job(task=task, backend="agent", id=next(_next_id), **kw)


# --- tools


@pytest.fixture
def tools(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "a.txt").write_text("one\ntwo\nthree\n")
    (root / "sub").mkdir()
    (root / "sub" / "b.py").write_text("def f():\n    return 42\n")
    outside = tmp_path / "secret.txt"
    outside.write_text("TOP SECRET\n")
    (root / "link_out").symlink_to(outside)
    (root / "dir_out").symlink_to(tmp_path)
    (root / "link_in").symlink_to(root / "a.txt")
    return WorkspaceTools(root)


@pytest.mark.parametrize("path", [
    "../secret.txt", "sub/../../secret.txt", "/etc/passwd", "link_out", "dir_out/secret.txt",
    "dir_out", "~/.bashrc", "./../ws/../secret.txt", "/",
])
def test_hostile_paths_refused(tools, path):
    for name, args in [("read_file", {"path": path}), ("write_file", {"path": path, "content": "x"}),
                       ("edit_file", {"path": path, "old_text": "T", "new_text": "x"}),
                       ("list_dir", {"path": path}), ("grep", {"pattern": "SECRET", "path": path})]:
        text, is_error = tools.call(name, args)
        assert is_error, (name, path, text)
        assert "outside the workspace" in text, (name, path, text)
    assert (tools.root.parent / "secret.txt").read_text() == "TOP SECRET\n"


def test_write_through_dangling_symlink_refused(tools, tmp_path):
    (tools.root / "dangling").symlink_to(tmp_path / "created-outside.txt")
    text, is_error = tools.call("write_file", {"path": "dangling", "content": "x"})
    assert is_error and not (tmp_path / "created-outside.txt").exists()


def test_tools_inside_workspace(tools):
    assert tools.call("read_file", {"path": "a.txt"}) == ("     1\tone\n     2\ttwo\n     3\tthree", False)
    assert tools.call("read_file", {"path": "a.txt", "offset": 2, "limit": 1})[0] == "     2\ttwo"
    assert tools.call("read_file", {"path": "link_in"})[1] is False  # a symlink that stays inside is fine
    assert tools.call("read_file", {"path": str(tools.root / "a.txt")})[1] is False  # absolute inside is fine
    assert tools.call("write_file", {"path": "new/dir/c.txt", "content": "hi"}) == \
        ("wrote 2 characters to new/dir/c.txt", False)
    assert (tools.root / "new" / "dir" / "c.txt").read_text() == "hi"
    assert tools.call("edit_file", {"path": "sub/b.py", "old_text": "42", "new_text": "43"})[1] is False
    assert "43" in (tools.root / "sub" / "b.py").read_text()
    text, err = tools.call("edit_file", {"path": "a.txt", "old_text": "o", "new_text": "0"})
    assert err and "occurs" in text
    assert tools.call("edit_file", {"path": "a.txt", "old_text": "missing", "new_text": "x"})[1]
    listing, _ = tools.call("list_dir", {})
    assert listing.splitlines() == ["a.txt", "dir_out -> (outside the workspace)", "link_in",
                                    "link_out -> (outside the workspace)", "new/", "sub/"]
    found, _ = tools.call("grep", {"pattern": "return|SECRET|three"})
    assert "sub/b.py:2:     return 43" in found and "a.txt:3: three" in found
    assert "SECRET" not in found  # link_out is skipped: it resolves outside
    assert tools.call("grep", {"pattern": "def", "glob": "*.txt"})[0] == "no matches"
    assert tools.call("grep", {"pattern": "("})[1] is True
    assert tools.call("nope", {})[1] is True
    assert tools.call("read_file", {"wrong": 1})[1] is True


def test_run_command_timeout_and_cwd(tools):
    text, err = tools.call("run_command", {"command": "pwd; echo err >&2; exit 3"})
    assert not err and text.startswith("exit code 3\n") and str(tools.root) in text and "err" in text
    text, _ = tools.call("run_command", {"command": "sleep 30", "timeout": 1})
    assert "killed after 1" in text


def test_importing_the_backend_loads_no_llm_libraries():
    code = ("import sys; import commis.backends.agent, commis.agent.tools; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('anthropic','langgraph','langchain_core')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the agent against the fake server


def test_missing_api_key_fails_at_once(settings):
    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="")
    with pytest.raises(BackendUnavailable) as info:
        AgentBackend().check(agent_job())
    assert "set ANTHROPIC_API_KEY or [llm] anthropic_api_key" in str(info.value)
    assert str(info.value) == NO_KEY


def test_unreachable_api(settings, monkeypatch, ws):
    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="test")
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{port}")
    outcome = AgentBackend().run_inline(agent_job(options={"max_retries": 0}), ws, FakeContext())
    assert outcome.status == FAILED
    assert "cannot reach the Anthropic API" in outcome.summary and str(port) in outcome.summary


def test_bad_key_and_server_error(fake, ws):
    fake.reply_error(401, "invalid x-api-key")
    outcome = AgentBackend().run_inline(agent_job(options={"max_retries": 0}), ws, FakeContext())
    assert outcome.status == FAILED and "refused the key" in outcome.summary
    fake.reply_error(529, "Overloaded")
    outcome = AgentBackend().run_inline(agent_job(options={"max_retries": 0}), ws, FakeContext())
    assert outcome.status == FAILED and "529" in outcome.summary


def test_runs_tools_and_finishes(fake, ws):
    fake.reply_tool_use("write_file", {"path": "hello.txt", "content": "hi\n"}, text="Writing it.")
    fake.reply_tool_uses([("run_command", {"command": "cat hello.txt"}), ("read_file", {"path": "../etc"})])
    fake.reply_text("Wrote hello.txt.")
    ctx = FakeContext()
    job = agent_job("Write hello.txt")
    outcome = AgentBackend().run_inline(job, ws, ctx)
    assert outcome.status == SUCCEEDED, outcome.summary
    assert outcome.summary == "Wrote hello.txt."
    assert (ws.path / "hello.txt").read_text() == "hi\n"
    assert outcome.usage["input_tokens"] > 0 and outcome.usage["output_tokens"] > 0
    assert ctx.kinds().count("tool_use") == 3 and ctx.kinds().count("tool_result") == 3
    assert ctx.commands == [["bash", "-c", "cat hello.txt"]]  # through the runner's run_subprocess
    requests = fake.message_requests
    assert len(requests) == 3
    assert requests[0].body["messages"] == [{"role": "user", "content": "Write hello.txt"}]
    assert {t["name"] for t in requests[0].body["tools"]} == {"run_command", "read_file", "write_file",
                                                             "edit_file", "list_dir", "grep"}
    results = requests[2].body["messages"][-1]["content"]
    assert results[0]["content"].startswith("exit code 0\nhi")
    assert results[1]["is_error"] is True and "outside the workspace" in results[1]["content"]
    usage_events = [e for e in ctx.events if e.kind == "usage"]
    assert usage_events[-1].payload == outcome.usage  # cumulative
    from django.db import connection

    if connection.vendor == "postgresql":  # the Postgres checkpointer: no SQLite file
        assert not checkpoint_path().exists()
    else:
        assert checkpoint_path().exists()


def test_step_limit_and_retry_with_a_fresh_budget(fake, ws):
    for _ in range(2):
        fake.reply_tool_use("list_dir", {})
    job = agent_job(options={"max_steps": 2})
    outcome = AgentBackend().run_inline(job, ws, FakeContext())
    assert outcome.status == FAILED and "step limit" in outcome.summary
    assert len(fake.message_requests) == 2
    # a retry: the unanswered call gets an error result, then the new turn; 2 more steps allowed
    job.attempts = 2
    fake.reply_tool_use("list_dir", {})
    fake.reply_text("Listed.")
    again = AgentBackend().run_inline(job, ws, FakeContext())
    assert again.status == SUCCEEDED and again.summary == "Listed."
    turn = fake.message_requests[2].body["messages"][-1]["content"]
    assert turn[0]["type"] == "tool_result" and "step limit" in turn[0]["content"]
    assert turn[1]["type"] == "text" and "attempt 2" in turn[1]["text"]
    assert len(fake.message_requests) == 4


def test_stop_then_resume_from_checkpoint(fake, ws):
    """Stopped after step 1's tools ran; a new attempt continues the same conversation and
    never runs step 1's command again."""
    fake.reply_tool_use("run_command", {"command": "echo one >> log.txt"})
    fake.reply_tool_use("run_command", {"command": "echo two >> log.txt"})
    fake.reply_text("Both lines written.")
    job = agent_job("Write two lines")

    first = AgentBackend().run_inline(job, ws, FakeContext(stop_after_tools=1))
    assert first.status == FAILED and "stopped" in first.summary
    assert (ws.path / "log.txt").read_text() == "one\n"
    assert len(fake.message_requests) == 1

    job.attempts = 2
    ctx = FakeContext()
    second = AgentBackend().run_inline(job, ws, ctx)
    assert second.status == SUCCEEDED and second.summary == "Both lines written."
    assert (ws.path / "log.txt").read_text() == "one\ntwo\n"  # "one" not repeated
    assert any("resuming from the last checkpoint" in getattr(e, "text", "") for e in ctx.events)
    requests = fake.message_requests
    assert len(requests) == 3
    continued = requests[1].body["messages"]
    assert [m["role"] for m in continued] == ["user", "assistant", "user"]
    assert continued[2]["content"][0]["content"].startswith("exit code 0")
    assert second.usage["input_tokens"] > first.usage.get("input_tokens", 0)

    # a retry of the finished job: a new turn in the same conversation
    job.attempts = 3
    fake.reply_text("Checked: both lines are there.")
    third = AgentBackend().run_inline(job, ws, FakeContext())
    assert third.status == SUCCEEDED and third.summary == "Checked: both lines are there."
    assert len(fake.message_requests) == 4
    retried = fake.message_requests[3].body["messages"]
    assert len(retried) == 7 and "attempt 3" in retried[-1]["content"]
    assert (ws.path / "log.txt").read_text() == "one\ntwo\n"


def test_model_error_then_retry_continues(fake, ws):
    """An API error after a tool step fails the attempt; the retry resumes at the model
    call that failed, without running the tool again."""
    fake.reply_tool_use("run_command", {"command": "echo once >> runs.txt"})
    fake.reply_error(500, "boom")
    fake.reply_text("Finished.")
    job = agent_job(options={"max_retries": 0})
    first = AgentBackend().run_inline(job, ws, FakeContext())
    assert first.status == FAILED and "500" in first.summary and "boom" in first.summary
    job.attempts = 2
    second = AgentBackend().run_inline(job, ws, FakeContext())
    assert second.status == SUCCEEDED and second.summary == "Finished."
    assert (ws.path / "runs.txt").read_text() == "once\n"
    assert len(fake.message_requests) == 3
    assert fake.message_requests[2].body["messages"] == fake.message_requests[1].body["messages"]


# --- a real restart: the worker process is killed (SIGKILL) mid-run

CHILD = r"""
import sys, django
django.setup()
from types import SimpleNamespace
from pathlib import Path
from commis.backends.agent import AgentBackend
from tests.fakes.drive import make_workspace

class Ctx:
    def emit(self, e): print(e.kind, e.text, flush=True)
    def log(self, t): print(t, flush=True)
    def should_stop(self): return None
    def run_subprocess(self, argv, cwd, timeout=None, env=None):
        from commis.agent.tools import _default_run
        return _default_run(argv, cwd, timeout, env)

job = SimpleNamespace(id=42, task="Write two lines", backend="agent", options={"max_retries": 0},
                      attempts=int(sys.argv[2]), session_id="", timeout=None)
out = AgentBackend().run_inline(job, make_workspace(Path(sys.argv[1])), Ctx())
print("OUTCOME", out.status, out.summary, flush=True)
"""


def test_kill_9_mid_run_resumes_from_checkpoint(tmp_path):
    import time

    home = tmp_path / "home"
    with FakeAnthropic() as fake:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "zerg_site.settings", "ZERG_HOME": str(home),
               "ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": fake.url, "PYTHONPATH": str(ROOT)}
        env.pop("DATABASE_URL", None)
        fake.reply_tool_use("run_command", {"command": "echo one >> log.txt"})
        fake.reply_text("too late", delay=20)  # the worker dies while waiting for this answer
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "job"), "1"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while len(fake.message_requests) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert len(fake.message_requests) == 2, proc.stdout.read() if proc.poll() is not None else "timeout"
        proc.kill()
        proc.wait()
        assert (tmp_path / "job" / "work" / "log.txt").read_text() == "one\n"

        fake.replies.clear()
        fake.reply_text("Finished after the restart.")
        done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "job"), "2"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert "OUTCOME succeeded Finished after the restart." in done.stdout, done.stdout + done.stderr
        assert "resuming from the last checkpoint" in done.stdout
        assert (tmp_path / "job" / "work" / "log.txt").read_text() == "one\n"  # the tool did not run again
        requests = fake.message_requests
        assert len(requests) == 3
        assert requests[2].body["messages"] == requests[1].body["messages"]  # the same, continued conversation
        assert (home / "checkpoints.db").exists()


# --- through the real runner (commis.runner.run_job)


@pytest.mark.django_db(transaction=True)
def test_runner_runs_agent_job(fake):
    from commis import jobs
    from commis.models import Job
    from commis.runner import run_job
    from zerg_site.models import Event

    fake.reply_tool_use("write_file", {"path": "out.txt", "content": "made by the agent\n"})
    fake.reply_tool_use("run_command", {"command": "cat out.txt"})
    fake.reply_text("Made out.txt.")
    job = jobs.spawn("Make out.txt", "agent", enqueue_task=False)
    assert run_job(job.id) == Job.SUCCEEDED
    job.refresh_from_db()
    assert job.summary == "Made out.txt."
    assert job.session_id == f"commis-{job.id}"
    assert job.usage["input_tokens"] > 0
    assert (Path(job.workspace) / "out.txt").read_text() == "made by the agent\n"
    kinds = [e["kind"] for ev in Event.objects.filter(kind="commis.output") for e in ev.payload["events"]]
    assert kinds.count("tool_use") == 2 and kinds.count("tool_result") == 2 and "text" in kinds
    log = (Path(job.artifacts_dir) / "log.txt").read_text()
    assert "[tool_use] run_command: cat out.txt" in log


@pytest.mark.django_db(transaction=True)
def test_runner_agent_without_key_fails_at_once(settings):
    from commis import jobs
    from commis.models import Job
    from commis.runner import run_job

    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="")
    job = jobs.spawn("x", "agent", enqueue_task=False)
    assert run_job(job.id) == Job.FAILED
    job.refresh_from_db()
    assert "set ANTHROPIC_API_KEY or [llm] anthropic_api_key" in job.summary


def test_cancel_during_model_call_abandons_the_step(fake, ws):
    fake.reply_tool_use("run_command", {"command": "echo once >> runs.txt"})
    fake.reply_text("a long answer " * 50)  # streamed in many chunks; the cancel lands mid-stream
    fake.reply_text("Done after all.")

    class StopOnSecondCall(FakeContext):
        def should_stop(self):
            return "cancelled" if len(fake.message_requests) >= 2 else None

    job = agent_job()
    ctx = StopOnSecondCall()
    first = AgentBackend().run_inline(job, ws, ctx)
    assert first.status == FAILED and first.summary == "stopped: cancelled"
    assert "text" not in ctx.kinds()  # the cut-off answer was not taken
    job.attempts = 2
    second = AgentBackend().run_inline(job, ws, FakeContext())
    assert second.status == SUCCEEDED and second.summary == "Done after all."
    assert (ws.path / "runs.txt").read_text() == "once\n"
    assert fake.message_requests[2].body["messages"] == fake.message_requests[1].body["messages"]
    assert all(r.body.get("stream") is True for r in fake.message_requests)
