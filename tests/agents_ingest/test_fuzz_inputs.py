"""Malformed, truncated and hostile inputs, fuzzed with hypothesis, to every parser and every
upload endpoint, plus oversized bodies: the parsers never raise, the endpoints answer a
clear 4xx (or accept the input), never crash, and a refused request stores nothing (row
counts of every table before and after)."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from django.apps import apps
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents_ingest.parsers import PROVIDERS, complete_length, parse_bytes
from agents_ingest.wire import BATCH_TYPE
from tests.ingest_batch import post_ingest
from zerg_site.auth.tokens import create_token
from zerg_site.models import ApiToken

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
APPS = ("timeline", "agents_ingest", "forum", "oikos", "commis", "zerg_site")

# --- strategies: JSON-ish lines and documents, as real files and as attackers write them

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=20,
)
KEYS = [
    "type",
    "message",
    "content",
    "role",
    "payload",
    "timestamp",
    "sessionId",
    "uuid",
    "parentUuid",
    "cwd",
    "tool_use_id",
    "id",
    "name",
    "input",
    "text",
    "messages",
    "usage",
    "model",
    "gitBranch",
    "call_id",
]
records = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8)


def _line(value) -> bytes:
    return json.dumps(value, allow_nan=True).encode() + b"\n"


lines = st.one_of(records.map(_line), json_values.map(_line), st.binary(max_size=200).map(lambda b: b + b"\n"))
documents = st.lists(lines, max_size=8).map(b"".join)
truncated = st.tuples(documents, st.integers(min_value=0, max_value=400)).map(lambda t: t[0][: t[1]])
hostile_text = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "\x00",
            "'; DROP TABLE timeline_event; --",
            "<script>alert(1)</script>",
            "../../etc/passwd",
            "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
            "\u202e" * 50,
            "[x](javascript:alert(1))",
            "@everyone " * 20,
            "/spawn rm -rf /",
            "a" * 5000,
        ]
    ),
)


def counts() -> dict[str, int]:
    return {m._meta.db_table: m.objects.count() for app in APPS for m in apps.get_app_config(app).get_models()}


def assert_clear(response, allowed=(200, 201, 202)):
    """Accepted, or a 4xx that says why; the test client re-raises any server exception."""
    assert response.status_code in allowed or 400 <= response.status_code < 500, (
        response.status_code,
        response.content[:500],
    )
    if response.status_code >= 400:
        assert response.json().get("detail"), response.content[:500]


# --- parsers


@FUZZ
@given(provider=st.sampled_from(PROVIDERS), data=st.one_of(documents, truncated, st.binary(max_size=600)))
def test_it_parses_any_bytes_without_raising(provider, data):
    events, meta = parse_bytes(provider, data, path=f"/x/{provider}.jsonl")
    assert isinstance(events, list) and meta is not None
    assert 0 <= complete_length(data) <= len(data)


# --- ingest (device token, and the owner's twin under /api/migrate/ingest)


@pytest.fixture
def device_client(db):
    _, secret = create_token("fuzz-laptop", kind=ApiToken.DEVICE)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


file_entries = st.fixed_dictionaries(
    {
        "provider": st.one_of(st.sampled_from(PROVIDERS), json_values),
        "path": st.one_of(st.text(max_size=60), json_values),
        "data": st.one_of(
            documents.map(lambda b: b.decode("utf-8", "replace")),
            truncated.map(lambda b: b.decode("utf-8", "replace")),
            json_values,
        ),
    },
    optional={
        "offset": json_values,
        "generation": json_values,
        "git": json_values,
        "parent_session": json_values,
        "data_b64": st.one_of(st.text(max_size=30), documents.map(lambda b: base64.b64encode(b).decode())),
    },
)
bodies = st.one_of(
    st.fixed_dictionaries(
        {
            "device": st.one_of(st.text(max_size=30), json_values),
            "files": st.one_of(st.lists(file_entries, max_size=3), json_values),
        }
    ).map(lambda d: json.dumps(d, allow_nan=True).encode()),
    st.binary(max_size=300),
    documents,
)


@FUZZ
@given(
    body=bodies,
    gzipped=st.booleans(),
    cut=st.integers(min_value=0, max_value=50),
    content_type=st.sampled_from(["application/json", "text/plain", "", "application/vnd.zerg.batch+json"]),
)
def test_it_answers_any_ingest_body_that_is_not_a_batch_with_a_clear_415(
    device_client, body, gzipped, cut, content_type
):
    """JSON documents (the format dropped before the first release), gzipped, cut short, or noise,
    under any Content-Type but the batch's: 415 naming the batch type, nothing stored."""
    extra = {}
    if gzipped:
        body = gzip.compress(body)
        body = body[: len(body) - cut] if cut else body  # truncated gzip streams too
        extra["HTTP_CONTENT_ENCODING"] = "gzip"
    before = counts()
    response = device_client.post("/api/agents/ingest", body, content_type=content_type, **extra)
    assert_clear(response, allowed=())
    assert response.status_code == 415 and BATCH_TYPE in response.json()["detail"]
    assert counts() == before


