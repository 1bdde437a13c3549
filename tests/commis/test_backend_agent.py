"""The built-in ``agent`` backend: langgraph + the real ``anthropic`` SDK against the fake
Anthropic server, workspace-confined tools (hostile paths), checkpoint resume, and the
child process per job (forked by the agent host) that the worker only talks to."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from commis.agent.tools import WorkspaceTools
from commis.backends import agent_child
from commis.backends.agent import NO_KEY, AgentBackend, checkpoint_path
from commis.backends.base import FAILED, SUCCEEDED, BackendUnavailable
from tests.fakes.drive import make_job, make_workspace
from tests.fakes.fake_anthropic import FakeAnthropic

ROOT = Path(__file__).resolve().parents[2]


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


def run_agent(job, ws, ctx):
    """The child's agent run, in this process, with an in-memory context."""
    return agent_child.run(AgentBackend().spec(job, ws), ctx)


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


@pytest.mark.parametrize(
    "path",
    [
        "../secret.txt",
        "sub/../../secret.txt",
        "/etc/passwd",
        "link_out",
        "dir_out/secret.txt",
        "dir_out",
        "~/.bashrc",
        "./../ws/../secret.txt",
        "/",
    ],
)
def test_hostile_paths_refused(tools, path):
    for name, args in [
        ("read_file", {"path": path}),
        ("write_file", {"path": path, "content": "x"}),
        ("edit_file", {"path": path, "old_text": "T", "new_text": "x"}),
        ("list_dir", {"path": path}),
        ("grep", {"pattern": "SECRET", "path": path}),
    ]:
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
    assert tools.call("write_file", {"path": "new/dir/c.txt", "content": "hi"}) == (
        "wrote 2 characters to new/dir/c.txt",
        False,
    )
    assert (tools.root / "new" / "dir" / "c.txt").read_text() == "hi"
    assert tools.call("edit_file", {"path": "sub/b.py", "old_text": "42", "new_text": "43"})[1] is False
    assert "43" in (tools.root / "sub" / "b.py").read_text()
    text, err = tools.call("edit_file", {"path": "a.txt", "old_text": "o", "new_text": "0"})
    assert err and "occurs" in text
    assert tools.call("edit_file", {"path": "a.txt", "old_text": "missing", "new_text": "x"})[1]
    listing, _ = tools.call("list_dir", {})
    assert listing.splitlines() == [
        "a.txt",
        "dir_out -> (outside the workspace)",
        "link_in",
        "link_out -> (outside the workspace)",
        "new/",
        "sub/",
    ]
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
    code = (
        "import sys; import commis.backends.agent, commis.backends.agent_host, commis.agent.tools; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('anthropic','langgraph','langchain_core',"
        "'httpx','httpx2') or m in ('zerg_site.llm.anthropic','zerg_site.llm.openai','zerg_site.llm.base')))"
    )
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
    outcome = run_agent(agent_job(options={"max_retries": 0}), ws, FakeContext())
    assert outcome.status == FAILED
    assert "cannot reach the Anthropic API" in outcome.summary and str(port) in outcome.summary


def test_bad_key_and_server_error(fake, ws):
    fake.reply_error(401, "invalid x-api-key")
    outcome = run_agent(agent_job(options={"max_retries": 0}), ws, FakeContext())
    assert outcome.status == FAILED and "refused the key" in outcome.summary
    fake.reply_error(529, "Overloaded")
    outcome = run_agent(agent_job(options={"max_retries": 0}), ws, FakeContext())
    assert outcome.status == FAILED and "529" in outcome.summary


