"""The Shipper's shipping loop against a local fake ingest server (real files, real HTTP)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from agents_ingest import wire
from agents_ingest.apiclient import Unauthorized
from agents_ingest.shipper import sources
from agents_ingest.shipper.client import Client
from agents_ingest.shipper.engine import Shipper
from agents_ingest.shipper.state import State
from tests.shipper_fake_server import FakeIngest, lay_out_home


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ZERG_HOME", str(tmp_path / "zerg-home"))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.delenv("CODEX_HOME", raising=False)
    return home


@pytest.fixture
def fake():
    server = FakeIngest().start()
    yield server
    server.stop()


class Sleeps:
    """A fake ``sleep`` that records what the shipper asked to wait."""

    def __init__(self, on_sleep=None):
        self.calls: list[float] = []
        self.on_sleep = on_sleep

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.on_sleep:
            self.on_sleep(len(self.calls))


def make_shipper(fake, sleep=None, **kwargs) -> Shipper:
    state = State()
    return Shipper(state, Client(fake.url, fake.token, timeout=10), "laptop", sleep=sleep or Sleeps(), **kwargs)


def assert_once_in_order(fake: FakeIngest, path: Path, generation: int = 0) -> None:
    """The chunks received for ``path`` are contiguous from 0 and rebuild it byte for byte."""
    expected = path.read_bytes()
    position, parts = 0, []
    for offset, data in fake.sent(str(path), generation):
        assert offset == position, f"{path}: chunk at {offset}, expected {position} (a gap or a repeat)"
        parts.append(data)
        position += len(data)
    assert b"".join(parts) == expected, f"{path}: bytes differ"


def claude_session(home: Path, name: str = "s1.jsonl", project: str = "-tmp-proj") -> Path:
    folder = home / ".claude" / "projects" / project
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def line(n: int, cwd: str = "/nowhere", size: int = 0) -> bytes:
    record = {"type": "user", "sessionId": "s1", "cwd": cwd, "n": n, "pad": "x" * size}
    return (json.dumps(record) + "\n").encode()


# --- the real fixtures


def test_ships_every_fixture_byte_exactly_once_in_order(home, fake):
    files = lay_out_home(home)
    found = sorted(path for _, path in sources.discover())
    assert found == files
    shipper = make_shipper(fake, max_batch_bytes=256 * 1024)
    assert shipper.run_once()
    assert not fake.conflicts
    assert len(fake.ingest_requests()) > 5  # small batches: the big files span several
    for path in files:
        assert_once_in_order(fake, path)
    for request in fake.ingest_requests():
        assert (request["content_type"], request["encoding"]) == (wire.BATCH_TYPE, "zstd")
        assert request["document"]["device"] == "laptop"
        datas = [f.get("data", "").encode() for f in request["document"]["files"]]
        longest = max(len(x) for d in datas for x in d.splitlines(keepends=True))
        assert sum(map(len, datas)) <= 256 * 1024 + longest  # the cap, plus at most one overlong line

    # subagent files name their parent session; the rest have none
    entries = {f["path"]: f for r in fake.ingest_requests() for f in r["document"]["files"]}
    projects = home / ".claude" / "projects"
    old = projects / "-Users-dain-workspace-JSSoundRecorder" / "agent-88061e52.jsonl"
    assert entries[str(old)]["parent_session"] == "7acd37a8-2745-4b58-a8a9-46164b22ad9e"
    session = "ef958aa1-0e93-49f0-bb71-150f63befcd1"
    new = projects / "-experiments-worktrees" / session / "subagents" / "agent-a4ca7529859c158c2.jsonl"
    assert entries[str(new)]["parent_session"] == session
    top = projects / "-experiments-worktrees" / f"{session}.jsonl"
    assert entries[str(top)]["parent_session"] is None
    codex = [f for f in entries.values() if f["provider"] == "codex"]
    assert len(codex) == 2 and all(f["git"] is None for f in codex)  # their cwd is not on this machine

    # a second run finds nothing new
    before = len(fake.ingest_requests())
    again = make_shipper(fake)
    assert again.run_once()
    assert len(fake.ingest_requests()) == before
    assert again.state.spool() == []


def test_git_remote_branch_and_commit_of_the_session_cwd(home, fake, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "feature"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "one"], check=True)
    subprocess.run([*git, "remote", "add", "origin", "https://example.com/me/repo.git"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    path = claude_session(home)
    path.write_bytes(b'{"type":"summary","summary":"no cwd here"}\n' + line(1, cwd=str(repo)))
    codex = home / ".codex" / "sessions" / "2026" / "01" / "01" / "rollout-x.jsonl"
    codex.parent.mkdir(parents=True)
    codex.write_text(json.dumps({"type": "session_meta", "payload": {"id": "c1", "cwd": str(repo)}}) + "\n")
    assert make_shipper(fake).run_once()
    entries = {f["path"]: f for r in fake.ingest_requests() for f in r["document"]["files"]}
    expected = {"remote": "https://example.com/me/repo.git", "branch": "feature", "commit": commit}
    assert entries[str(path)]["git"] == expected
    assert entries[str(codex)]["git"] == expected


def test_claude_config_dir_and_codex_home_are_respected(home, fake, tmp_path, monkeypatch):
    custom = tmp_path / "claude-a"
    other = tmp_path / "claude-b"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", f"{custom},{other}")
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex"))
    (custom / "projects" / "p").mkdir(parents=True)
    (custom / "projects" / "p" / "a.jsonl").write_bytes(line(1))
    (other / "projects" / "q").mkdir(parents=True)
    (other / "projects" / "q" / "b.jsonl").write_bytes(line(2))
    (tmp_path / "codex" / "sessions").mkdir(parents=True)
    (tmp_path / "codex" / "sessions" / "rollout-1.jsonl").write_bytes(line(3))
    (tmp_path / "codex" / "sessions" / "notes.jsonl").write_bytes(line(4))  # not a rollout
    default = claude_session(home)  # ~/.claude is not read when CLAUDE_CONFIG_DIR is set
    default.write_bytes(line(5))
    assert make_shipper(fake).run_once()
    paths = sorted(f["path"] for r in fake.ingest_requests() for f in r["document"]["files"])
    assert paths == sorted(
        [
            str(custom / "projects/p/a.jsonl"),
            str(other / "projects/q/b.jsonl"),
            str(tmp_path / "codex/sessions/rollout-1.jsonl"),
        ]
    )


# --- tailing


def test_half_written_line_ships_once_complete(home, fake):
    path = claude_session(home)
    first, second = line(1), line(2)
    path.write_bytes(first + second[:10])
    shipper = make_shipper(fake)
    assert shipper.run_once()
    assert fake.sent(str(path)) == [(0, first)]
    assert shipper.run_once()  # still half: nothing more
    assert len(fake.ingest_requests()) == 1
    with open(path, "ab") as handle:
        handle.write(second[10:])
    assert shipper.run_once()
    assert fake.sent(str(path)) == [(0, first), (len(first), second)]
    assert_once_in_order(fake, path)


def test_it_ships_invalid_utf8_bytes_as_they_are(home, fake):
    path = claude_session(home)
    raw = b'{"type":"user","text":"caf\xe9"}\n' + line(2)
    path.write_bytes(raw)
    assert make_shipper(fake).run_once()
    assert fake.sent(str(path)) == [(0, raw)]
    assert_once_in_order(fake, path)


def test_it_never_falls_back_from_the_batch_format_and_blocks_a_file_refused_with_415(home, fake):
    """No release ever read another format, so a 415 is the server's word on this file, not a cue to
    downgrade: the file is blocked with the server's sentence, and nothing else is tried."""
    path = claude_session(home)
    path.write_bytes(line(1) + line(2))
    fake.plan = [("status", 415)]
    shipper = make_shipper(fake)
    assert shipper.run_once()
    assert shipper.stats.blocked == [str(path)]
    assert "the server rejected it: HTTP 415 fake says no" in shipper.state.file(str(path)).last_error
    assert [(r["content_type"], r["encoding"]) for r in fake.ingest_requests()] == [(wire.BATCH_TYPE, "zstd")]
    assert fake.sent(str(path)) == []