batch_headers = st.fixed_dictionaries(
    {
        "device": st.one_of(st.text(max_size=30), json_values),
        "files": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "provider": st.one_of(st.sampled_from(PROVIDERS), json_values),
                        "path": st.one_of(st.text(max_size=60), json_values),
                        "length": st.one_of(st.integers(min_value=-3, max_value=700), json_values),
                    },
                    optional={"offset": json_values, "generation": json_values, "git": json_values},
                ),
                max_size=3,
            ),
            json_values,
        ),
    }
)


@FUZZ
@given(
    header=batch_headers,
    tail=st.one_of(documents, truncated, st.binary(max_size=600)),
    zstd=st.booleans(),
    cut=st.integers(min_value=0, max_value=50),
)
def test_it_answers_any_batch_with_200_or_a_clear_4xx(device_client, header, tail, zstd, cut):
    """The batch format (a JSON header line naming lengths, then raw bytes), whole or cut short."""
    from agents_ingest import wire

    body = json.dumps(header, allow_nan=True).encode() + b"\n" + tail
    extra = {}
    if zstd:
        import zstandard

        body = zstandard.ZstdCompressor().compress(body)
        extra["HTTP_CONTENT_ENCODING"] = "zstd"
    body = body[: len(body) - cut] if cut else body
    before = counts()
    response = device_client.post("/api/agents/ingest", body, content_type=wire.BATCH_TYPE, **extra)
    assert_clear(response, allowed=(200,))
    if response.status_code != 200:
        assert counts() == before


# A batch built as `zerg ship` builds it, then broken in one way: a file's length off, the compressed
# stream cut short, a byte of it flipped, bytes after its end, a header value or a session line nested
# up to 3,000 levels; sent as zstd, gzip or plain bytes.
MANGLES = st.one_of(
    st.tuples(st.just("none"), st.just(0)),
    st.tuples(st.just("length"), st.integers(min_value=-5, max_value=5).filter(bool)),
    st.tuples(st.just("cut"), st.integers(min_value=1, max_value=300)),
    st.tuples(st.just("flip"), st.integers(min_value=0, max_value=10_000)),
    st.tuples(st.just("trail"), st.binary(min_size=1, max_size=20)),
    st.tuples(st.just("deep_header"), st.integers(min_value=1, max_value=3_000)),
    st.tuples(st.just("deep_line"), st.integers(min_value=1, max_value=3_000)),
)
_example = iter(range(10**9))  # a fresh path per example: the database lives across examples


