"""OpenAIProvider against a local fake OpenAI-compatible server (tests/fakes/fake_openai.py):
streamed text, tool calls both ways, usage, and clear errors for what goes wrong on the wire."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from tests.fakes.fake_openai import FakeOpenAI, Reply
from tests.procs import ZergServer, create_token, free_port, http_json, wait_for
from zerg_site.llm.base import ProviderError
from zerg_site.llm.openai import OpenAIProvider, chat_url

TOOLS = [
    {
        "name": "spawn_commis",
        "description": "Start a background job",
        "input_schema": {"type": "object", "properties": {"task": {"type": "string"}}, "required": ["task"]},
    }
]


@pytest.fixture
def fake():
    with FakeOpenAI(api_key="sk-local") as server:
        yield server


@pytest.fixture
def provider(fake):
    return OpenAIProvider(fake.url + "/v1", api_key="sk-local", model="llama3.1")


def call(provider, messages, tools=(), chunks=None, **kw):
    return provider.stream(
        system="You are Oikos.",
        messages=messages,
        tools=list(tools),
        max_tokens=256,
        on_text=(chunks.append if chunks is not None else lambda t: None),
        **kw,
    )


def test_it_streams_text_and_sends_an_openai_request(fake, provider):
    fake.reply_text("Hello from a local model, streamed in pieces.")
    chunks: list[str] = []
    reply = call(provider, [{"role": "user", "content": "hi"}], chunks=chunks)
    assert reply.content == [{"type": "text", "text": "Hello from a local model, streamed in pieces."}]
    assert len(chunks) > 1 and "".join(chunks) == reply.content[0]["text"]
    assert reply.stop_reason == "end_turn"
    assert reply.model == "llama3.1"
    (req,) = fake.chat_requests
    assert req.api_key == "sk-local"
    assert req.body["model"] == "llama3.1"
    assert req.body["stream"] is True and req.body["stream_options"] == {"include_usage": True}
    assert req.body["max_tokens"] == 256
    assert req.body["messages"] == [{"role": "system", "content": "You are Oikos."}, {"role": "user", "content": "hi"}]
    assert "tools" not in req.body


def test_it_round_trips_a_tool_call(fake, provider):
    (call_id,) = fake.reply_tool_calls(
        [("spawn_commis", {"task": "make the tests pass", "n": [1, 2]})], text="Starting a commis."
    )
    fake.reply_text("It is running.")
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "fix my app", "cache_control": {"type": "ephemeral"}}]}
    ]
    reply = call(provider, messages, TOOLS)
    assert reply.stop_reason == "tool_use"
    assert reply.content == [
        {"type": "text", "text": "Starting a commis."},
        {
            "type": "tool_use",
            "id": call_id,
            "name": "spawn_commis",
            "input": {"task": "make the tests pass", "n": [1, 2]},
        },
    ]
    assert fake.chat_requests[0].body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "spawn_commis",
                "description": "Start a background job",
                "parameters": TOOLS[0]["input_schema"],
            },
        }
    ]

    messages += [
        {"role": "assistant", "content": reply.content},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": call_id, "content": [{"type": "text", "text": "job 7 queued"}]},
                {"type": "text", "text": "and tell me when it is done"},
            ],
        },
    ]
    second = call(provider, messages, TOOLS)
    assert second.content == [{"type": "text", "text": "It is running."}] and second.stop_reason == "end_turn"
    sent = fake.chat_requests[1].body["messages"]
    assert sent[1] == {"role": "user", "content": "fix my app"}
    assert sent[2] == {
        "role": "assistant",
        "content": "Starting a commis.",
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {
                    "name": "spawn_commis",
                    "arguments": json.dumps({"task": "make the tests pass", "n": [1, 2]}),
                },
            }
        ],
    }
    # The tool's answer comes right after the call, then the owner's text.
    assert sent[3] == {"role": "tool", "tool_call_id": call_id, "content": "job 7 queued"}
    assert sent[4] == {"role": "user", "content": "and tell me when it is done"}


def test_it_marks_tool_errors_and_treats_calls_with_a_stop_finish_as_tool_use(fake, provider):
    # Ollama ends a reply with tool calls with finish_reason "stop".
    fake.reply_tool_calls([("spawn_commis", {"task": "a"}), ("spawn_commis", {"task": "b"})], finish_reason="stop")
    messages = [{"role": "user", "content": "two jobs"}]
    reply = call(provider, messages, TOOLS)
    assert reply.stop_reason == "tool_use"
    assert [b["input"] for b in reply.content] == [{"task": "a"}, {"task": "b"}]
    messages += [
        {"role": "assistant", "content": reply.content},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": b["id"], "content": "no slots", "is_error": True}
                for b in reply.content
            ],
        },
    ]
    call(provider, messages, TOOLS)
    sent = fake.chat_requests[1].body["messages"]
    assert sent[2]["content"] is None and len(sent[2]["tool_calls"]) == 2
    assert [m["role"] for m in sent[3:]] == ["tool", "tool"]
    assert sent[3]["content"] == "Error: no slots"


def test_it_reports_usage_with_cached_tokens_split_out(fake, provider):
    fake.reply_text(
        "ok",
        usage={
            "prompt_tokens": 1200,
            "completion_tokens": 34,
            "total_tokens": 1234,
            "prompt_tokens_details": {"cached_tokens": 1000},
        },
    )
    reply = call(provider, [{"role": "user", "content": "hi"}])
    assert reply.usage == {
        "input_tokens": 200,
        "output_tokens": 34,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 0,
    }


def test_it_maps_length_to_max_tokens(fake, provider):
    fake.reply_text("cut sho", finish_reason="length")
    assert call(provider, [{"role": "user", "content": "hi"}]).stop_reason == "max_tokens"


@pytest.mark.parametrize(
    "status, words",
    [(500, ["HTTP 500", "the GPU caught fire"]), (401, ["HTTP 401", "openai_api_key", "Incorrect API key"])],
)
def test_it_raises_a_clear_error_on_http_errors(fake, status, words):
    if status == 500:
        fake.reply_error(500, "the GPU caught fire")
        provider = OpenAIProvider(fake.url, api_key="sk-local", model="m")  # base URL without /v1
    else:
        provider = OpenAIProvider(fake.url + "/v1/", api_key="wrong", model="m")
    with pytest.raises(ProviderError) as err:
        call(provider, [{"role": "user", "content": "hi"}])
    for word in words:
        assert word in str(err.value)
    assert "wrong" not in str(err.value)  # the key is not echoed


def test_it_raises_a_clear_error_when_the_server_is_unreachable():
    provider = OpenAIProvider(f"http://127.0.0.1:{free_port()}/v1", model="m")
    with pytest.raises(ProviderError, match="cannot reach the model server at http://127.0.0.1:.*openai_base_url"):
        call(provider, [{"role": "user", "content": "hi"}])


@pytest.mark.parametrize(
    "lines, words",
    [
        (['data: {"choices": [{"delta": {"content": "par"}}]}', "data: {not json"], "malformed stream chunk"),
        (['data: {"choices": [{"delta": {"content": "par"}}]}'], "ended the stream before the reply was complete"),
        (['data: {"error": {"message": "model not loaded"}}'], "model not loaded"),
        (
            [
                'data: {"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c1", "function": '
                '{"name": "spawn_commis", "arguments": "{\\"task\\": "}}]}, "finish_reason": "tool_calls"}]}',
                "data: [DONE]",
            ],
            "invalid JSON arguments for tool 'spawn_commis'",
        ),
    ],
)
def test_it_raises_a_clear_error_on_a_malformed_stream(fake, provider, lines, words):
    fake.reply_raw(lines)
    with pytest.raises(ProviderError, match=words):
        call(provider, [{"role": "user", "content": "hi"}], TOOLS)


def test_it_skips_comments_and_stops_when_asked(fake, provider):
    lines = [
        ": keep-alive",
        'data: {"choices": [{"delta": {"content": "one "}}]}',
        'data: {"choices": [{"delta": {"content": "two"}}]}',
        'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}',
        "data: [DONE]",
    ]
    fake.reply_raw(lines)
    fake.reply_raw(lines)
    chunks: list[str] = []
    assert call(provider, [{"role": "user", "content": "hi"}], chunks=chunks).content == [
        {"type": "text", "text": "one two"}
    ]
    chunks.clear()
    # The runner lost its turn: nothing of the reply may come back as if it were whole.
    with pytest.raises(ProviderError, match="stopped while the model was answering"):
        call(provider, [{"role": "user", "content": "hi"}], chunks=chunks, should_stop=lambda: len(chunks) >= 1)
    assert chunks == ["one "]


def test_it_waits_for_a_slow_server(fake, provider):
    fake.reply(Reply(text="slow but fine", delay=0.5))
    assert call(provider, [{"role": "user", "content": "hi"}]).content[0]["text"] == "slow but fine"


def test_it_converts_system_blocks_and_images(fake, provider):
    provider.stream(
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
                ],
            }
        ],
        tools=[],
        max_tokens=10,
        on_text=lambda t: None,
    )
    assert fake.chat_requests[0].body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
            ],
        },
    ]


def test_it_builds_the_completions_url_from_any_base_url():
    assert chat_url("http://localhost:11434/v1") == "http://localhost:11434/v1/chat/completions"
    assert chat_url("http://localhost:11434/") == "http://localhost:11434/v1/chat/completions"
    assert chat_url("https://api.example.com/openai/v1/") == "https://api.example.com/openai/v1/chat/completions"
    assert chat_url("http://h:8000/v1/chat/completions") == "http://h:8000/v1/chat/completions"
    with pytest.raises(ProviderError):
        OpenAIProvider("", model="m")


def test_it_is_the_provider_when_openai_base_url_is_set(fake):
    from zerg_site.llm import get_provider

    config = SimpleNamespace(
        openai_base_url=fake.url + "/v1", openai_api_key="sk-local", model="qwen2.5", anthropic_api_key="sk-ant-ignored"
    )
    provider = get_provider(config)
    assert isinstance(provider, OpenAIProvider) and provider.model == "qwen2.5"
    assert call(provider, [{"role": "user", "content": "hi"}]).content[0]["text"] == fake.default_text


def test_it_runs_a_whole_oikos_turn_in_zerg_serve_against_a_local_model(zerg_env, tmp_path):
    """OPENAI_BASE_URL set: a real server's turn streams the fake's reply, runs its tool call
    (a shell commis) and sends the result back in OpenAI's format."""
    with FakeOpenAI() as fake:
        env = dict(zerg_env, OPENAI_BASE_URL=fake.url + "/v1", ZERG_MODEL="qwen2.5-coder")
        env.pop("ANTHROPIC_API_KEY", None)
        (call_id,) = fake.reply_tool_calls(
            [("spawn_commis", {"task": "echo from-a-local-model", "backend": "shell"})], text="On it."
        )
        fake.reply_text("Started it for you.")
        server = ZergServer(env, log_dir=tmp_path / "serve-logs")
        try:
            server.start()
            token = create_token(env)
            status, thread = http_json(server.url + "/api/oikos/threads", "POST", token, {})
            assert status == 200, thread
            status, posted = http_json(
                f"{server.url}/api/oikos/threads/{thread['id']}/messages",
                "POST",
                token,
                {"text": "run echo from-a-local-model"},
            )
            assert status == 202, posted

            def finished():
                _, detail = http_json(f"{server.url}/api/oikos/threads/{thread['id']}", token=token)
                return detail if detail["turn"]["status"] in ("done", "failed") else None

            detail = wait_for(finished, 60, interval=0.2, message="the turn to finish")
            assert detail["turn"]["status"] == "done", (detail["turn"], server.output())
        finally:
            server.close()
    by_role = {m["role"]: m for m in detail["messages"]}
    assert by_role["tool_call"]["data"]["name"] == "spawn_commis" and by_role["tool_call"]["data"]["job_id"]
    replies = [m["text"] for m in detail["messages"] if m["role"] == "assistant"]
    assert replies == ["On it.", "Started it for you."]
    assert detail["turn"]["usage"].get("output_tokens", 0) > 0
    first, second = fake.chat_requests[:2]
    assert first.body["model"] == "qwen2.5-coder" and first.body["messages"][0]["role"] == "system"
    assert any(t["function"]["name"] == "spawn_commis" for t in first.body["tools"])
    tool_msgs = [m for m in second.body["messages"] if m["role"] == "tool"]
    assert tool_msgs and tool_msgs[0]["tool_call_id"] == call_id