def test_a_line_longer_than_the_batch_goes_whole(home, fake):
    path = claude_session(home)
    path.write_bytes(line(1) + line(2, size=50_000) + line(3))
    shipper = make_shipper(fake, max_batch_bytes=4096)
    assert shipper.run_once()
    assert_once_in_order(fake, path)


# --- crashes, rewrites, outages


class CrashBeforeAck(Exception):
    pass


class CrashingShipper(Shipper):
    """Dies in the ack step of its ``crash_at``-th batch: the server stored it, the ack is lost."""

    crash_at = 3

    def apply_ack(self, items, answer):
        self.acks = getattr(self, "acks", 0) + 1
        if self.acks == self.crash_at:
            raise CrashBeforeAck()
        super().apply_ack(items, answer)


def test_crash_before_saving_the_ack_resends_only_the_unacked_range(home, fake):
    files = lay_out_home(home)
    state = State()
    crashing = CrashingShipper(state, Client(fake.url, fake.token), "laptop", max_batch_bytes=128 * 1024)
    with pytest.raises(CrashBeforeAck):
        crashing.run_once()
    state.close()
    lost_batch = fake.ingest_requests()[crashing.crash_at - 1]["document"]["files"]
    in_flight = sum(len(f["data"].encode()) for f in lost_batch)
    received_before = sum(len(d) for _, _, _, d in fake.chunks)

    restarted = make_shipper(fake, max_batch_bytes=128 * 1024)
    assert restarted.run_once()
    assert not fake.conflicts
    resent = sum(len(d) for _, _, _, d in fake.chunks) - received_before
    total = sum(p.stat().st_size for p in files)
    assert received_before + resent - in_flight == total  # re-sent exactly the batch whose ack was lost
    for path in files:  # the server has every file whole, once
        assert bytes(fake.store.get((str(path), 0), b"")) == path.read_bytes()
    # the re-sent bytes are duplicates the server recognised
    assert restarted.stats.lines_duplicate == sum(f["data"].count("\n") for f in lost_batch)