def test_runs_tools_and_finishes(fake, ws):
    fake.reply_tool_use("write_file", {"path": "hello.txt", "content": "hi\n"}, text="Writing it.")
    fake.reply_tool_uses([("run_command", {"command": "cat hello.txt"}), ("read_file", {"path": "../etc"})])
    fake.reply_text("Wrote hello.txt.")
    ctx = FakeContext()
    job = agent_job("Write hello.txt")
    outcome = run_agent(job, ws, ctx)
    assert outcome.status == SUCCEEDED, outcome.summary
    assert outcome.summary == "Wrote hello.txt."
    assert (ws.path / "hello.txt").read_text() == "hi\n"
    assert outcome.usage["input_tokens"] > 0 and outcome.usage["output_tokens"] > 0
    assert ctx.kinds().count("tool_use") == 3 and ctx.kinds().count("tool_result") == 3
    assert ctx.commands == [["bash", "-c", "cat hello.txt"]]  # through the runner's run_subprocess
    requests = fake.message_requests
    assert len(requests) == 3
    # the same provider as Oikos's: prompt caching marks the system prompt, the tools and the newest message
    assert requests[0].body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Write hello.txt", "cache_control": {"type": "ephemeral"}}],
        }
    ]
    assert requests[0].body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert "Your workspace is" in requests[0].body["system"][0]["text"]
    assert requests[0].body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert {t["name"] for t in requests[0].body["tools"]} >= {
        "run_command",
        "read_file",
        "write_file",
        "edit_file",
        "list_dir",
        "grep",
    }
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
    outcome = run_agent(job, ws, FakeContext())
    assert outcome.status == FAILED and "step limit" in outcome.summary
    assert len(fake.message_requests) == 2
    # a retry: the unanswered call gets an error result, then the new turn; 2 more steps allowed
    job.attempts = 2
    fake.reply_tool_use("list_dir", {})
    fake.reply_text("Listed.")
    again = run_agent(job, ws, FakeContext())
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

    first = run_agent(job, ws, FakeContext(stop_after_tools=1))
    assert first.status == FAILED and "stopped" in first.summary
    assert (ws.path / "log.txt").read_text() == "one\n"
    assert len(fake.message_requests) == 1

    job.attempts = 2
    ctx = FakeContext()
    second = run_agent(job, ws, ctx)
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
    third = run_agent(job, ws, FakeContext())
    assert third.status == SUCCEEDED and third.summary == "Checked: both lines are there."
    assert len(fake.message_requests) == 4
    retried = fake.message_requests[3].body["messages"]
    assert len(retried) == 7 and "attempt 3" in retried[-1]["content"][0]["text"]
    assert (ws.path / "log.txt").read_text() == "one\ntwo\n"


def test_model_error_then_retry_continues(fake, ws):
    """An API error after a tool step fails the attempt; the retry resumes at the model
    call that failed, without running the tool again."""
    fake.reply_tool_use("run_command", {"command": "echo once >> runs.txt"})
    fake.reply_error(500, "boom")
    fake.reply_text("Finished.")
    job = agent_job(options={"max_retries": 0})
    first = run_agent(job, ws, FakeContext())
    assert first.status == FAILED and "500" in first.summary and "boom" in first.summary
    job.attempts = 2
    second = run_agent(job, ws, FakeContext())
    assert second.status == SUCCEEDED and second.summary == "Finished."
    assert (ws.path / "runs.txt").read_text() == "once\n"
    assert len(fake.message_requests) == 3
    assert fake.message_requests[2].body["messages"] == fake.message_requests[1].body["messages"]


# --- a real restart: the job's process is killed (SIGKILL) mid-run


def child_spec(home: Path, ws_root: Path, attempts: int, fake_url: str) -> dict:
    """A spec as ``AgentBackend.spec`` makes it, for a child started by hand (SQLite checkpoints)."""
    ws = make_workspace(ws_root)
    return {
        "job_id": 42,
        "thread_id": "commis-42",
        "task": "Write two lines",
        "attempts": attempts,
        "workspace": str(ws.path),
        "model": "m",
        "max_steps": 50,
        "max_tokens": 1024,
        "max_retries": 0,
        "request_timeout": 60,
        "api_key": "test",
        "base_url": fake_url,
        "checkpoint": {"sqlite": str(home / "checkpoints.db")},
        "env": {"PATH": os.environ["PATH"]},
    }


def start_child(spec: dict) -> subprocess.Popen:
    """``python -m commis.backends.agent_child``, the spec on stdin (kept open: EOF = the worker died)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "commis.backends.agent_child"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    proc.stdin.write(json.dumps(spec) + "\n")
    proc.stdin.flush()
    return proc


def read_until_outcome(proc: subprocess.Popen) -> list[dict]:
    """The child's JSON records up to its outcome (stdin stays open until then: EOF would stop it)."""
    got = []
    for line in proc.stdout:
        if line.startswith("{"):
            got.append(json.loads(line))
            if got[-1]["kind"] == "outcome":
                break
    proc.stdin.close()
    proc.wait(timeout=60)
    return got


