"""The built-in ``agent`` backend against an OpenAI-compatible server (Ollama, vLLM, ...): with
``[llm] openai_base_url`` set and no Anthropic key, a real agent job (the commis runner, the
agent host, the child it forks) runs on the same provider as Oikos, against the local fake of
that API (tests/fakes/fake_openai.py): tools, the summary, tokens and cost, checkpoint resume,
and the error an owner sees when the server or the model misbehaves."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from commis import jobs
from commis.backends.agent import NO_KEY, AgentBackend
from commis.models import Job
from commis.runner import run_job
from tests.fakes.fake_openai import FakeOpenAI
from zerg_site.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake(settings):
    with FakeOpenAI(api_key="sk-local") as server:
        settings.ZERG = dataclasses.replace(
            settings.ZERG,
            anthropic_api_key="",
            openai_base_url=server.url + "/v1",
            openai_api_key="sk-local",
            model="qwen2.5-coder",
        )
        yield server


def events_of(job: Job) -> list[dict]:
    return [
        e for ev in Event.objects.filter(kind="commis.output", topic=f"commis:{job.id}") for e in ev.payload["events"]
    ]


def test_it_runs_an_agent_job_on_a_local_model_with_a_tool_and_a_summary(fake):
    (call_id,) = fake.reply_tool_calls(
        [("write_file", {"path": "plan.md", "content": "# Plan\n1. test\n"})],
        text="Writing the plan.",
        usage={"prompt_tokens": 1200, "completion_tokens": 40, "prompt_tokens_details": {"cached_tokens": 200}},
    )
    fake.reply_text("Wrote plan.md with a one-step plan.", usage={"prompt_tokens": 1300, "completion_tokens": 15})
    job = jobs.spawn("Write a plan to plan.md", "agent", enqueue_task=False)

    assert run_job(job.id) == Job.SUCCEEDED
    job.refresh_from_db()
    assert job.summary == "Wrote plan.md with a one-step plan."
    assert (Path(job.workspace) / "plan.md").read_text() == "# Plan\n1. test\n"
    assert job.session_id == f"commis-{job.id}"
    # OpenAI counts cached tokens inside the prompt; the job records them as Anthropic does, summed
    assert job.usage == {
        "input_tokens": 1000 + 1300,
        "output_tokens": 40 + 15,
        "cache_read_input_tokens": 200,
        "cache_creation_input_tokens": 0,
    }
    assert job.cost_usd is None  # a local model has no list price: unknown, never guessed

    first, second = fake.chat_requests
    assert first.api_key == "sk-local" and first.body["model"] == "qwen2.5-coder" and first.body["stream"] is True
    assert first.body["messages"][0]["role"] == "system" and "Your workspace is" in first.body["messages"][0]["content"]
    assert first.body["messages"][1:] == [{"role": "user", "content": "Write a plan to plan.md"}]
    assert {t["function"]["name"] for t in first.body["tools"]} >= {
        "run_command",
        "read_file",
        "write_file",
        "edit_file",
        "list_dir",
        "grep",
        "forum_post",
    }
    assert second.body["messages"][2] == {
        "role": "assistant",
        "content": "Writing the plan.",
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {
                    "name": "write_file",
                    "arguments": json.dumps({"path": "plan.md", "content": "# Plan\n1. test\n"}),
                },
            }
        ],
    }
    assert second.body["messages"][3] == {
        "role": "tool",
        "tool_call_id": call_id,
        "content": "wrote 15 characters to plan.md",
    }

    kinds = [e["kind"] for e in events_of(job)]
    assert kinds.count("tool_use") == 1 and kinds.count("tool_result") == 1 and "text" in kinds
    assert any("agent started (openai: qwen2.5-coder)" in e["text"] for e in events_of(job))
    log = (Path(job.artifacts_dir) / "log.txt").read_text()
    assert "[tool_use] write_file" in log


def test_it_prices_a_job_on_a_listed_model_call_by_call(fake):
    fake.reply_tool_calls(
        [("list_dir", {})],
        usage={"prompt_tokens": 1000, "completion_tokens": 50, "prompt_tokens_details": {"cached_tokens": 200}},
    )
    fake.reply_text("Listed.", usage={"prompt_tokens": 1200, "completion_tokens": 20})
    job = jobs.spawn("List the workspace", "agent", options={"model": "gpt-4.1"}, enqueue_task=False)

    assert run_job(job.id) == Job.SUCCEEDED
    job.refresh_from_db()
    assert [r.body["model"] for r in fake.chat_requests] == ["gpt-4.1", "gpt-4.1"]
    # gpt-4.1: $2 input, $8 output, $0.50 cache read per million tokens
    first = 800 * 2.0 + 50 * 8.0 + 200 * 0.5
    second = 1200 * 2.0 + 20 * 8.0
    assert job.cost_usd == pytest.approx((first + second) / 1e6)


def test_it_resumes_after_the_local_model_fails_mid_job_without_running_a_tool_twice(fake):
    fake.reply_tool_calls([("run_command", {"command": "echo once >> runs.txt"})])
    fake.reply_error(500, "the model runner crashed")
    job = jobs.spawn("Append to runs.txt", "agent", enqueue_task=False)

    assert run_job(job.id) == Job.FAILED
    job.refresh_from_db()
    assert "HTTP 500" in job.summary and "the model runner crashed" in job.summary
    assert fake.url in job.summary  # names the server the owner configured
    assert (Path(job.workspace) / "runs.txt").read_text() == "once\n"

    fake.reply_text("Finished after the crash.")
    jobs.retry(job.id)
    assert run_job(job.id) == Job.SUCCEEDED
    job.refresh_from_db()
    assert job.summary == "Finished after the crash."
    assert (Path(job.workspace) / "runs.txt").read_text() == "once\n"  # the checkpoint kept step 1
    requests = fake.chat_requests
    assert len(requests) == 3 and requests[2].body["messages"] == requests[1].body["messages"]


def test_it_fails_the_job_clearly_when_the_model_sends_unreadable_tool_arguments(fake):
    """A model's tool call is data: arguments that are not a JSON object end the job with the
    reason, and no tool runs on a guess."""
    fake.reply_raw(
        [
            (
                'data: {"choices": [{"index": 0, "delta": {"tool_calls": '
                '[{"index": 0, "id": "call_1", "type": "function", '
                '"function": {"name": "write_file", "arguments": "{\\"path\\": \\"x.txt\\", "}}]}}]}'
            ),
            'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}',
            "data: [DONE]",
        ]
    )
    job = jobs.spawn("Write x.txt", "agent", enqueue_task=False)

    assert run_job(job.id) == Job.FAILED
    job.refresh_from_db()
    assert "invalid JSON arguments for tool 'write_file'" in job.summary
    assert not (Path(job.workspace) / "x.txt").exists()
    assert "tool_use" not in [e["kind"] for e in events_of(job)]


def test_it_fails_at_once_naming_both_ways_to_configure_a_model(settings):
    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="", openai_base_url="")
    job = jobs.spawn("x", "agent", enqueue_task=False)
    assert run_job(job.id) == Job.FAILED
    job.refresh_from_db()
    assert job.summary == NO_KEY
    assert "[llm] openai_base_url" in job.summary and "ANTHROPIC_API_KEY" in job.summary


def test_it_prefers_the_openai_endpoint_over_an_anthropic_key_as_oikos_does(fake, settings):
    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="sk-ant-unused")
    job = jobs.spawn("x", "agent", enqueue_task=False)
    backend = AgentBackend()
    backend.check(job)  # no BackendUnavailable
    spec = backend.spec(job, SimpleNamespace(path=Path("/tmp/ws")))
    assert (spec["provider"], spec["base_url"], spec["api_key"], spec["model"]) == (
        "openai",
        fake.url + "/v1",
        "sk-local",
        "qwen2.5-coder",
    )