def test_shrunk_or_rewritten_file_is_reshipped_as_a_new_generation(home, fake):
    path = claude_session(home)
    path.write_bytes(line(1) + line(2) + line(3))
    shipper = make_shipper(fake)
    assert shipper.run_once()
    # /rewind: shorter, different content
    path.write_bytes(line(1) + line(9))
    assert shipper.run_once()
    assert fake.sent(str(path), 1) == [(0, line(1) + line(9))]
    # rewritten in place to a longer file whose prefix changed
    path.write_bytes(line(7) + line(8) + line(9) + line(10))
    assert shipper.run_once()
    assert fake.sent(str(path), 2) == [(0, path.read_bytes())]
    # plain appends stay in the generation
    with open(path, "ab") as handle:
        handle.write(line(11))
    assert shipper.run_once()
    assert_once_in_order(fake, path, 2)
    assert shipper.state.file(str(path)).generation == 2


def test_rewrite_that_keeps_the_size_but_changes_the_bytes_before_the_ack(home, fake):
    path = claude_session(home)
    path.write_bytes(line(1) + line(2))
    shipper = make_shipper(fake)
    assert shipper.run_once()
    path.write_bytes(line(3) + line(4) + line(5))  # same first bytes? no: n differs
    assert shipper.run_once()
    assert fake.sent(str(path), 1) == [(0, path.read_bytes())]


def test_server_down_keeps_pointers_and_catches_up(home, tmp_path):
    path = claude_session(home)
    path.write_bytes(line(1) + line(2))
    server = FakeIngest().start()
    url = server.url
    server.stop()  # nobody listens on the port now
    sleeps = Sleeps()
    state = State()
    shipper = Shipper(state, Client(url, "good-token", timeout=5), "laptop", sleep=sleeps)
    assert shipper.run_once(attempts=4) is False
    assert len(sleeps.calls) == 3
    assert sleeps.calls[1] > sleeps.calls[0] and sleeps.calls[2] > sleeps.calls[1]  # exponential
    with open(path, "ab") as handle:
        handle.write(line(3))
    shipper.refresh("claude", path)
    spool = state.spool()
    assert spool == [(str(path), 0, 0, path.stat().st_size)]  # a pointer, no data
    schema = state.db.execute("SELECT group_concat(sql) FROM sqlite_master").fetchone()[0]
    assert "data" not in schema.replace("doc_hash", "")

    port = int(url.rsplit(":", 1)[1])
    revived = FakeIngest().start(port=port)
    try:
        assert shipper.run_once()
        assert_once_in_order(revived, path)
        assert state.spool() == []
    finally:
        revived.stop()


