"""Gemini CLI chat documents (``~/.gemini/tmp/<project hash>/chats/session-*.json``).

Unlike the JSONL formats, Gemini rewrites one JSON document in place:
``{"sessionId", "projectHash", "startTime", "lastUpdated", "messages": [...]}`` where
each message is ``{"id", "timestamp", "type": "user"|"gemini"|"info"|"error"|...,
"content": str | parts, "thoughts": [{subject, description}], "toolCalls": [{id, name,
args, result, status}], "tokens": {input, output, cached, thoughts, tool, total}, "model"}``.

The whole document is the unit (one "line" at offset 0). Events get keys from the
message id, so a rewritten document re-parsed later yields the same keys and the
ingest stores only what is new.
"""

from __future__ import annotations

import os

from agents_ingest.parsers.base import ParsedEvent, SessionMeta, add_usage, clip, decode_line

ROLES = {
    "user": "user",
    "gemini": "assistant",
    "model": "assistant",
    "info": "system",
    "error": "system",
    "warning": "system",
}


def _parts_text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                out.append(part["text"])
        return "\n".join(out)
    return ""


def _result_text(result) -> str:
    # results are lists of {functionResponse: {response: {output: ...}}} or plain values
    if isinstance(result, list):
        texts = []
        for item in result:
            response = item.get("functionResponse", {}).get("response") if isinstance(item, dict) else None
            if isinstance(response, dict) and "output" in response:
                texts.append(clip(response["output"]))
            else:
                texts.append(clip(item))
        return clip("\n".join(texts))
    return clip(result)


def parse_document(raw: bytes, path: str = "") -> tuple[list[ParsedEvent], SessionMeta]:
    meta = SessionMeta(session_id=os.path.splitext(os.path.basename(path))[0] if path else "")
    doc, error = decode_line(raw)
    if error is None and not isinstance(doc, dict):
        error = f"a JSON {type(doc).__name__}, not an object"
    if error is not None:
        meta.malformed.append((0, error))
        meta.record_types["<malformed>"] += 1
        meta.event_kinds["malformed"] += 1
        return [ParsedEvent(0, 0, "malformed", text=clip(raw.decode("utf-8", "replace"))[:2000])], meta
    if isinstance(doc.get("sessionId"), str) and doc["sessionId"]:
        meta.session_id = doc["sessionId"]
    meta.see_time(doc.get("startTime"))
    meta.see_time(doc.get("lastUpdated"))
    events: list[ParsedEvent] = []
    messages = doc.get("messages") if isinstance(doc.get("messages"), list) else []
    for n, message in enumerate(messages):
        index_base = len(events)
        if not isinstance(message, dict):
            meta.record_types["<none>"] += 1
            meta.unknown += 1
            events.append(ParsedEvent(0, index_base, "unknown", text=clip(message)[:2000], key=f"#{n}:0"))
            continue
        mtype = message.get("type") if isinstance(message.get("type"), str) else "<none>"
        meta.record_types[mtype] += 1
        mid = str(message.get("id") or f"#{n}")
        ts = message.get("timestamp") if isinstance(message.get("timestamp"), str) else None
        meta.see_time(ts)
        model = message.get("model") if isinstance(message.get("model"), str) else ""
        if model:
            meta.model = model
        role = ROLES.get(mtype)
        common = dict(timestamp=ts, record_type=mtype, uuid=mid, model=model)
        mine: list[ParsedEvent] = []
        if role is None:
            meta.unknown += 1
            mine.append(ParsedEvent(0, 0, "unknown", text=clip(message)[:2000], **common))
        else:
            for thought in message.get("thoughts") or []:
                if isinstance(thought, dict):
                    text = "\n".join(filter(None, [clip(thought.get("subject")), clip(thought.get("description"))]))
                    mine.append(ParsedEvent(0, 0, "thinking", role=role, text=text, **common))
            text = _parts_text(message.get("content"))
            kind = "message" if mtype in ("user", "gemini", "model") else "system"
            if text or not message.get("toolCalls"):
                mine.append(ParsedEvent(0, 0, kind, role=role, text=clip(text), **common))
            for call in message.get("toolCalls") or []:
                if not isinstance(call, dict):
                    continue
                cid = clip(call.get("id"))
                mine.append(
                    ParsedEvent(
                        0,
                        0,
                        "tool_call",
                        role=role,
                        tool_name=clip(call.get("name")),
                        tool_input=clip(call.get("args")),
                        tool_call_id=cid,
                        **common,
                    )
                )
                if call.get("result") is not None or call.get("resultDisplay") is not None:
                    output = (
                        _result_text(call.get("result"))
                        if call.get("result") is not None
                        else clip(call.get("resultDisplay"))
                    )
                    mine.append(
                        ParsedEvent(0, 0, "tool_result", role="tool", tool_output=output, tool_call_id=cid, **common)
                    )
        usage = message.get("tokens")
        if isinstance(usage, dict) and mine:
            mine[0].usage = usage
            add_usage(meta, usage, "gemini")
        for j, event in enumerate(mine):
            event.index = index_base + j
            event.key = f"{mid}:{j}"
            meta.event_kinds[event.kind] += 1
        events.extend(mine)
    return events, meta