def test_kill_9_mid_run_resumes_from_checkpoint(tmp_path):
    import time

    home = tmp_path / "home"
    with FakeAnthropic() as fake:
        fake.reply_tool_use("run_command", {"command": "echo one >> log.txt"})
        fake.reply_text("too late", delay=20)  # the process dies while waiting for this answer
        proc = start_child(child_spec(home, tmp_path / "job", 1, fake.url))
        deadline = time.monotonic() + 60
        while len(fake.message_requests) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert len(fake.message_requests) == 2, proc.stdout.read() if proc.poll() is not None else "timeout"
        proc.kill()
        proc.wait()
        assert (tmp_path / "job" / "work" / "log.txt").read_text() == "one\n"

        fake.replies.clear()
        fake.reply_text("Finished after the restart.")
        again = start_child(child_spec(home, tmp_path / "job", 2, fake.url))
        got = read_until_outcome(again)
        out = json.dumps(got)
        assert got[0]["kind"] == "pid" and got[0]["payload"]["pid"] == again.pid
        assert got[-1] == {
            "kind": "outcome",
            "text": "",
            "payload": {
                "status": "succeeded",
                "summary": "Finished after the restart.",
                "usage": got[-1]["payload"]["usage"],
                "session_id": "commis-42",
            },
        }, out
        assert any("resuming from the last checkpoint" in r["text"] for r in got)
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
    assert job.cost_usd > 0  # claude-sonnet-4-6's calls, at the Timeline's list prices
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
    first = run_agent(job, ws, ctx)
    assert first.status == FAILED and first.summary == "stopped: cancelled"
    assert "text" not in ctx.kinds()  # the cut-off answer was not taken
    job.attempts = 2
    second = run_agent(job, ws, FakeContext())
    assert second.status == SUCCEEDED and second.summary == "Done after all."
    assert (ws.path / "runs.txt").read_text() == "once\n"
    assert fake.message_requests[2].body["messages"] == fake.message_requests[1].body["messages"]
    assert all(r.body.get("stream") is True for r in fake.message_requests)


# --- the child process per job: cancel, the worker's death, what each process imports


def procs_with(marker: str) -> list[int]:
    """Pids of the processes whose environment holds ``marker`` (e.g. a job's lease)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{name}/environ").read_bytes().split(b"\0"):
                    found.append(int(name))
            except OSError:
                pass
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.django_db(transaction=True)
def test_cancel_while_a_model_call_waits_for_its_first_byte(fake, settings):
    """Cancel kills the job's process group although the model call has not answered yet;
    the retry resumes from the checkpoint without running the first step's tool again."""
    import threading

    from commis import jobs
    from commis.models import Job
    from commis.runner import run_job
    from tests.procs import wait_for

    settings.ZERG = dataclasses.replace(settings.ZERG, heartbeat_interval=0.3, stale_threshold=3.0)
    fake.reply_tool_use("run_command", {"command": "echo once >> runs.txt"})
    fake.reply_text("never sent", delay=120)  # no byte of this answer comes before the cancel
    job = jobs.spawn("Write runs.txt", "agent", enqueue_task=False)
    result = {}
    worker = threading.Thread(target=lambda: result.update(status=run_job(job.id)))
    worker.start()
    wait_for(lambda: len(fake.message_requests) >= 2, 60, message="second model call")
    child = Job.objects.get(id=job.id).pid
    assert child and alive(child)
    jobs.cancel(job.id)
    worker.join(10)  # a functional bound: without the kill it would wait 120 s for the answer
    assert not worker.is_alive() and result["status"] == Job.CANCELLED
    wait_for(lambda: not alive(child), 10, message="the child ended")
    job.refresh_from_db()
    assert job.status == Job.CANCELLED and job.summary.startswith("cancelled")

    fake.replies.clear()
    fake.reply_text("Done after the cancel.")
    jobs.retry(job.id)
    assert run_job(job.id) == Job.SUCCEEDED
    job.refresh_from_db()
    assert job.summary == "Done after the cancel."
    assert (Path(job.workspace) / "runs.txt").read_text() == "once\n"
    requests = fake.message_requests
    assert len(requests) == 3 and requests[2].body["messages"] == requests[1].body["messages"]