def test_connection_dropped_mid_request_then_retried(home, fake):
    path = claude_session(home)
    path.write_bytes(line(1) + line(2))
    fake.plan = [("close",), ("status", 502)]
    sleeps = Sleeps()
    assert make_shipper(fake, sleep=sleeps).run_once()
    assert len(sleeps.calls) == 2
    assert_once_in_order(fake, path)


def test_retry_after_is_honoured(home, fake):
    path = claude_session(home)
    path.write_bytes(line(1))
    fake.plan = [("status", 429, {"Retry-After": "7"}), ("status", 503, {"Retry-After": "3"})]
    sleeps = Sleeps()
    assert make_shipper(fake, sleep=sleeps).run_once()
    assert sleeps.calls == [7.0, 3.0]
    assert [r["action"] for r in fake.requests] == ["status", "status", "ok"]
    assert_once_in_order(fake, path)


def test_413_splits_the_batch_down_to_what_the_server_takes(home, tmp_path):
    fake = FakeIngest(max_body=6000).start()
    try:
        paths = []
        for n in range(6):
            path = claude_session(home, f"s{n}.jsonl")
            path.write_bytes(b"".join(line(i, size=300) for i in range(12)))  # ~4.4 KB each
            paths.append(path)
        big = claude_session(home, "big.jsonl")
        big.write_bytes(line(1) + line(2, size=10_000) + line(3))  # one line over the limit
        shipper = make_shipper(fake)
        assert shipper.run_once()
        assert any(r["action"] == "too_large" for r in fake.requests)
        for path in paths:
            assert_once_in_order(fake, path)
        assert fake.sent(str(big)) == [(0, line(1))]  # up to the overlong line, then blocked
        assert shipper.stats.blocked == [str(big)]
        error = shipper.state.file(str(big)).last_error
        assert "larger than the server accepts" in error and "max_upload_mb" in error
    finally:
        fake.stop()


def test_revoked_token_stops_with_a_clear_error(home, fake):
    claude_session(home).write_bytes(line(1))
    state = State()
    shipper = Shipper(state, Client(fake.url, "revoked"), "laptop", sleep=Sleeps())
    with pytest.raises(Unauthorized, match="the server refused the token"):
        shipper.run_once()


# --- gemini: whole documents rewritten in place


def test_gemini_documents_ship_whole_and_rewrites_bump_the_generation(home, fake):
    chats = home / ".gemini" / "tmp" / "abc123" / "chats"
    chats.mkdir(parents=True)
    doc = chats / "session-1.json"
    doc.write_text(json.dumps({"sessionId": "g1", "messages": [{"type": "user", "content": "hi"}]}))
    shipper = make_shipper(fake)
    assert shipper.run_once()
    assert fake.sent(str(doc), 0) == [(0, doc.read_bytes())]
    assert shipper.run_once()  # unchanged: nothing
    assert len(fake.ingest_requests()) == 1
    doc.write_text('{"sessionId": "g1", "messages": [')  # mid-rewrite: not a document yet
    assert shipper.run_once()
    assert len(fake.ingest_requests()) == 1
    doc.write_text(
        json.dumps(
            {"sessionId": "g1", "messages": [{"type": "user", "content": "hi"}, {"type": "gemini", "content": "yo"}]}
        )
    )
    assert shipper.run_once()
    assert fake.sent(str(doc), 1) == [(0, doc.read_bytes())]
    assert fake.ingest_requests()[-1]["document"]["files"][0]["provider"] == "gemini"


# --- watching


