"""Bad input that used to fail a request with a 500 (issue 18, items 4 and 9), tried as an attacker
would through the public API: a session line nested thousands of levels deep, a batch header or
a JSON body nested as deep (refused unread: 415), integers past 64 bits in a query or a path, a job log read from
2**63 - 1, a shipped path holding CR/LF. Each ends in a 200 (the line kept raw, counted malformed)
or a 4xx with a ``detail``, and what was stored before is intact."""

from __future__ import annotations

import json
import urllib.request

import pytest
import zstandard
from django.apps import apps
from django.test import Client

from agents_ingest import wire
from agents_ingest.parsers.base import MAX_DEPTH, TEXT_LIMIT
from tests.ingest_batch import post_ingest
from tests.procs import base_env, create_token, http_json, run_zerg
from zerg_site.auth.tokens import create_token as create_device_token
from zerg_site.models import ApiToken

URL = "/api/agents/ingest"
APPS = ("timeline", "agents_ingest", "forum", "oikos", "commis", "zerg_site")
TOO_DEEP = "nested too deeply"


def counts() -> dict[str, int]:
    return {m._meta.db_table: m.objects.count() for app in APPS for m in apps.get_app_config(app).get_models()}


def record(session: str, text: str) -> bytes:
    return (
        json.dumps(
            {
                "type": "user",
                "sessionId": session,
                "uuid": f"{session}-{text}",
                "message": {"role": "user", "content": text},
            }
        )
        + "\n"
    ).encode()


def nested(depth: int, inner: bytes = b"1") -> bytes:
    return b"[" * depth + inner + b"]" * depth


def deep_line(session: str, depth: int) -> bytes:
    """A Claude record whose content nests ``depth`` levels, with a word to search for inside."""
    return (
        b'{"type":"user","sessionId":"'
        + session.encode()
        + b'","message":{"role":"user","content":'
        + nested(depth, b'"needleword"')
        + b"}}\n"
    )


@pytest.fixture
def device(db):
    _, secret = create_device_token("laptop", kind=ApiToken.DEVICE)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def entry(path: str, offset: int = 0) -> dict:
    return {"provider": "claude", "path": path, "generation": 0, "offset": offset, "git": None, "parent_session": None}


def ship(device, files: list[tuple[str, bytes]], encoding: str = "zstd"):
    doc = {"device": "laptop", "files": [{**entry(path), "data": data.decode()} for path, data in files]}
    return post_ingest(device, doc, encoding=encoding)


def export(client, session_id) -> bytes:
    response = client.get(f"/api/timeline/sessions/{session_id}/export")
    assert response.status_code == 200, response.content[:300]
    return b"".join(response.streaming_content)


@pytest.fixture
def stored_before(device, token_client):
    """A session shipped earlier: what the attack must leave as it was."""
    data = record("earlier", "first words") + record("earlier", "second words")
    response = ship(device, [("/home/u/.claude/projects/p/earlier.jsonl", data)])
    assert response.status_code == 200, response.content
    sid = response.json()["files"][0]["session_id"]
    detail = token_client.get(f"/api/timeline/sessions/{sid}").json()
    return sid, data, detail["events"]


def assert_intact(client, stored) -> None:
    sid, data, events = stored
    assert export(client, sid) == data
    assert client.get(f"/api/timeline/sessions/{sid}").json()["events"] == events


# --- item 4: nesting