def _mangled_batch(files: list[tuple[str, bytes]], mangle: tuple, encoding: str) -> tuple[bytes, list[bytes]]:
    """(the body, each file's bytes as sent)."""
    import zstandard

    kind, arg = mangle
    n = next(_example)
    if kind == "deep_line":
        files = [(files[0][0], files[0][1] + b'{"type": "user", "x": ' + b"[" * arg + b"]" * arg + b"}\n"), *files[1:]]
    entries = [
        {
            "provider": provider,
            "path": f"/fuzz/{n}/{i}.jsonl",
            "generation": 0,
            "offset": 0,
            "git": None,
            "length": len(data),
        }
        for i, (provider, data) in enumerate(files)
    ]
    if kind == "length":
        entries[0]["length"] += arg
    header = json.dumps({"device": "fuzz-laptop", "files": entries, "x": "DEEP"}).encode()
    header = header.replace(b'"DEEP"', b"[" * arg + b"]" * arg if kind == "deep_header" else b"null")
    body = header + b"\n" + b"".join(data for _, data in files)
    if encoding == "zstd":
        body = zstandard.ZstdCompressor(write_checksum=True).compress(body)
    elif encoding == "gzip":
        body = gzip.compress(body)
    if kind == "cut":
        body = body[: max(0, len(body) - arg)]
    elif kind == "flip":
        at = arg % len(body)
        body = body[:at] + bytes([body[at] ^ 0x5A]) + body[at + 1 :]
    elif kind == "trail":
        body += arg
    return body, [data for _, data in files]


@settings(FUZZ, max_examples=150)
@given(
    files=st.lists(st.tuples(st.sampled_from(["claude", "codex"]), documents), min_size=1, max_size=3),
    mangle=MANGLES,
    encoding=st.sampled_from(["zstd", "gzip", "identity"]),
)
def test_it_answers_a_mangled_batch_with_200_or_a_clear_4xx_and_stores_nothing_when_refused(
    device_client, files, mangle, encoding
):
    """The wire format itself (agents_ingest/wire.py), through the real endpoint: never a 500; a
    refused batch stores nothing; an intact one is taken whole, a too-deep line kept as malformed."""
    from agents_ingest import wire
    from agents_ingest.parsers.base import MAX_DEPTH

    body, sent = _mangled_batch(files, mangle, encoding)
    extra = {} if encoding == "identity" else {"HTTP_CONTENT_ENCODING": encoding}
    extra["CONTENT_TYPE"] = wire.BATCH_TYPE  # the test client drops it when a cut leaves no body; zerg ship never does
    before = counts()
    response = device_client.post("/api/agents/ingest", body, content_type=wire.BATCH_TYPE, **extra)
    assert_clear(response, allowed=(200,))
    if response.status_code != 200:
        assert counts() == before
    kind, arg = mangle
    intact = kind in ("none", "deep_line") or (kind == "deep_header" and arg <= MAX_DEPTH)
    if not intact and kind != "flip":  # a wrong length, a cut stream, bytes after it, a header too deep
        assert response.status_code == 400, (mangle, encoding, response.content[:500])
    if intact:  # taken whole: every complete line acknowledged
        assert response.status_code == 200, response.content[:500]
        answer = response.json()["files"]
        assert [f["acked_offset"] for f in answer] == [complete_length(data) for data in sent]
        if kind == "deep_line" and arg > MAX_DEPTH:
            assert any("nested too deeply" in m["error"] for m in answer[0]["malformed"]), answer[0]


def test_it_refuses_an_oversized_ingest_body_with_413_and_stores_nothing(device_client, settings):
    settings.INGEST_MAX_BODY = settings.INGEST_MAX_COMPRESSED = 64 * 1024
    line = json.dumps({"type": "user", "sessionId": "big", "message": {"role": "user", "content": "x" * 1000}}) + "\n"
    body = {"device": "d", "files": [{"provider": "claude", "path": "/big.jsonl", "data": line * 100}]}
    before = counts()
    response = post_ingest(device_client, body, encoding="identity")
    assert response.status_code == 413 and "split the batch" in response.json()["detail"]
    bomb = gzip.compress(b'{"files": [' + b" " * (10 * 1024 * 1024) + b"]}")  # 10 MiB of spaces, ~10 KB on the wire
    response = post_ingest(device_client, bomb, encoding="gzip")
    assert response.status_code == 413 and "after decompression" in response.json()["detail"]
    assert counts() == before


# --- migrate patch upload