def test_watch_ships_a_new_line_soon_after_the_write(home, fake):
    from agents_ingest.shipper.watch import watch

    path = claude_session(home)
    path.write_bytes(line(1))
    shipper = make_shipper(fake)
    stop = threading.Event()
    thread = threading.Thread(target=watch, args=(shipper,), kwargs={"stop": stop, "batch_delay": 0.1}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(fake.sent(str(path))) < 1:
            time.sleep(0.05)
        with open(path, "ab") as handle:
            handle.write(line(2))
        while time.monotonic() < deadline and len(fake.sent(str(path))) < 2:
            time.sleep(0.05)
        newer = claude_session(home, "s2.jsonl", project="-new-project")  # a folder made after the start
        newer.write_bytes(line(3))
        while time.monotonic() < deadline and len(fake.sent(str(newer))) < 1:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert_once_in_order(fake, path)
    assert_once_in_order(fake, newer)


def test_state_file_is_private(home):
    state = State()
    state.set(server="http://x", token="secret")
    assert os.stat(state.path).st_mode & 0o077 == 0


# --- the wire encoding


def test_streamed_body_is_the_wire_format():
    text = 'é"\\\n{"a":"\u2028 😀 \t"}\n' * 5
    raw_bad = b'{"x":"\xff\xfe"}\n' * 3
    meta = {
        "provider": "claude",
        "path": "/p/é.jsonl",
        "generation": 2,
        "offset": 10,
        "git": None,
        "parent_session": "s",
    }
    body = wire.encode_batch("dev ü", [(meta, text.encode()), (dict(meta, path="/q"), raw_bad)])
    header, files = wire.decode_batch(wire.decompress(body, "zstd", 1 << 20), loads=json.loads)
    assert header["device"] == "dev ü"
    (first, first_data), (second, second_data) = files
    assert first == dict(meta, length=len(text.encode())) and first_data == text.encode()
    assert second == dict(meta, path="/q", length=len(raw_bad)) and second_data == raw_bad  # bytes as they are
    empty = wire.decode_batch(wire.decompress(wire.encode_batch("d", []), "zstd", 1 << 20), loads=json.loads)
    assert empty == ({"device": "d", "files": []}, [])


# --- the server knows better


def test_lost_shipper_state_climbs_above_the_servers_generation(home, fake, tmp_path):
    path = claude_session(home)
    path.write_bytes(line(1) + line(2))
    fake.generations[str(path)] = 2  # the server already has generation 2 of this path
    shipper = make_shipper(fake)
    assert shipper.run_once()
    assert bytes(fake.store[(str(path), 2)]) == path.read_bytes()
    assert shipper.state.file(str(path)).generation == 2
    with open(path, "ab") as handle:
        handle.write(line(3))
    assert shipper.run_once()
    assert_once_in_order(fake, path, 2)


def test_server_that_lost_data_gets_it_again(home, fake):
    path = claude_session(home)
    path.write_bytes(line(1) + line(2))
    shipper = make_shipper(fake)
    assert shipper.run_once()
    del fake.store[(str(path), 0)]  # restored from an older backup: holds nothing of it
    with open(path, "ab") as handle:
        handle.write(line(3))
    assert shipper.run_once()
    assert bytes(fake.store[(str(path), 0)]) == path.read_bytes()
    assert shipper.state.file(str(path)).acked_offset == path.stat().st_size


def test_a_file_the_server_rejects_does_not_hold_back_the_others(home, fake):
    good = claude_session(home, "a.jsonl")
    good.write_bytes(line(1))
    bad = claude_session(home, "b.jsonl")
    bad.write_bytes(line(2))
    other = claude_session(home, "c.jsonl")
    other.write_bytes(line(3))
    fake.reject_paths = {str(bad)}
    shipper = make_shipper(fake)
    assert shipper.run_once()
    assert shipper.stats.blocked == [str(bad)]
    assert "the server rejected it: HTTP 400" in shipper.state.file(str(bad)).last_error
    assert_once_in_order(fake, good)
    assert_once_in_order(fake, other)


def test_watch_without_file_events_falls_back_to_rescans(home, fake):
    from agents_ingest.shipper.watch import watch

    path = claude_session(home)
    path.write_bytes(line(1))
    stop = threading.Event()
    thread = threading.Thread(
        target=watch,
        args=(make_shipper(fake),),
        kwargs={"stop": stop, "use_events": False, "rescan_interval": 0.2},
        daemon=True,
    )
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(fake.sent(str(path))) < 1:
            time.sleep(0.05)
        with open(path, "ab") as handle:
            handle.write(line(2))
        while time.monotonic() < deadline and len(fake.sent(str(path))) < 2:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert_once_in_order(fake, path)
