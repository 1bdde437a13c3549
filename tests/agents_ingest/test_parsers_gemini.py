"""Gemini CLI chat documents (no Gemini fixture exists in shared/fixtures: these documents
follow the gemini-cli ChatRecordingService layout)."""

from __future__ import annotations

import json

from agents_ingest.parsers import parse_document

DOC = {
    "sessionId": "g-123",
    "projectHash": "abc",
    "startTime": "2025-06-01T10:00:00Z",
    "lastUpdated": "2025-06-01T10:05:00Z",
    "messages": [
        {"id": "m1", "timestamp": "2025-06-01T10:00:01Z", "type": "user", "content": "list the files"},
        {
            "id": "m2",
            "timestamp": "2025-06-01T10:00:05Z",
            "type": "gemini",
            "content": "Here they are.",
            "model": "gemini-2.5-pro",
            "thoughts": [{"subject": "Plan", "description": "run ls"}],
            "tokens": {"input": 100, "output": 20, "cached": 5, "thoughts": 3, "tool": 0, "total": 128},
            "toolCalls": [
                {
                    "id": "c1",
                    "name": "run_shell_command",
                    "args": {"command": "ls"},
                    "result": [
                        {
                            "functionResponse": {
                                "id": "c1",
                                "name": "run_shell_command",
                                "response": {"output": "a.txt\nb.txt"},
                            }
                        }
                    ],
                    "status": "success",
                }
            ],
        },
        {"id": "m3", "timestamp": "2025-06-01T10:00:06Z", "type": "info", "content": "Request cancelled."},
        {"id": "m4", "timestamp": "2025-06-01T10:00:07Z", "type": "sparkle", "content": "?"},
    ],
}


def test_document_events_and_meta():
    events, meta = parse_document(json.dumps(DOC).encode(), "/h/.gemini/tmp/abc/chats/session-x.json")
    assert [(e.kind, e.role) for e in events] == [
        ("message", "user"),
        ("thinking", "assistant"),
        ("message", "assistant"),
        ("tool_call", "assistant"),
        ("tool_result", "tool"),
        ("system", "system"),
        ("unknown", ""),
    ]
    assert [e.key for e in events] == ["m1:0", "m2:0", "m2:1", "m2:2", "m2:3", "m3:0", "m4:0"]
    assert [e.index for e in events] == list(range(7))
    assert events[3].tool_name == "run_shell_command" and json.loads(events[3].tool_input) == {"command": "ls"}
    assert events[4].tool_output == "a.txt\nb.txt"
    assert meta.session_id == "g-123" and meta.model == "gemini-2.5-pro"
    assert (meta.input_tokens, meta.output_tokens, meta.cache_read_tokens) == (100, 20, 5)
    assert meta.started_at == "2025-06-01T10:00:00Z" and meta.ended_at == "2025-06-01T10:05:00Z"
    assert dict(meta.record_types) == {"user": 1, "gemini": 1, "info": 1, "sparkle": 1}
    assert meta.unknown == 1


def test_rewritten_document_keeps_keys():
    first, _ = parse_document(json.dumps({**DOC, "messages": DOC["messages"][:1]}).encode())
    second, _ = parse_document(json.dumps(DOC).encode())
    assert {e.key for e in first} <= {e.key for e in second}


def test_malformed_document_is_kept_not_fatal():
    events, meta = parse_document(b'{"sessionId": "g", "messages": [', "/x/chats/session-y.json")
    assert [e.kind for e in events] == ["malformed"]
    assert meta.session_id == "session-y" and meta.malformed[0][0] == 0