patches = st.fixed_dictionaries(
    {
        "cwd": st.one_of(hostile_text, json_values),
        "base_commit": st.one_of(st.text("0123456789abcdefXYZ", max_size=70), json_values),
        "patch_b64": st.one_of(
            st.text(max_size=50),
            st.binary(max_size=200).map(lambda b: base64.b64encode(b"diff --git a/x b/x\n" + b).decode()),
            json_values,
        ),
    },
    optional={
        "device": st.one_of(hostile_text, json_values),
        "remote": hostile_text,
        "branch": hostile_text,
        "head_commit": hostile_text,
    },
)


@FUZZ
@given(body=st.one_of(patches.map(lambda d: json.dumps(d, allow_nan=True).encode()), st.binary(max_size=200)))
def test_it_answers_any_patch_upload_with_200_or_a_clear_4xx(device_client, body):
    before = counts()
    response = device_client.post("/api/migrate/patch", body, content_type="application/json")
    assert_clear(response, allowed=(200,))
    if response.status_code != 200:
        assert counts() == before


def test_it_refuses_an_oversized_patch_with_413(device_client):
    from agents_ingest.models import MAX_PATCH

    data = base64.b64encode(b"diff --git a/x b/x\n" + b"+" * (MAX_PATCH + 10)).decode()
    before = counts()
    response = device_client.post(
        "/api/migrate/patch",
        {"cwd": "/w", "base_commit": "abcdef12", "patch_b64": data},
        content_type="application/json",
    )
    assert response.status_code in (400, 413), response.content[:300]
    assert counts() == before


# --- forum posts and Oikos messages (the owner's API token)


@pytest.fixture
def forum_thread(token_client):
    response = token_client.post(
        "/api/forum/boards/general/threads", {"title": "fuzz", "text": "first"}, content_type="application/json"
    )
    assert response.status_code in (200, 201), response.content
    return response.json()["id"] if "id" in response.json() else response.json()["thread"]["id"]


@FUZZ
@given(
    body=st.one_of(
        st.fixed_dictionaries({"text": st.one_of(hostile_text, json_values)}).map(json.dumps), st.binary(max_size=200)
    )
)
def test_it_answers_any_forum_post_with_success_or_a_clear_4xx(token_client, forum_thread, body):
    before = counts()
    response = token_client.post(f"/api/forum/threads/{forum_thread}/posts", body, content_type="application/json")
    assert_clear(response)
    if response.status_code >= 400:
        assert counts() == before


@FUZZ
@given(
    body=st.one_of(
        st.fixed_dictionaries({"text": st.one_of(hostile_text, json_values)}).map(json.dumps), st.binary(max_size=200)
    )
)
def test_it_answers_any_oikos_message_with_success_or_a_clear_4xx(token_client, body):
    thread = token_client.post("/api/oikos/threads", {}, content_type="application/json").json()["id"]
    before = counts()
    response = token_client.post(f"/api/oikos/threads/{thread}/messages", body, content_type="application/json")
    assert_clear(response)
    if response.status_code >= 400:
        assert counts() == before


@pytest.mark.parametrize("path", ["/api/forum/threads/{thread}/posts", "/api/oikos/threads/{thread}/messages"])
def test_it_refuses_an_oversized_text_with_a_clear_4xx(token_client, forum_thread, path):
    thread = (
        forum_thread
        if "forum" in path
        else token_client.post("/api/oikos/threads", {}, content_type="application/json").json()["id"]
    )
    before = counts()
    response = token_client.post(path.format(thread=thread), {"text": "x" * 100_001}, content_type="application/json")
    assert 400 <= response.status_code < 500 and "longer than" in response.json()["detail"]
    huge = json.dumps({"text": "y" * (3 * 1024 * 1024)})  # beyond Django's 2.5 MB DATA_UPLOAD_MAX_MEMORY_SIZE
    response = token_client.post(path.format(thread=thread), huge, content_type="application/json")
    assert 400 <= response.status_code < 500, response.content[:300]
    assert counts() == before
