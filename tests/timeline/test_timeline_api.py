"""/api/timeline/: sessions list, one session with events, search, export (owner auth only),
plus the import command and the ingest-published event."""

from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from agents_ingest.ingest import FileChunk, ingest_files
from timeline.models import Event, Session
from zerg_site.auth.tokens import create_token
from zerg_site.models import ApiToken

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
ROLLOUT = FIXTURES / "codex/rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799.jsonl"
PARENT = FIXTURES / "claude/real_projects/-experiments-worktrees/ef958aa1-0e93-49f0-bb71-150f63befcd1.jsonl"
SUBAGENTS = PARENT.with_suffix("") / "subagents"


@pytest.fixture
def archive(db):
    ingest_files("laptop", [FileChunk("codex", str(ROLLOUT), ROLLOUT.read_bytes())])
    ingest_files("laptop", [FileChunk("claude", str(PARENT), PARENT.read_bytes())])
    for path in sorted(SUBAGENTS.glob("*.jsonl")):
        ingest_files("laptop", [FileChunk("claude", str(path), path.read_bytes())])


def test_everything_needs_the_owner(archive, token_client):
    device = Client(HTTP_AUTHORIZATION=f"Bearer {create_token('lap', kind=ApiToken.DEVICE)[1]}")
    for url in (
        "/api/timeline/sessions",
        "/api/timeline/search?q=plan",
        "/api/timeline/sessions/ef958aa1-0e93-49f0-bb71-150f63befcd1",
        "/api/timeline/sessions/ef958aa1-0e93-49f0-bb71-150f63befcd1/export",
    ):
        assert Client().get(url).status_code == 401, url
        assert device.get(url).status_code == 401, url
        assert token_client.get(url).status_code == 200, url


def test_sessions_list_filters_and_paging(archive, owner_client):
    body = owner_client.get("/api/timeline/sessions").json()
    assert body["total"] == 2  # subagents are listed under their parent
    by_sid = {s["provider_session_id"]: s for s in body["sessions"]}
    assert by_sid["ef958aa1-0e93-49f0-bb71-150f63befcd1"]["subagent_count"] == 6
    assert owner_client.get("/api/timeline/sessions?subagents=true").json()["total"] == 8
    only = owner_client.get("/api/timeline/sessions?provider=codex").json()
    assert [s["provider"] for s in only["sessions"]] == ["codex"]
    assert owner_client.get("/api/timeline/sessions?device=elsewhere").json()["total"] == 0
    assert owner_client.get("/api/timeline/sessions?branch=master").json()["total"] == 1
    assert owner_client.get("/api/timeline/sessions?since=2030-01-01").json()["total"] == 0
    assert owner_client.get("/api/timeline/sessions?until=2000-01-01").json()["total"] == 0
    page = owner_client.get("/api/timeline/sessions?limit=1&offset=1").json()
    assert len(page["sessions"]) == 1 and page["offset"] == 1
    assert owner_client.get("/api/timeline/sessions?since=yesterday").status_code == 400


def test_session_detail_by_either_id_with_paged_events(archive, owner_client):
    session = Session.objects.get(provider_session_id="ef958aa1-0e93-49f0-bb71-150f63befcd1")
    a = owner_client.get(f"/api/timeline/sessions/{session.id}?limit=50").json()
    b = owner_client.get(f"/api/timeline/sessions/{session.provider_session_id}?limit=50").json()
    assert a["session"]["id"] == b["session"]["id"] == session.id
    assert len(a["events"]) == 50 and a["next_after"] == 49
    assert len(a["subagents"]) == 6 and a["parent"] is None
    seen = [e["ordinal"] for e in a["events"]]
    after = a["next_after"]
    while after is not None:
        page = owner_client.get(f"/api/timeline/sessions/{session.id}?limit=200&after={after}").json()
        seen += [e["ordinal"] for e in page["events"]]
        after = page["next_after"]
    assert (
        seen == list(range(session.event_count))
        and session.event_count == Event.objects.filter(session=session).count()
    )
    child = owner_client.get(f"/api/timeline/sessions/{a['subagents'][0]['id']}").json()
    assert child["parent"]["id"] == session.id
    assert owner_client.get("/api/timeline/sessions/nope").status_code == 404


def test_search_links_to_the_event(archive, owner_client):
    body = owner_client.get("/api/timeline/search", {"q": "Compaction Config", "provider": "codex"}).json()
    hit = body["hits"][0]
    assert "<mark>" in hit["snippet"]
    detail = owner_client.get(f"/api/timeline/sessions/{hit['session_id']}?after={hit['ordinal'] - 1}&limit=1").json()
    assert detail["events"][0]["id"] == hit["event_id"]
    recent = owner_client.get("/api/timeline/search", {"q": "plan", "sort": "recency", "tool": "Bash"}).json()
    assert all(h["tool_name"] == "Bash" for h in recent["hits"])
    assert owner_client.get("/api/timeline/search", {"q": "x", "sort": "nope"}).status_code == 400
    scoped = owner_client.get("/api/timeline/search", {"q": "plan", "session": "ef958aa1-0e93-49f0-bb71-150f63befcd1"})
    parent_id = Session.objects.get(provider_session_id="ef958aa1-0e93-49f0-bb71-150f63befcd1").id
    assert scoped.json()["hits"] and all(h["session_id"] == parent_id for h in scoped.json()["hits"])


