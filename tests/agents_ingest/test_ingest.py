"""POST /api/agents/ingest: the fixtures shipped through the HTTP API, idempotency,
generations, subagents, export, and bad input (nothing stored half-way)."""

from __future__ import annotations

import base64
import gzip
import json
import os
from pathlib import Path

import pytest
from django.db.models import Sum
from django.test import Client

from agents_ingest import wire
from agents_ingest.ingest import FileChunk, ingest_files
from tests.ingest_batch import batch_body, post_ingest, raw_batch
from timeline.chunks import CHUNK_BYTES
from timeline.export import export_bytes, iter_file_bytes
from timeline.models import Event, Session, SourceChunk, SourceFile
from zerg_site.auth.tokens import create_token, revoke_token
from zerg_site.models import ApiToken
from zerg_site.models import Event as LogEvent

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
URL = "/api/agents/ingest"

# Written down from the raw files (see tests/agents_ingest/test_parsers_*.py for the per-file counts):
ALL_LINES = 3481  # newline-terminated lines in every .jsonl fixture (Claude 3031, CLI 14, Codex 436)
# Events, from the per-kind totals written down in tests/agents_ingest/test_parsers_*.py: Claude + CLI 3063, Codex 414;
# an event is stored once per session, so lines repeated inside one session add nothing: 12
# permission-mode/last-prompt repeats in ef958aa1, and turn-2.jsonl re-writes all 13 lines of turn-1.jsonl
# (same session id a1b2c3d4-...), which yield 11 events.
ALL_EVENTS = 3063 + 414 - 12 - 11


def fixture_files():
    files = sorted((FIXTURES / "claude").rglob("*.jsonl")) + sorted((FIXTURES / "claude-cli").glob("*.jsonl"))
    out = [("claude", p) for p in files]
    out += [("codex", p) for p in sorted((FIXTURES / "codex").glob("*.jsonl"))]
    assert len(out) == 101 + 4
    return out


def entry(provider, path, data: bytes, offset=0, generation=0, **extra):
    item = {
        "provider": provider,
        "path": str(path),
        "generation": generation,
        "offset": offset,
        "git": None,
        "parent_session": None,
        **extra,
    }
    try:
        item["data"] = data.decode("utf-8")
    except UnicodeDecodeError:
        item["data_b64"] = base64.b64encode(data).decode()
    return item


@pytest.fixture
def device_token(db):
    _, secret = create_token("laptop", kind=ApiToken.DEVICE)
    return secret


@pytest.fixture
def device(device_token):
    return Client(HTTP_AUTHORIZATION=f"Bearer {device_token}")


def post(client, body, gz=False, **headers):
    """``body`` (a dict of entries with their data, or batch bytes) as a batch, gzipped or as it is."""
    return post_ingest(client, body, encoding="gzip" if gz else "identity", **headers)


def post_batch(client, device, files, **headers):
    """The batch format, as ``zerg ship`` sends it: files as ``(entry without data, bytes)``."""
    return client.post(
        URL, wire.encode_batch(device, files), content_type=wire.BATCH_TYPE, HTTP_CONTENT_ENCODING="zstd", **headers
    )


def ship_all(client, gz=True, batch_format=False):
    totals = {"lines_stored": 0, "lines_duplicate": 0, "events_stored": 0}
    files = [(provider, path) for provider, path in fixture_files()]
    for start in range(0, len(files), 10):
        group = files[start : start + 10]
        if batch_format:
            r = post_batch(
                client,
                "laptop",
                [
                    (
                        {
                            "provider": provider,
                            "path": str(path),
                            "generation": 0,
                            "offset": 0,
                            "git": None,
                            "parent_session": None,
                        },
                        path.read_bytes(),
                    )
                    for provider, path in group
                ],
            )
        else:
            r = post(
                client, {"device": "laptop", "files": [entry(p, path, path.read_bytes()) for p, path in group]}, gz=gz
            )
        assert r.status_code == 200, r.content
        for k in totals:
            totals[k] += r.json()[k]
    return totals


def archived_lines() -> int:
    return SourceChunk.objects.aggregate(n=Sum("lines"))["n"] or 0


def stored():
    return (SourceChunk.objects.count(), archived_lines(), Event.objects.count(), Session.objects.count())


