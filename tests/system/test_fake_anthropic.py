"""The fake Anthropic Messages API server, driven through the real ``anthropic`` SDK."""

from __future__ import annotations

import json
import urllib.request

import anthropic
import pytest

from tests.fakes.fake_anthropic import FakeAnthropic

MODEL = "claude-fake-1"
TOOLS = [
    {
        "name": "read_file",
        "description": "Read a file",
        "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    }
]


@pytest.fixture
def fake():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def client(fake):
    return anthropic.Anthropic(base_url=fake.url, api_key="test", max_retries=0)


def test_create_text(fake, client):
    fake.reply_text("Hello from the fake.")
    msg = client.messages.create(model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    assert msg.content[0].type == "text"
    assert msg.content[0].text == "Hello from the fake."
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    req = fake.message_requests[0]
    assert req.body["messages"] == [{"role": "user", "content": "hi"}]
    assert req.api_key == "test"


def test_create_tool_use_and_result_roundtrip(fake, client):
    tool_id = fake.reply_tool_use("read_file", {"path": "a.txt"}, text="Let me look.")
    fake.reply_text("The file says hi.")
    messages = [{"role": "user", "content": "read a.txt"}]
    msg = client.messages.create(model=MODEL, max_tokens=100, tools=TOOLS, messages=messages)
    assert msg.stop_reason == "tool_use"
    assert [b.type for b in msg.content] == ["text", "tool_use"]
    call = msg.content[1]
    assert (call.id, call.name, call.input) == (tool_id, "read_file", {"path": "a.txt"})
    messages += [
        {"role": "assistant", "content": [b.model_dump() for b in msg.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "hi"}]},
    ]
    msg2 = client.messages.create(model=MODEL, max_tokens=100, tools=TOOLS, messages=messages)
    assert msg2.content[0].text == "The file says hi."
    second = fake.message_requests[1].body
    assert second["tools"][0]["name"] == "read_file"
    assert second["messages"][-1]["content"][0]["tool_use_id"] == tool_id


def test_stream_text(fake, client):
    fake.reply_text("A streamed answer that is longer than one chunk.")
    with client.messages.stream(model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}]) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1
    assert "".join(pieces) == "A streamed answer that is longer than one chunk."
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0
    assert fake.message_requests[0].body["stream"] is True


def test_stream_tool_use(fake, client):
    fake.reply_tool_uses([("read_file", {"path": "dir/with a long name/file.txt"}), ("read_file", {"path": "b"})])
    with client.messages.stream(
        model=MODEL, max_tokens=100, tools=TOOLS, messages=[{"role": "user", "content": "read"}]
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert "input_json" in kinds or "content_block_delta" in kinds
    assert final.stop_reason == "tool_use"
    assert [b.input for b in final.content] == [{"path": "dir/with a long name/file.txt"}, {"path": "b"}]


def test_raw_sse_event_order(fake):
    fake.reply_tool_use("read_file", {"path": "x"}, text="hm")
    req = urllib.request.Request(
        fake.url + "/v1/messages?beta=true",
        data=json.dumps(
            {"model": MODEL, "max_tokens": 5, "stream": True, "messages": [{"role": "user", "content": "x"}]}
        ).encode(),
        headers={"content-type": "application/json"},
    )
    body = urllib.request.urlopen(req, timeout=5).read().decode()
    names = [line[len("event: ") :] for line in body.splitlines() if line.startswith("event: ")]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_start") == 2 == names.count("content_block_stop")
    assert '"input_json_delta"' in body and '"text_delta"' in body
    assert '"stop_reason": "tool_use"' in body


@pytest.mark.parametrize(
    "status,exc",
    [
        (401, "AuthenticationError"),
        (429, "RateLimitError"),
        (500, "InternalServerError"),
        (529, "InternalServerError"),
    ],
)
def test_errors(fake, client, status, exc):
    fake.reply_error(status, "nope")
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == status
    assert type(info.value).__name__ == exc or isinstance(info.value, getattr(anthropic, exc))
    assert "nope" in str(info.value)


def test_overloaded_error_type_streaming(fake, client):
    fake.reply_error(529, "Overloaded")
    with pytest.raises(anthropic.APIStatusError) as info:
        with client.messages.stream(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}]) as s:
            s.get_final_message()
    assert info.value.status_code == 529
    assert info.value.body["error"]["type"] == "overloaded_error"


def test_api_key_enforced():
    with FakeAnthropic(api_key="right") as fake:
        bad = anthropic.Anthropic(base_url=fake.url, api_key="wrong", max_retries=0)
        with pytest.raises(anthropic.AuthenticationError):
            bad.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
        good = anthropic.Anthropic(base_url=fake.url, api_key="right", max_retries=0)
        assert good.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}]).content


def test_count_tokens_and_beta_query(fake, client):
    count = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "hello there"}])
    assert count.input_tokens > 0
    msg = client.beta.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert msg.content[0].text
    assert fake.requests[-1].path == "/v1/messages"


def test_default_responder_tool_directive(fake, client):
    """With an empty queue, a `TOOL Name {json}` line becomes one tool call, then text."""
    prompt = 'Make it.\nTOOL Bash {"command": "echo hi"}'
    msg = client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": prompt}])
    assert msg.content[0].type == "tool_use" and msg.content[0].input == {"command": "echo hi"}
    msg2 = client.messages.create(
        model=MODEL,
        max_tokens=10,
        messages=[
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": [b.model_dump() for b in msg.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": msg.content[0].id, "content": "hi"}]},
        ],
    )
    assert msg2.content[0].type == "text"


def test_unknown_path_404(fake):
    req = urllib.request.Request(fake.url + "/v1/nope", data=b"{}", headers={"content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    assert info.value.code == 404