@pytest.mark.parametrize("encoding", ["zstd", "gzip"])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_000, 1_025, 100_000])
def test_it_keeps_a_line_nested_thousands_deep_raw_and_stores_the_rest_of_the_batch(
    device, token_client, stored_before, depth, encoding
):
    head, tail = record("deep", "before the bomb"), record("deep", "after the bomb")
    bomb = deep_line("deep", depth)
    other = record("other", "another session")
    response = ship(
        device,
        [
            ("/home/u/.claude/projects/p/deep.jsonl", head + bomb + tail),
            ("/home/u/.claude/projects/p/other.jsonl", other),
        ],
        encoding,
    )

    assert response.status_code == 200, response.content[:500]
    deep_file, other_file = response.json()["files"]
    assert deep_file["lines_stored"] == 3 and deep_file["acked_offset"] == len(head + bomb + tail)
    assert [m["offset"] for m in deep_file["malformed"]] == [len(head)]
    assert TOO_DEEP in deep_file["malformed"][0]["error"]
    assert other_file["lines_stored"] == 1 and other_file["events_stored"] == 1
    assert response.json()["lines_malformed"] == 1

    # The session renders, searches and exports: the line is kept byte for byte and shown raw.
    sid = deep_file["session_id"]
    detail = token_client.get(f"/api/timeline/sessions/{sid}")
    assert detail.status_code == 200
    kinds = [e["kind"] for e in detail.json()["events"]]
    assert kinds == ["message", "malformed", "message"]
    assert detail.json()["session"]["malformed_count"] == 1
    assert export(token_client, sid) == head + bomb + tail
    # the malformed event's text is the line's first TEXT_LIMIT characters (the archive keeps it whole)
    for query in ("needleword", "bomb") if len(bomb) < TEXT_LIMIT else ("bomb",):
        found = token_client.get(f"/api/timeline/search?q={query}")
        assert found.status_code == 200 and found.json()["hits"], found.content[:300]
    assert token_client.get("/api/timeline/sessions").status_code == 200
    assert_intact(token_client, stored_before)


def test_it_keeps_a_gemini_document_nested_too_deeply_raw(device, token_client):
    document = b'{"sessionId": "g1", "messages": ' + nested(5_000) + b"}"
    body = wire.encode_batch(
        "laptop", [({**entry("/home/u/.gemini/tmp/x/chats/session-g1.json"), "provider": "gemini"}, document)]
    )
    response = device.post(URL, body, content_type=wire.BATCH_TYPE, HTTP_CONTENT_ENCODING="zstd")
    assert response.status_code == 200, response.content[:300]
    file = response.json()["files"][0]
    assert TOO_DEEP in file["malformed"][0]["error"]
    assert export(token_client, file["session_id"]) == document


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5_000])
def test_it_refuses_a_batch_header_nested_too_deeply_with_400_and_stores_nothing(
    device, token_client, stored_before, depth
):
    data = record("hdr", "words")
    header = (
        b'{"device":"laptop","files":[{"provider":"claude","path":"/h.jsonl","length":'
        + str(len(data)).encode()
        + b',"git":{"remote":'
        + nested(depth)
        + b"}}]}\n"
    )
    before = counts()
    response = device.post(
        URL,
        zstandard.ZstdCompressor().compress(header + data),
        content_type=wire.BATCH_TYPE,
        HTTP_CONTENT_ENCODING="zstd",
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("the batch header is not valid JSON: nested too deeply")
    assert counts() == before
    assert_intact(token_client, stored_before)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5_000])
def test_it_refuses_a_json_ingest_body_nested_too_deeply_with_415_unread_and_stores_nothing(
    device, token_client, stored_before, depth
):
    """A JSON document is no ingest body (only the batch format is): it is refused for its Content-Type
    before a byte of it is parsed, however deep it nests."""
    body = (
        b'{"device":"laptop","files":[{"provider":"claude","path":"/j.jsonl","data":"{}\\n","git":'
        + nested(depth)
        + b"}]}"
    )
    before = counts()
    response = device.post(URL, body, content_type="application/json")
    assert response.status_code == 415
    assert response.json()["detail"].startswith(
        f"Content-Type 'application/json' is not an ingest body: send {wire.BATCH_TYPE}"
    )
    assert counts() == before
    assert_intact(token_client, stored_before)