def assert_fixtures_export_byte_for_byte():
    """Every non-empty fixture file comes back as it was shipped: from its session's export, or
    (a session that spans files, such as Codex's turn-1 / turn-2) from the export of that file."""
    for _provider, path in fixture_files():
        data = path.read_bytes()
        source = SourceFile.objects.get(device="laptop", path=str(path))
        if data:
            assert b"".join(iter_file_bytes(source)) == data, path
            if source.session.files.count() == 1:
                assert export_bytes(source.session) == data, path


def test_fixtures_shipped_twice_store_everything_once(device):
    first = ship_all(device)
    assert first == {"lines_stored": ALL_LINES, "lines_duplicate": 0, "events_stored": ALL_EVENTS}
    # the archive holds every line once, in compressed chunks
    files = fixture_files()
    assert archived_lines() == ALL_LINES
    assert SourceChunk.objects.aggregate(n=Sum("length"))["n"] == sum(p.stat().st_size for _, p in files)
    assert SourceChunk.objects.count() >= sum(1 for _, p in files if p.stat().st_size)
    sizes = SourceChunk.objects.values_list("length", "lines")
    assert all(length <= CHUNK_BYTES or lines == 1 for length, lines in sizes)
    assert sum(len(c.data) for c in SourceChunk.objects.all()) * 3 < sum(p.stat().st_size for _, p in files)
    assert Event.objects.count() == ALL_EVENTS
    assert Session.objects.filter(malformed_count__gt=0).count() == 0
    before = stored()
    second = ship_all(device, gz=False)
    assert second == {"lines_stored": 0, "lines_duplicate": ALL_LINES, "events_stored": 0}
    assert stored() == before
    assert_fixtures_export_byte_for_byte()
    # subagents hang under their parents
    parent = Session.objects.get(provider="claude", provider_session_id="ef958aa1-0e93-49f0-bb71-150f63befcd1")
    assert parent.subagents.count() == 6
    old = Session.objects.get(provider_session_id="agent-88061e52")
    assert old.parent.provider_session_id == "7acd37a8-2745-4b58-a8a9-46164b22ad9e"
    codex = Session.objects.get(provider="codex", provider_session_id="019e1625-789d-76c0-80ab-3724b5ddb799")
    assert codex.cwd.endswith("codemie-code") and codex.output_tokens > 0 and codex.event_count == 371
    assert LogEvent.objects.filter(topic="timeline", kind="timeline.ingested").count() == 11


def test_it_stores_a_batch_the_same_whatever_its_content_encoding(device):
    first = ship_all(device, batch_format=True)
    assert first == {"lines_stored": ALL_LINES, "lines_duplicate": 0, "events_stored": ALL_EVENTS}
    before = stored()
    assert ship_all(device, gz=True) == {"lines_stored": 0, "lines_duplicate": ALL_LINES, "events_stored": 0}
    assert ship_all(device, batch_format=True)["lines_duplicate"] == ALL_LINES
    assert stored() == before
    assert_fixtures_export_byte_for_byte()


def test_it_takes_bytes_that_are_not_utf8_raw_in_a_batch(device):
    data = b'{"type":"user","sessionId":"raw-1","message":{"content":"caf\xe9"}}\n{"type":"user"}\n'
    meta = {"provider": "claude", "path": "/a/raw-1.jsonl", "generation": 0, "offset": 0}
    r = post_batch(device, "d", [(meta, data)])
    assert r.status_code == 200, r.content
    f = r.json()["files"][0]
    assert (f["lines_stored"], f["acked_offset"]) == (2, len(data))
    assert [m["offset"] for m in f["malformed"]] == [0] and "not UTF-8" in f["malformed"][0]["error"]
    assert export_bytes(Session.objects.get(provider_session_id="raw-1")) == data


