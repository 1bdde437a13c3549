"""Codex rollout parser over every Codex fixture, with counts written down from the raw files.

EXPECTED came from a one-off count of the raw lines (json.loads, ``type`` and
``payload.type``), independent of the parser: ({record type: n}, {event kind: n}).
Event kinds: session_meta / turn_context / event_msg -> meta, except the event_msg
copies of the conversation (user_message, agent_message, agent_reasoning), which yield
nothing because the response_item carries the same message; response_item message ->
message, reasoning -> thinking, function_call / custom_tool_call / web_search_call ->
tool_call, function_call_output / custom_tool_call_output -> tool_result.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents_ingest.parsers import CodexParser, parse_bytes
from agents_ingest.parsers.base import iter_lines

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
ROLLOUT = "codex/rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799.jsonl"

EXPECTED = {
    "codex/rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799.jsonl": (
        {"event_msg": 134, "response_item": 249, "session_meta": 1, "turn_context": 2},
        {"message": 17, "meta": 122, "thinking": 25, "tool_call": 105, "tool_result": 102},
    ),
    "codex/turn-1.jsonl": (
        {"event_msg": 6, "response_item": 5, "session_meta": 1, "turn_context": 1},
        {"message": 4, "meta": 6, "thinking": 1},
    ),
    "codex/turn-2.jsonl": (
        {"event_msg": 12, "response_item": 10, "session_meta": 1, "turn_context": 2},
        {"message": 8, "meta": 11, "thinking": 2},
    ),
    "codex/turn-spawn-skill.jsonl": (
        {"event_msg": 6, "response_item": 4, "session_meta": 1, "turn_context": 1},
        {"meta": 7, "tool_call": 3, "tool_result": 1},
    ),
}

# event_msg copies of messages per file (user_message / agent_message / agent_reasoning), counted with jq
DUPLICATES = {ROLLOUT: 15, "codex/turn-1.jsonl": 2, "codex/turn-2.jsonl": 4, "codex/turn-spawn-skill.jsonl": 1}


def test_fixtures_present():
    assert FIXTURES.is_dir(), f"fixtures missing at {FIXTURES}"
    assert sorted(str(p.relative_to(FIXTURES)) for p in (FIXTURES / "codex").glob("*.jsonl")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_fixture_file(name):
    records, kinds = EXPECTED[name]
    path = FIXTURES / name
    events, meta = parse_bytes("codex", path.read_bytes(), str(path))
    assert dict(meta.record_types) == records
    assert dict(meta.event_kinds) == kinds
    assert meta.malformed == [] and meta.unknown == 0
    assert meta.session_id and meta.cwd
    assert meta.duplicates == DUPLICATES[name]
    assert sum(records.values()) == sum(kinds.values()) + meta.duplicates


def test_rollout_metadata_and_tools():
    path = FIXTURES / ROLLOUT
    events, meta = parse_bytes("codex", path.read_bytes(), str(path))
    assert meta.session_id == "019e1625-789d-76c0-80ab-3724b5ddb799"
    assert meta.cwd == "/Users/Sample_User/repos/codemie-ai/codemie-code"
    assert meta.version == "0.125.0"
    assert meta.model
    names = {e.tool_name for e in events if e.kind == "tool_call"}
    assert {"exec_command", "apply_patch", "web_search"} <= names
    assert meta.output_tokens > 0 and meta.input_tokens > 0
    # each message of the conversation once, though the file writes it twice
    texts = [e.text for e in events if e.kind == "message" and e.role == "assistant"]
    assert len(texts) == len(set(texts))


def test_parsing_from_mid_file_finds_the_session_from_the_path():
    path = FIXTURES / ROLLOUT
    data = path.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1
    parser = CodexParser(str(path))
    events = []
    for raw, offset in iter_lines(data[cut:], cut):
        events.extend(parser.feed(raw, offset))
    assert parser.meta.session_id == "019e1625-789d-76c0-80ab-3724b5ddb799"
    assert all(e.offset >= cut for e in events) and events


def test_compacted_unknown_malformed_and_git():
    lines = [
        {
            "timestamp": "t1",
            "type": "session_meta",
            "payload": {
                "id": "abc",
                "cwd": "/w",
                "cli_version": "0.9",
                "git": {"branch": "dev", "commit_hash": "c0ffee", "repository_url": "git@x:y.git"},
            },
        },
        {"timestamp": "t2", "type": "compacted", "payload": {"message": "earlier work summarised"}},
        {"timestamp": "t3", "type": "response_item", "payload": {"type": "ghost_thing"}},
        {"timestamp": "t4", "type": "from_the_future", "payload": {}},
    ]
    data = b"".join(json.dumps(x).encode() + b"\n" for x in lines) + b"garbage\n"
    events, meta = parse_bytes("codex", data, "/x/rollout-2025-01-01T00-00-00-abc.jsonl")
    assert [e.kind for e in events] == ["meta", "compaction", "unknown", "unknown", "malformed"]
    assert (meta.session_id, meta.git_branch, meta.git_commit, meta.git_remote) == (
        "abc",
        "dev",
        "c0ffee",
        "git@x:y.git",
    )
    assert meta.unknown == 2 and len(meta.malformed) == 1