OWNER_BODIES = [
    ("/api/commis/jobs", b'{"task": "echo hi", "options": {"x": %s}}'),
    ("/api/forum/boards/general/threads", b'{"title": "t", "text": %s}'),
    ("/api/oikos/threads", b'{"title": %s}'),
    ("/api/schedules", b'{"name": "n", "task": "t", "cron": "* * * * *", "interval": %s}'),
    ("/api/push/subscribe", b'{"endpoint": %s}'),
    ("/api/attention/seen", b'{"keys": %s}'),
    ("/api/tokens", b'{"name": %s}'),
]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 900, 5_000])
@pytest.mark.parametrize("url,template", OWNER_BODIES, ids=[u for u, _ in OWNER_BODIES])
def test_it_answers_a_body_nested_too_deeply_to_an_owner_route_with_400(token_client, url, template, depth):
    before = counts()
    response = token_client.post(url, template % nested(depth), content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert TOO_DEEP in response.json()["detail"]
    assert counts() == before


def test_it_lets_the_shipper_move_on_past_a_deeply_nested_line(zerg_server, zerg_env, tmp_path):
    """`zerg ship` on a laptop whose session holds such lines (first in its file, and one naming a
    cwd, which the Shipper reads itself) against a real `zerg serve`: the batch is taken, and the
    new lines of another session, written afterwards, arrive on the next pass."""
    api_token = create_token(zerg_env)
    made = run_zerg(["token", "create", "--device", "laptop", "--json"], zerg_env)
    assert made.returncode == 0, made.stderr
    home = tmp_path / "laptop-home"
    project = home / ".claude" / "projects" / "-work-p"
    project.mkdir(parents=True)
    laptop = base_env(tmp_path / "laptop-zerg", HOME=str(home))
    deep = project / "deep.jsonl"
    deep.write_bytes(
        deep_line("deep", 5_000)
        + b'{"cwd": "/work/p", "x": '
        + nested(5_000)
        + b"}\n"
        + record("deep", "after the bombs")
    )
    other = project / "other.jsonl"
    other.write_bytes(record("other", "first"))

    done = run_zerg(
        ["connect", zerg_server.url, "--token", json.loads(made.stdout)["token"], "--device", "laptop"], laptop
    )
    assert done.returncode == 0, done.stderr
    done = run_zerg(["ship", "--once"], laptop, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout

    with other.open("ab") as handle:
        handle.write(record("other", "second") + record("other", "third"))
    with deep.open("ab") as handle:
        handle.write(record("deep", "later"))
    done = run_zerg(["ship", "--once"], laptop, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout

    def exported(sid: str) -> bytes:
        request = urllib.request.Request(
            f"{zerg_server.url}/api/timeline/sessions/{sid}/export", headers={"Authorization": f"Bearer {api_token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()

    assert exported("other") == other.read_bytes()
    assert exported("deep") == deep.read_bytes()
    status, detail = http_json(f"{zerg_server.url}/api/timeline/sessions/deep", token=api_token)
    assert status == 200 and detail["session"]["malformed_count"] == 2
    assert [e["kind"] for e in detail["events"]] == ["malformed", "malformed", "message", "message"]
    status, found = http_json(f"{zerg_server.url}/api/timeline/search?q=third", token=api_token)
    assert status == 200 and found["hits"]
    assert "Internal Server Error" not in zerg_server.stderr()


# --- item 9: integers past 64 bits, offsets past the end, names from data in headers

OUT_OF_RANGE = [
    ("/api/timeline/sessions?offset={big}", "offset"),
    ("/api/timeline/sessions?offset=100000000000000000000", "offset"),  # 1e20, as an integer
    ("/api/timeline/sessions?limit={big}", "limit"),
    ("/api/timeline/sessions/1?after=-{big}1", "after"),
    ("/api/timeline/search?q=x&offset={big}", "offset"),
    ("/api/timeline/sessions/1/export?file={big}", "file"),
    ("/api/commis/jobs?before={big}", "before"),
    ("/api/commis/jobs/{big}", "job_id"),
    ("/api/commis/jobs/1/log?offset={big}", "offset"),
    ("/api/forum/threads/{big}", "thread_id"),
    ("/api/forum/search?q=x&limit={big}", "limit"),
    ("/api/oikos/messages/{big}/full", "message_id"),
    ("/api/oikos/threads?limit={big}", "limit"),
    ("/api/events?before={big}", "before"),
    ("/api/schedules/failures?days={big}", "days"),
    ("/api/schedules/preview?cron=*+*+*+*+*&count={big}", "count"),
]


@pytest.mark.parametrize("url,name", OUT_OF_RANGE, ids=[u for u, _ in OUT_OF_RANGE])
def test_it_answers_an_integer_past_64_bits_with_a_400_that_names_it(token_client, url, name):
    before = counts()
    response = token_client.get(url.format(big=2**63))
    assert response.status_code == 400, response.content[:300]
    assert f"parameter {name}:" in response.json()["detail"]
    assert counts() == before


def test_it_answers_an_integer_that_is_not_one_with_a_400_too(token_client):
    response = token_client.get("/api/timeline/sessions?offset=1e20")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("query parameter offset: Input should be a valid integer")


def test_it_pages_sessions_at_the_largest_offset_with_nothing_left(device, token_client, stored_before):
    response = token_client.get(f"/api/timeline/sessions?offset={2**63 - 1}")
    assert response.status_code == 200
    assert response.json()["sessions"] == [] and response.json()["total"] == 1
    found = token_client.get(f"/api/timeline/search?q=words&offset={2**63 - 1}")
    assert found.status_code == 200 and found.json()["hits"] == []


def test_it_answers_a_session_id_of_unicode_digits_with_404(token_client):
    response = token_client.get("/api/timeline/sessions/\u00b2")  # "²".isdigit(), but int() refuses it
    assert response.status_code == 404 and response.json()["detail"]


def test_it_reads_a_job_log_from_an_offset_past_its_end_as_nothing_yet(token_client, tmp_path):
    from commis.models import Job

    job = token_client.post("/api/commis/jobs", {"task": "echo hi"}, content_type="application/json").json()
    (tmp_path / "log.txt").write_bytes(b"hello\n")
    Job.objects.filter(id=job["id"]).update(artifacts_dir=str(tmp_path))  # as the runner records it
    for offset in (2**63 - 1, 7, 6):
        response = token_client.get(f"/api/commis/jobs/{job['id']}/log?offset={offset}")
        assert response.status_code == 200 and response.content == b""
        assert response["X-Log-Offset"] == str(offset)
    response = token_client.get(f"/api/commis/jobs/{job['id']}/log?offset=2")
    assert response.content == b"llo\n" and response["X-Log-Offset"] == "6"


@pytest.mark.parametrize(
    "name,plain,exact",
    [
        ("evil\r\nSet-Cookie: owned=1.jsonl", "evilSet-Cookie: owned=1.jsonl", None),
        ("a\x07b\x1b[31m\u202egpj.jsonl", "ab[31mgpj.jsonl", None),  # (NUL: Postgres refuses the path, 400)
        ('quote"d.jsonl', "quote_d.jsonl", "quote%22d.jsonl"),
        ("caf\u00e9 \u2713.jsonl", "caf_ _.jsonl", "caf%C3%A9%20%E2%9C%93.jsonl"),
        ("\r\n", "session-{sid}.jsonl", None),
    ],
)
def test_it_exports_a_session_whose_shipped_path_holds_control_characters_under_a_safe_name(
    device, token_client, name, plain, exact
):
    data = record("named", "hello")
    response = ship(device, [(f"/home/u/.claude/projects/p/{name}", data)])
    assert response.status_code == 200, response.content[:300]
    sid = response.json()["files"][0]["session_id"]
    for _ in range(2):  # and again: nothing is left broken for good
        answer = token_client.get(f"/api/timeline/sessions/{sid}/export")
        assert answer.status_code == 200
        assert b"".join(answer.streaming_content) == data
        disposition = answer["Content-Disposition"]
        expected = f'attachment; filename="{plain.format(sid=sid)}"'
        if exact:
            expected += f"; filename*=UTF-8''{exact}"
        assert disposition == expected
        assert not answer.has_header("Set-Cookie")