def _zstd(raw: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(raw)


def _framed(header: bytes, tail: bytes) -> bytes:
    return _zstd(header + b"\n" + tail)


@pytest.mark.parametrize(
    "case",
    [
        "truncated_zstd",
        "corrupt_zstd",
        "trailing_zstd",
        "short",
        "long",
        "no_header",
        "header_not_json",
        "bad_length",
        "bad_entry",
        "surrogate_git",
        "unknown_encoding",
    ],
)
def test_it_refuses_a_bad_batch_with_a_clear_error_and_stores_nothing(device, case):
    data = b'{"type":"user","message":{"content":"x"}}\n'
    meta = {"provider": "claude", "path": "/a/s.jsonl", "generation": 0, "offset": 0}
    good = wire.encode_batch("d", [(meta, data), ({**meta, "path": "/a/t.jsonl"}, data)])
    header = json.dumps({"device": "d", "files": [{**meta, "length": len(data)}]}).encode()
    status, encoding = 400, "zstd"
    body, expect = {
        "truncated_zstd": (good[:-7], "truncated"),
        "corrupt_zstd": (b"\x28\xb5\x2f\xfd" + b"\xff" * 40, "corrupt"),
        "trailing_zstd": (good + good, "after the end"),
        "short": (_framed(header, data[:-5]), "truncated"),
        "long": (_framed(header, data + b"extra"), "5 bytes after"),
        "no_header": (_zstd(b'{"files": []}'), "header line"),
        "header_not_json": (_framed(b"{files", data), "not valid JSON"),
        "bad_length": (_framed(json.dumps({"files": [{**meta, "length": -1}]}).encode(), b""), "length"),
        "bad_entry": (
            _framed(json.dumps({"files": [{**meta, "provider": "vim", "length": len(data)}]}).encode(), data),
            "vim",
        ),
        "surrogate_git": (
            _framed(
                json.dumps({"files": [{**meta, "length": len(data), "git": {"branch": "x"}}]})
                .replace('"x"', '"\\ud800"')
                .encode(),
                data,
            ),
            "not valid Unicode",
        ),
        "unknown_encoding": (good, "not supported"),
    }[case]
    if case == "unknown_encoding":
        status, encoding = 415, "br"
    r = device.post(URL, body, content_type=wire.BATCH_TYPE, HTTP_CONTENT_ENCODING=encoding)
    assert r.status_code == status, r.content
    assert expect in r.json()["detail"], r.json()
    assert stored() == (0, 0, 0, 0) and SourceFile.objects.count() == 0


def test_it_stops_inflating_a_zstd_bomb_at_the_limit(device, settings):
    import zstandard

    settings.INGEST_MAX_BODY = 1 << 20
    bomb = zstandard.ZstdCompressor(level=19).compress(b"{" + b" " * (64 << 20))  # 64 MiB of spaces, ~2 KB
    assert len(bomb) < 10_000
    r = device.post(URL, bomb, content_type=wire.BATCH_TYPE, HTTP_CONTENT_ENCODING="zstd")
    assert r.status_code == 413 and "after decompression" in r.json()["detail"]
    assert stored() == (0, 0, 0, 0)


def test_resend_after_crash_and_partial_trailing_line(device):
    path = FIXTURES / "codex/rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799.jsonl"
    data = path.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1
    half_line = cut + 40  # a half-written line after the cut
    r = post(device, {"device": "d", "files": [entry("codex", path, data[:half_line])]}).json()
    assert r["files"][0]["acked_offset"] == cut  # the incomplete tail is neither stored nor acknowledged
    lines_first = r["lines_stored"]
    # the Shipper crashed before saving the ack: it re-sends everything from 0
    r = post(device, {"device": "d", "files": [entry("codex", path, data)]}).json()
    f = r["files"][0]
    assert f["acked_offset"] == len(data)
    assert f["lines_duplicate"] == lines_first
    assert lines_first + f["lines_stored"] == data.count(b"\n")
    session = Session.objects.get(provider="codex")
    assert session.event_count == 371 == Event.objects.count()
    assert export_bytes(session) == data
    # a chunk beyond a gap is not stored, and the ack stays at the contiguous end (0)
    other = {
        "device": "d",
        "files": [
            entry(
                "codex",
                "/x/rollout-2025-01-01T00-00-00-abc.jsonl",
                b'{"type":"event_msg","payload":{"type":"x"}}\n',
                offset=500,
            )
        ],
    }
    before = stored()
    answer = post(device, other).json()["files"][0]
    assert (answer["acked_offset"], answer["lines_stored"]) == (0, 0) and stored() == before


def test_rewritten_file_new_generation_does_not_duplicate(device):
    path = FIXTURES / "claude/real_projects/-src-deep-manifest/a7da6a22-facc-4fcd-8bab-f83c87862004.jsonl"
    data = path.read_bytes()
    post(device, {"device": "d", "files": [entry("claude", path, data)]})
    events = Event.objects.count()
    # /rewind: the file was rewritten shorter, then grew with one new line
    lines = data.splitlines(keepends=True)
    rewritten = (
        b"".join(lines[:-3])
        + json.dumps(
            {"type": "user", "uuid": "new-1", "message": {"role": "user", "content": "a different path"}}
        ).encode()
        + b"\n"
    )
    r = post(device, {"device": "d", "files": [entry("claude", path, rewritten, generation=1)]}).json()
    assert r["events_stored"] == 1 and r["files"][0]["acked_offset"] == len(rewritten)
    assert Event.objects.count() == events + 1
    session = Session.objects.get(provider_session_id="a7da6a22-facc-4fcd-8bab-f83c87862004")
    assert export_bytes(session) == rewritten
    # both generations stay archived, byte for byte
    source = session.files.get()
    assert b"".join(iter_file_bytes(source, 0)) == data and b"".join(iter_file_bytes(source, 1)) == rewritten
    # the new event names the line it came from
    assert Event.objects.get(uuid="new-1").source_line() == rewritten.splitlines(keepends=True)[-1]
    # a late batch of the old generation is acknowledged as stale and stores nothing
    r = post(device, {"device": "d", "files": [entry("claude", path, data, generation=0)]}).json()
    assert r["files"][0]["stale"] is True and r["lines_stored"] == 0 and Event.objects.count() == events + 1


def test_gemini_document_rewrites(device):
    doc = {
        "sessionId": "gem-1",
        "startTime": "2025-06-01T10:00:00Z",
        "messages": [{"id": "m1", "timestamp": "2025-06-01T10:00:01Z", "type": "user", "content": "hello gemini"}],
    }
    path = "/h/.gemini/tmp/abc/chats/session-1.json"
    r = post(device, {"device": "d", "files": [entry("gemini", path, json.dumps(doc).encode())]}).json()
    assert r["events_stored"] == 1 and r["lines_stored"] == 1
    r = post(device, {"device": "d", "files": [entry("gemini", path, json.dumps(doc).encode())]}).json()
    assert r["events_stored"] == 0 and r["lines_stored"] == 0 and r["lines_duplicate"] == 1
    doc["messages"].append({"id": "m2", "type": "gemini", "content": "hi", "tokens": {"input": 7, "output": 2}})
    whole = json.dumps(doc, indent=2).encode()
    r = post(device, {"device": "d", "files": [entry("gemini", path, whole, generation=1)]}).json()
    assert r["events_stored"] == 1
    session = Session.objects.get(provider="gemini")
    assert (session.event_count, session.input_tokens, session.output_tokens) == (2, 7, 2)
    assert export_bytes(session) == whole
    # rewritten in place (same generation): the new document is exported, the old one stays archived
    # for the events parsed from it
    doc["messages"].append({"id": "m3", "type": "user", "content": "once more"})
    again = json.dumps(doc).encode()
    r = post(device, {"device": "d", "files": [entry("gemini", path, again, generation=1)]}).json()
    assert r["events_stored"] == 1 and r["files"][0]["acked_offset"] == len(again)
    assert export_bytes(session) == again
    assert sorted(SourceChunk.objects.filter(generation=1).values_list("superseded", flat=True)) == [False, True]
    assert json.loads(Event.objects.get(session=session, text="hi").source_line()) == json.loads(whole)


def test_malformed_lines_are_kept_counted_and_reported(device):
    good = json.dumps({"type": "user", "uuid": "u", "message": {"role": "user", "content": "hi"}}).encode()
    data = good + b"\n{truncated json\n" + b"\xff\xfe not utf8\n" + b'{"type":"mystery"}\n'
    r = post(device, {"device": "d", "files": [entry("claude", "/p/.claude/projects/-x/s-1.jsonl", data)]})
    assert r.status_code == 200
    f = r.json()["files"][0]
    assert [m["offset"] for m in f["malformed"]] == [len(good) + 1, len(good) + 1 + 16]
    assert r.json()["lines_malformed"] == 2
    assert f["lines_stored"] == 4 and f["events_stored"] == 4
    session = Session.objects.get(provider_session_id="s-1")
    assert (session.malformed_count, session.unknown_count) == (2, 1)
    assert export_bytes(session) == data  # lossless, invalid bytes included


@pytest.mark.parametrize(
    "case",
    ["truncated_gzip", "bad_json", "bad_provider", "bad_entry", "bad_generation", "surrogate_path", "surrogate_device"],
)
def test_bad_requests_store_nothing(device, case):
    good = entry("claude", "/a/s.jsonl", b'{"type":"user","message":{"content":"x"}}\n')
    body = {"device": "d", "files": [good]}
    if case == "truncated_gzip":
        r = post_ingest(device, batch_body(body, "gzip")[:-12], encoding="gzip")
        assert "truncated" in r.json()["detail"]
    elif case == "bad_json":
        r = post(device, b'{"device": "d", "files": [\n')
        assert "not valid JSON" in r.json()["detail"]
    elif case == "bad_provider":
        r = post(device, {"device": "d", "files": [good, {**good, "path": "/b", "provider": "vim"}]})
        assert "vim" in r.json()["detail"]
    elif case == "bad_entry":
        r = post(device, {"device": "d", "files": [good, {**good, "path": "/c", "offset": -1}]})
    elif case == "surrogate_path":  # half a surrogate pair, escaped: not Unicode, so no name can hold it
        r = post(device, raw_batch(body).replace(b'"/a/s.jsonl"', b'"/a/s\\udc00.jsonl"'))
        assert r.json()["detail"] == "files[0]: text is not valid Unicode (an unpaired surrogate escape)"
    elif case == "surrogate_device":
        r = post(device, raw_batch(body).replace(b'"device": "d"', b'"device": "d\\ud800"'))
        assert "device: text is not valid Unicode" in r.json()["detail"]
    else:  # bad_generation
        r = post(device, {"device": "d", "files": [good, {**good, "path": "/c", "generation": "1"}]})
        assert r.json()["detail"] == "files[1]: generation must be a non-negative integer"
    assert r.status_code == 400, r.content
    assert r.json()["detail"]
    assert stored() == (0, 0, 0, 0) and SourceFile.objects.count() == 0


def test_oversized_bodies_are_413(device, settings):
    settings.INGEST_MAX_BODY = 10_000
    settings.INGEST_MAX_COMPRESSED = 2_000
    line = json.dumps({"type": "user", "message": {"content": "y" * 200}}).encode() + b"\n"
    body = {"device": "d", "files": [entry("claude", "/a/s.jsonl", line * 60)]}
    r = post(device, body)
    assert r.status_code == 413 and "split" in r.json()["detail"]
    r = post(device, body, gz=True)  # small on the wire, too big once inflated
    assert r.status_code == 413 and "decompression" in r.json()["detail"]
    noise = {"device": "d", "files": [entry("claude", "/a/s.jsonl", os.urandom(4000))]}
    r = post(device, noise, gz=True)
    assert r.status_code == 413
    assert stored() == (0, 0, 0, 0)


def test_auth_device_tokens_only(db, owner_client, api_token, device_token):
    body = {"device": "d", "files": []}
    assert post_ingest(Client(), body).status_code == 401
    bad = Client(HTTP_AUTHORIZATION="Bearer zerg_nope")
    assert post_ingest(bad, body).status_code == 401
    api = Client(HTTP_AUTHORIZATION=f"Bearer {api_token}")
    assert post_ingest(api, body).status_code == 401
    assert post_ingest(owner_client, body).status_code == 401
    ok = Client(HTTP_AUTHORIZATION=f"Bearer {device_token}")
    assert post_ingest(ok, body).status_code == 200
    revoke_token(ApiToken.objects.get(kind=ApiToken.DEVICE).id)
    assert post_ingest(ok, body).status_code == 401


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", ""])
def test_it_refuses_a_body_that_is_not_a_batch_with_415_naming_the_batch_type(device, content_type):
    """The gzipped JSON document of before the first release is no ingest body: the sender is told
    which Content-Type to use, and nothing is stored, however well-formed the document."""
    good = entry("claude", "/a/s.jsonl", b'{"type":"user","message":{"content":"x"}}\n')
    document = json.dumps({"device": "d", "files": [good]}).encode()
    for body, encoding in ((document, None), (gzip.compress(document), "gzip")):
        extra = {"HTTP_CONTENT_ENCODING": encoding} if encoding else {}
        r = device.post(URL, body, content_type=content_type, **extra)
        assert r.status_code == 415, r.content
        assert wire.BATCH_TYPE in r.json()["detail"] and "Content-Type" in r.json()["detail"]
    assert stored() == (0, 0, 0, 0) and SourceFile.objects.count() == 0


def test_device_token_cannot_read_the_timeline(device):
    assert device.get("/api/timeline/sessions").status_code in (401, 404)


def test_direct_ingest_and_parent_from_wire(db):
    child = b'{"type":"user","message":{"content":"sub task"}}\n'
    res = ingest_files(
        "server",
        [
            FileChunk(
                "claude",
                "/p/agent-zz.jsonl",
                child,
                parent_session="parent-1",
                git={"remote": "git@h:r.git", "branch": "dev", "commit": "ab" * 20},
            )
        ],
    )
    assert res["events_stored"] == 1
    session = Session.objects.get(provider_session_id="agent-zz")
    assert session.parent.provider_session_id == "parent-1"
    assert (session.git_remote, session.git_branch, session.git_commit) == ("git@h:r.git", "dev", "ab" * 20)


def test_usage_counted_once_per_message_across_requests(device):
    usage = {"input_tokens": 3, "output_tokens": 11, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 7}

    def line(uuid, block):
        return (
            json.dumps(
                {
                    "type": "assistant",
                    "uuid": uuid,
                    "sessionId": "s-u",
                    "message": {
                        "id": "msg_same",
                        "role": "assistant",
                        "model": "m",
                        "usage": usage,
                        "content": [block],
                    },
                }
            ).encode()
            + b"\n"
        )

    first = line("a1", {"type": "thinking", "thinking": "hm"})
    second = line("a2", {"type": "text", "text": "done"})
    path = "/p/.claude/projects/-x/s-u.jsonl"
    post(device, {"device": "d", "files": [entry("claude", path, first)]})
    post(device, {"device": "d", "files": [entry("claude", path, second, offset=len(first))]})
    session = Session.objects.get(provider_session_id="s-u")
    assert (session.input_tokens, session.output_tokens, session.cache_read_tokens, session.cache_creation_tokens) == (
        3,
        11,
        5,
        7,
    )
    assert session.event_count == 2 and export_bytes(session) == first + second


@pytest.mark.parametrize("split", ["one request", "two requests"])
def test_usage_of_a_response_is_its_final_snapshot_across_requests(device, split):
    """Claude Code writes a line per content block, each with the usage as it stood: the session
    counts the last (largest) one once, and only that line's event keeps a usage."""
    from timeline.pricing import reprice

    def line(uuid, block, output):
        return (
            json.dumps(
                {
                    "type": "assistant",
                    "uuid": uuid,
                    "sessionId": "s-g",
                    "message": {
                        "id": "msg_grow",
                        "role": "assistant",
                        "model": "claude-sonnet-4-5-20250929",
                        "content": [block],
                        "usage": {"input_tokens": 6, "output_tokens": output, "cache_creation_input_tokens": 15126},
                    },
                }
            ).encode()
            + b"\n"
        )

    lines = [
        line("a1", {"type": "thinking", "thinking": "hm"}, 5),
        line("a2", {"type": "text", "text": "x"}, 140),
        line("a3", {"type": "text", "text": "y"}, 140),
    ]
    path = "/p/.claude/projects/-x/s-g.jsonl"
    if split == "one request":
        post(device, {"device": "d", "files": [entry("claude", path, b"".join(lines))]})
    else:
        post(device, {"device": "d", "files": [entry("claude", path, lines[0])]})
        post(device, {"device": "d", "files": [entry("claude", path, b"".join(lines[1:]), offset=len(lines[0]))]})
    session = Session.objects.get(provider_session_id="s-g")
    assert (session.input_tokens, session.output_tokens, session.cache_creation_tokens) == (6, 140, 15126)
    assert session.cost_usd == pytest.approx((6 * 3 + 140 * 15 + 15126 * 3.75) / 1e6)
    usages = list(Event.objects.filter(session=session).order_by("ordinal").values_list("usage", flat=True))
    assert [u and u["output_tokens"] for u in usages] == [None, 140, None]
    cost = session.cost_usd
    assert reprice(Session, Event) == 0  # what the ingest summed is what the stored usage says
    session.refresh_from_db()
    assert session.cost_usd == pytest.approx(cost)


def test_migration_0008_recounts_sessions_stored_with_first_snapshots(db, settings):
    import dataclasses

    from agents_ingest.parsers.base import loads
    from timeline.recount import recount_claude

    settings.ZERG = dataclasses.replace(settings.ZERG, prices={"claude-opus-4-7": (5.0, 25.0, 0.5, 6.25)})
    path = next((FIXTURES / "claude" / "real_projects").rglob("agent-a4ca7529859c158c2.jsonl"))
    ingest_files("laptop", [FileChunk("claude", str(path), path.read_bytes())])
    session = Session.objects.get(files__path=str(path))
    right = (
        session.input_tokens,
        session.output_tokens,
        session.cache_read_tokens,
        session.cache_creation_tokens,
        session.cost_usd,
        session.cost_partial,
    )
    holders = dict(Event.objects.filter(usage__isnull=False).values_list("message_id", "id"))
    # as the code before stored it: each response's first line holds that line's usage, totals summed from them
    first = {}
    for event in Event.objects.filter(session=session).exclude(message_id="").order_by("ordinal"):
        if event.message_id in holders and event.message_id not in first:
            first[event.message_id] = event.id
            event.usage = loads(event.source_line())[0]["message"]["usage"]
        else:
            event.usage = None
        event.save(update_fields=["usage"])
    old = [u for u in Event.objects.filter(usage__isnull=False).values_list("usage", flat=True)]
    Session.objects.filter(id=session.id).update(output_tokens=sum(u["output_tokens"] for u in old), cost_usd=1.0)
    assert sum(u["output_tokens"] for u in old) < right[1]  # the fixture's responses grow across lines

    assert recount_claude(Session, Event, SourceChunk) == 1
    session.refresh_from_db()
    assert (
        session.input_tokens,
        session.output_tokens,
        session.cache_read_tokens,
        session.cache_creation_tokens,
        session.cost_partial,
    ) == (*right[:4], False)
    assert right[4] > 0 and session.cost_usd == pytest.approx(right[4])
    assert dict(Event.objects.filter(usage__isnull=False).values_list("message_id", "id")) == holders
    assert recount_claude(Session, Event, SourceChunk) == 0  # nothing left to move


def test_it_stores_a_file_sent_twice_in_one_request_once(device):
    path = FIXTURES / "codex/rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799.jsonl"
    data = path.read_bytes()
    cut = data.index(b"\n", len(data) // 3) + 1
    # the whole file, then an overlapping tail of it, then the whole file again: one request
    body = {
        "device": "d",
        "files": [entry("codex", path, data), entry("codex", path, data[cut:], offset=cut), entry("codex", path, data)],
    }
    r = post(device, body, gz=True).json()
    lines = data.count(b"\n")
    assert [f["lines_stored"] for f in r["files"]] == [lines, 0, 0]
    assert [f["acked_offset"] for f in r["files"]] == [len(data)] * 3
    session = Session.objects.get(provider="codex")
    assert session.event_count == 371 == Event.objects.count()
    assert archived_lines() == lines and export_bytes(session) == data
    assert post(device, body).json()["lines_stored"] == 0 and Event.objects.count() == 371


def test_it_counts_queries_per_request_not_per_line(device):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    files = fixture_files()[:40]
    with CaptureQueriesContext(connection) as queries:
        r = post(device, {"device": "laptop", "files": [entry(p, path, path.read_bytes()) for p, path in files]})
    assert r.status_code == 200 and r.json()["events_stored"] > 0
    lines = sum(path.read_bytes().count(b"\n") for _, path in files)
    # a handful per file (archive, layout, events) plus a few per request, whatever the line count
    assert len(queries) < 8 * len(files) + 20 < lines


def test_it_reads_timestamps_without_a_zone_as_utc(device):
    lines = [
        json.dumps(
            {
                "type": "user",
                "uuid": "n1",
                "timestamp": "2025-06-01T10:00:01",
                "message": {"role": "user", "content": "naive"},
            }
        ),
        json.dumps(
            {
                "type": "user",
                "uuid": "n2",
                "timestamp": "2025-06-01T12:00:01.5+02:00",
                "message": {"role": "user", "content": "offset"},
            }
        ),
        json.dumps(
            {
                "type": "user",
                "uuid": "n3",
                "timestamp": "2025-13-45T99:00:00Z",
                "message": {"role": "user", "content": "not a time"},
            }
        ),
    ]
    data = "\n".join(lines).encode() + b"\n"
    r = post(device, {"device": "d", "files": [entry("claude", "/p/.claude/projects/-x/s-t.jsonl", data)]})
    assert r.status_code == 200 and r.json()["events_stored"] == 3
    times = {e.uuid: e.timestamp for e in Event.objects.all()}
    assert times["n1"].isoformat() == "2025-06-01T10:00:01+00:00"
    assert times["n2"].isoformat() == "2025-06-01T10:00:01.500000+00:00"
    assert times["n3"] is None
    session = Session.objects.get(provider_session_id="s-t")
    assert (session.started_at.isoformat(), session.ended_at.isoformat()) == (
        "2025-06-01T10:00:01+00:00",
        "2025-06-01T10:00:01.500000+00:00",
    )


def test_it_keeps_a_session_where_it_lives_when_it_is_continued_elsewhere(db):
    def line(uuid, cwd, branch, text):
        return (
            json.dumps(
                {
                    "type": "user",
                    "uuid": uuid,
                    "sessionId": "s-home",
                    "cwd": cwd,
                    "gitBranch": branch,
                    "message": {"role": "user", "content": text},
                }
            ).encode()
            + b"\n"
        )

    first = line("h1", "/home/me/proj", "feature", "started on the laptop")
    ingest_files(
        "laptop",
        [
            FileChunk(
                "claude",
                "/home/me/.claude/projects/-home-me-proj/s-home.jsonl",
                first,
                git={"remote": "git@h:me/proj.git", "branch": "feature", "commit": "ab" * 20},
            )
        ],
    )
    home = Session.objects.get(provider_session_id="s-home")
    # a commis resumed it on the server: its copy of the file grows in the job's workspace (the
    # continuation names the session it continues: ``FileChunk.session``)
    more = first + line("h2", "/srv/zerg/workspaces/job-7", "zerg/job-7", "continued on the server")
    ingest_files(
        "commis", [FileChunk("claude", "/srv/zerg/cli/projects/-srv-job-7/s-home.jsonl", more, session=home.id)]
    )
    session = Session.objects.get(provider_session_id="s-home")
    assert (session.cwd, session.git_branch, session.git_remote, session.git_commit, session.device) == (
        "/home/me/proj",
        "feature",
        "git@h:me/proj.git",
        "ab" * 20,
        "laptop",
    )
    assert session.event_count == 2 and session.project == "proj"
    # the laptop's own later lines still update it
    ingest_files(
        "laptop",
        [
            FileChunk(
                "claude",
                "/home/me/.claude/projects/-home-me-proj/s-home.jsonl",
                line("h3", "/home/me/proj2", "main", "back home"),
                offset=len(first),
            )
        ],
    )
    session.refresh_from_db()
    assert (session.cwd, session.git_branch) == ("/home/me/proj2", "main")


@pytest.mark.parametrize("big", [123456789012345678901234567890, -9999999999999999999])  # beyond 64 bits either way
def test_it_keeps_integers_beyond_64_bits_exact(device, big):
    data = (
        json.dumps(
            {
                "type": "assistant",
                "uuid": "b1",
                "message": {
                    "id": "m",
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "Calc", "input": {"n": big}}],
                },
            }
        ).encode()
        + b"\n"
    )
    r = post(device, {"device": "d", "files": [entry("claude", "/p/.claude/projects/-x/s-big.jsonl", data)]})
    assert r.status_code == 200 and r.json()["events_stored"] == 1
    assert json.loads(Event.objects.get(kind="tool_call").tool_input) == {"n": big}