def test_export_is_byte_for_byte(archive, owner_client):
    for sid, path in (
        ("019e1625-789d-76c0-80ab-3724b5ddb799", ROLLOUT),
        ("ef958aa1-0e93-49f0-bb71-150f63befcd1", PARENT),
    ):
        response = owner_client.get(f"/api/timeline/sessions/{sid}/export")
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == path.read_bytes()
        assert path.name in response["Content-Disposition"]


def test_import_command_is_idempotent(db, tmp_path):
    root = tmp_path / "sessions"
    shutil.copytree(FIXTURES / "claude/real_projects/-Users-dain-workspace-JSSoundRecorder", root / "claude")
    shutil.copy(ROLLOUT, root / ROLLOUT.name)
    with (root / ROLLOUT.name).open("ab") as rollout:
        rollout.write(b'{"type": "event_msg", "payload": \n')  # cut short: kept raw and counted
    out = StringIO()
    call_command("import_sessions", str(root), "--device", "srv", stdout=out)
    assert "12 files" in out.getvalue()  # 11 Claude files + the rollout
    assert "1 malformed lines" in out.getvalue()
    events = Event.objects.count()
    assert events > 0 and Session.objects.filter(provider="codex", device="srv").count() == 1
    out = StringIO()
    call_command("import_sessions", str(root), "--device", "srv", stdout=out)
    assert " 0 lines stored" in out.getvalue() and Event.objects.count() == events


def test_ingest_publishes_for_the_ui(db):
    from zerg_site.models import Event as LogEvent

    ingest_files("laptop", [FileChunk("codex", str(ROLLOUT), ROLLOUT.read_bytes())])
    row = LogEvent.objects.get(topic="timeline", kind="timeline.ingested")
    assert row.payload["events_stored"] == 371 and row.payload["sessions"] == [Session.objects.get().id]
    ingest_files("laptop", [FileChunk("codex", str(ROLLOUT), ROLLOUT.read_bytes())])
    assert LogEvent.objects.filter(topic="timeline").count() == 1  # nothing new, nothing published


def test_admin_pages(archive, owner_client):
    session = Session.objects.get(provider_session_id="ef958aa1-0e93-49f0-bb71-150f63befcd1")
    event = Event.objects.filter(session=session).first()
    for url in (
        "/admin/timeline/session/",
        f"/admin/timeline/session/{session.id}/change/",
        "/admin/timeline/event/",
        f"/admin/timeline/event/{event.id}/change/",
        "/admin/timeline/sourcefile/",
        "/admin/timeline/session/?provider__exact=codex",
    ):
        assert owner_client.get(url).status_code == 200, url


def test_it_exports_each_file_of_a_session_that_spans_several(db, owner_client):
    turns = [FIXTURES / "codex" / name for name in ("turn-1.jsonl", "turn-2.jsonl")]
    for path in turns:  # one Codex session, written to two rollout files
        ingest_files("laptop", [FileChunk("codex", str(path), path.read_bytes())])
    session = Session.objects.get(provider="codex")
    detail = owner_client.get(f"/api/timeline/sessions/{session.id}").json()
    files = {f["path"]: f for f in detail["files"]}
    assert set(files) == {str(p) for p in turns}
    for path in turns:
        file = files[str(path)]
        assert file["size"] == path.stat().st_size and file["device"] == "laptop"
        response = owner_client.get(f"/api/timeline/sessions/{session.id}/export?file={file['id']}")
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == path.read_bytes()
        assert path.name in response["Content-Disposition"]
    # another session's file is not reachable through this one
    ingest_files("laptop", [FileChunk("codex", str(ROLLOUT), ROLLOUT.read_bytes())])
    other = Session.objects.exclude(id=session.id).get().files.get()
    response = owner_client.get(f"/api/timeline/sessions/{session.id}/export?file={other.id}")
    assert response.status_code == 404 and "no such file" in response.json()["detail"]


def test_it_reimports_a_rewritten_file_as_a_new_generation(db, tmp_path):
    from timeline.export import export_bytes

    path = tmp_path / "claude" / PARENT.name
    path.parent.mkdir()
    lines = PARENT.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines))
    call_command("import_sessions", str(tmp_path), "--device", "srv", stdout=StringIO())
    session = Session.objects.get(provider_session_id=PARENT.stem)
    events = session.event_count
    # rewound: the file now ends earlier, with a new line the server has never seen
    new = b'{"type":"user","uuid":"after-rewind","sessionId":"%s","message":{"role":"user","content":"kiwifruit"}}\n'
    path.write_bytes(b"".join(lines[:10]) + new % PARENT.stem.encode())
    out = StringIO()
    call_command("import_sessions", str(tmp_path), "--device", "srv", stdout=out)
    assert " 11 lines stored" in out.getvalue(), out.getvalue()  # the new generation, whole
    session.refresh_from_db()
    assert export_bytes(session) == path.read_bytes()
    assert session.files.get().generation == 1
    assert Event.objects.filter(session=session, text="kiwifruit").count() == 1
    assert session.event_count == events + 1  # the first ten lines' events were already stored
    out = StringIO()
    call_command("import_sessions", str(tmp_path), "--device", "srv", stdout=out)
    assert " 0 lines stored" in out.getvalue() and session.files.get().generation == 1