@pytest.mark.django_db(transaction=True)
def test_the_child_and_its_command_end_when_the_worker_is_gone(fake, ws):
    """The worker's end of the connection closes (as when it is killed -9): the child and the
    command its tool runs are gone at once, not left running."""
    from tests.procs import wait_for

    fake.reply_tool_use("run_command", {"command": "sleep 300"})
    backend = AgentBackend()
    job = agent_job("Sleep")
    lease = f"lease-{job.id}"
    proc = backend.start(job, ws, {**os.environ, "ZERG_JOB_ID": str(job.id), "ZERG_JOB_LEASE": lease})
    seen = []
    for _ in range(20):
        line = proc.stdout.readline().decode()
        seen += backend.on_output(job, line.rstrip("\n"))
        if any(e.kind == "tool_use" for e in seen):
            break
    sleeper = wait_for(
        lambda: [p for p in procs_with(f"ZERG_JOB_LEASE={lease}") if alive(p)], 30, message="the tool command"
    )
    assert alive(proc.pid) and proc.pid not in sleeper  # the command runs in a group of its own
    proc.reader.close()
    proc.sock.close()
    wait_for(lambda: not alive(proc.pid) and not any(alive(p) for p in sleeper), 10, message="all gone")


def test_neither_the_worker_nor_the_child_loads_what_it_does_not_need(tmp_path):
    """A worker runs an agent job without importing anthropic or langgraph; the child's code
    imports no Django (it only gets a spec and prints events)."""
    code = (
        "import sys, commis.backends.agent_child, commis.agent.graph; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django' "
        "or m in ('commis.models', 'zerg_site.settings', 'zerg_site.models')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

    worker = r"""
import sys, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from commis import jobs
from commis.runner import run_job
job = jobs.spawn("Write a file", "agent", enqueue_task=False)
print("STATUS", run_job(job.id))
print("LOADED", sorted({m.split('.')[0] for m in sys.modules} & {"anthropic", "langgraph", "langchain_core"}))
"""
    with FakeAnthropic() as fake:
        fake.reply_tool_use("write_file", {"path": "a.txt", "content": "a\n"})
        fake.reply_text("Wrote a.txt.")
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "zerg_site.settings",
            "ZERG_HOME": str(tmp_path / "home"),
            "ANTHROPIC_API_KEY": "test",
            "ANTHROPIC_BASE_URL": fake.url,
            "PYTHONPATH": str(ROOT),
        }
        env.pop("DATABASE_URL", None)
        done = subprocess.run(
            [sys.executable, "-c", worker], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
    assert "STATUS succeeded" in done.stdout, done.stdout + done.stderr
    assert "LOADED []" in done.stdout


@pytest.mark.django_db(transaction=True)
def test_a_new_host_starts_while_children_of_a_dead_one_still_run(fake, ws, tmp_path):
    """The host is killed (its worker was recycled) while a child runs a job: the child goes
    on, and the next job starts a new host at once."""
    import signal

    from commis.backends import agent
    from tests.fakes.drive import make_workspace
    from tests.procs import wait_for

    fake.reply_tool_use("run_command", {"command": "sleep 300"})
    env = {**os.environ, "ZERG_JOB_ID": "1", "ZERG_JOB_LEASE": "old-host"}
    first = AgentBackend().start(agent_job("Sleep"), ws, env)
    wait_for(lambda: procs_with("ZERG_JOB_LEASE=old-host"), 30, message="the first job's command")
    host = agent._hosts[agent.socket_path()]
    host.send_signal(signal.SIGKILL)
    host.wait()
    assert alive(first.pid)

    fake.replies.clear()
    fake.reply_text("Second job done.")
    backend = AgentBackend()
    job = agent_job("Second")
    second = backend.start(job, make_workspace(tmp_path / "second"), {**env, "ZERG_JOB_LEASE": "new-host"})
    for line in iter(second.stdout.readline, b""):
        backend.on_output(job, line.decode().rstrip("\n"))
    second.wait()
    assert backend.on_exit(job, ws, None).summary == "Second job done."
    assert agent._hosts[agent.socket_path()].pid != host.pid
    first.reader.close()
    first.sock.close()  # the worker of the first job "dies": its child and command go
    wait_for(lambda: not alive(first.pid) and not procs_with("ZERG_JOB_LEASE=old-host"), 10, message="first gone")


def test_the_host_warm_up_runs_a_whole_job_against_its_mock():
    """The host builds what a job needs (client, graph, checkpointer, streaming) before it
    forks; a warm-up that quietly failed would cost every child that memory again."""
    from commis.backends import agent_host

    agent_host.warm_up()  # raises unless the mock job succeeded