def test_it_stores_a_line_with_an_escaped_lone_surrogate(device):
    """JSON may escape half a surrogate pair; no database takes it as text, so the event reads U+FFFD."""
    data = (
        b'{"type":"user","uuid":"u1","message":{"role":"user","content":"half \\ud800 a pair"}}\n'
        b'{"type":"user","uuid":"u2","message":{"role":"user","content":"whole \\ud83d\\ude00 pair"}}\n'
    )
    r = post_batch(device, "d", [({"provider": "claude", "path": "/p/.claude/projects/-x/s-sur.jsonl"}, data)])
    assert r.status_code == 200, r.content
    assert r.json()["events_stored"] == 2 and r.json()["files"][0]["malformed"] == []
    assert list(Event.objects.order_by("ordinal").values_list("text", flat=True)) == [
        "half \ufffd a pair",
        "whole \U0001f600 pair",
    ]
    assert export_bytes(Session.objects.get(provider_session_id="s-sur")) == data


def test_it_ignores_token_counts_no_column_can_hold(device):
    """A count beyond 64 bits (or negative, or not an int) counts as 0 rather than failing the request."""

    def line(mid, usage):
        return (
            json.dumps(
                {
                    "type": "assistant",
                    "uuid": mid,
                    "message": {"id": mid, "role": "assistant", "usage": usage, "content": "x"},
                }
            ).encode()
            + b"\n"
        )

    data = line("m1", {"input_tokens": 2**64, "output_tokens": -5, "cache_read_input_tokens": True}) + line(
        "m2",
        {"input_tokens": 3, "output_tokens": 4, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 10**30},
    )
    r = post(device, {"device": "d", "files": [entry("claude", "/p/.claude/projects/-x/s-tok.jsonl", data)]})
    assert r.status_code == 200, r.content
    session = Session.objects.get(provider_session_id="s-tok")
    assert (session.input_tokens, session.output_tokens, session.cache_read_tokens, session.cache_creation_tokens) == (
        3,
        4,
        5,
        0,
    )
    assert export_bytes(session) == data
