"""A server put back to an older database must not lose what the Shippers sent after it.

The Shipper sends each file only beyond the offset the server acknowledged. After a restore
the server no longer holds what it acknowledged since the backup, so it tells the Shippers:
every ingest response and ``GET /api/agents/archive`` carry ``{"id", "epoch"}``
(``agents_ingest/identity.py``). ``zerg restore`` gives the archive a new id; any restore
(a copied file as Litestream does, pg_restore) takes the device's epoch back. The Shipper
then asks the server what it holds of each file and sends the rest
(``agents_ingest/shipper/verify.py``).

End to end: a real ``zerg serve``, ``zerg backup`` / ``zerg restore`` (or a copy / pg_restore),
``zerg connect`` and ``zerg ship --once`` on a "laptop" with real Claude Code session files,
compared byte for byte through the export.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from django.test import Client as DjangoClient

from agents_ingest import identity, wire
from agents_ingest.models import DeviceEpoch
from agents_ingest.shipper.client import Client
from agents_ingest.shipper.engine import Shipper
from agents_ingest.shipper.state import State
from tests.procs import ZergServer, base_env, create_token, http_json, run_zerg
from tests.shipper_fake_server import FIXTURES
from zerg_site.auth.tokens import create_token as make_token
from zerg_site.models import ApiToken

PROJECTS = FIXTURES / "claude" / "real_projects"
PROJECT = "-Users-dain-workspace-danieldemmel-me-next"
SESSIONS = (
    "9e953218-585f-4692-89df-9e0747a31c68",
    "4379d1bf-ccb1-414e-a856-9791b73f3af2",
    "b25638d7-b104-4f06-a797-70ac33d069ed",
)

pytestmark = pytest.mark.skipif(not PROJECTS.exists(), reason="shared fixtures not present")


# --- a laptop with real session files


class Laptop:
    """A laptop home: ``early`` shipped before the backup and grown after it, ``steady`` shipped
    before the backup and never touched again, ``late`` written only after the backup."""

    def __init__(self, tmp_path: Path):
        self.home = tmp_path / "laptop-home"
        self.dir = self.home / ".claude" / "projects" / PROJECT
        self.dir.mkdir(parents=True)
        self.env = base_env(tmp_path / "laptop-zerg", HOME=str(self.home))
        for name in ("CLAUDE_CONFIG_DIR", "CODEX_HOME"):
            self.env.pop(name, None)
        self.full = {sid: (PROJECTS / PROJECT / f"{sid}.jsonl").read_bytes() for sid in SESSIONS}
        self.early, self.steady, self.late = SESSIONS
        lines = self.full[self.early].splitlines(keepends=True)
        assert len(lines) > 4
        self.path(self.early).write_bytes(b"".join(lines[: len(lines) // 2]))
        self.path(self.steady).write_bytes(self.full[self.steady])

    def path(self, sid: str) -> Path:
        return self.dir / f"{sid}.jsonl"

    def go_on_after_the_backup(self) -> None:
        self.path(self.early).write_bytes(self.full[self.early])
        self.path(self.late).write_bytes(self.full[self.late])

    def zerg(self, *args: str):
        return run_zerg(list(args), self.env, timeout=300)

    def ship(self):
        done = self.zerg("ship", "--once")
        assert done.returncode == 0, done.stdout + done.stderr
        return done


def export(server: ZergServer, token: str, sid: str) -> bytes | None:
    request = urllib.request.Request(
        f"{server.url}/api/timeline/sessions/{sid}/export", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def device_token(env) -> str:
    made = run_zerg(["token", "create", "--device", "laptop", "--json"], env)
    assert made.returncode == 0, made.stderr
    return json.loads(made.stdout)["token"]


def archive_of(server: ZergServer, token: str) -> dict:
    status, body = http_json(f"{server.url}/api/agents/archive", token=token)
    assert status == 200, body
    return body


def ship_restore_and_ship_again(env, tmp_path, backup, restore) -> tuple[Laptop, str]:
    """Ship, back up (``backup()``), ship more, stop, ``restore()``, start, ship: every line must be back.

    Returns the laptop and the output of the last ``zerg ship --once``."""
    laptop = Laptop(tmp_path)
    server = ZergServer(env, log_dir=tmp_path / "logs1")
    try:
        server.start()
        token, owner = device_token(env), create_token(env)
        done = laptop.zerg("connect", server.url, "--token", token, "--device", "laptop")
        assert done.returncode == 0, done.stderr
        laptop.ship()
        assert export(server, owner, laptop.early) == laptop.path(laptop.early).read_bytes()
        before = archive_of(server, token)
        backup()
        laptop.go_on_after_the_backup()
        laptop.ship()
        for sid in SESSIONS:  # all of it reached the server before the restore
            assert export(server, owner, sid) == laptop.full[sid]
        assert archive_of(server, token)["epoch"] > before["epoch"]
    finally:
        server.close()

    restore()
    server = ZergServer(env, log_dir=tmp_path / "logs2", port=server.port)
    try:
        server.start()
        # The restored server lost what came after the backup ...
        assert export(server, owner, laptop.late) is None
        held = export(server, owner, laptop.early)
        assert held and laptop.full[laptop.early].startswith(held) and held != laptop.full[laptop.early]
        # ... and one `zerg ship --once` brings every line back, byte for byte, stored once.
        done = laptop.ship()
        for sid in SESSIONS:
            assert export(server, owner, sid) == laptop.full[sid], sid
        events = http_json(f"{server.url}/api/timeline/sessions?limit=50", token=owner)[1]["sessions"]
        again = laptop.ship()
        assert "checking what it holds" not in again.stderr  # recorded: the next run trusts the server again
        assert http_json(f"{server.url}/api/timeline/sessions?limit=50", token=owner)[1]["sessions"] == events
        for sid in SESSIONS:
            assert export(server, owner, sid) == laptop.full[sid], sid
    finally:
        server.close()
    return laptop, done.stderr


@pytest.fixture
def sqlite_env(tmp_path):
    return base_env(tmp_path / "home")  # backup/restore are SQLite's: both suite passes use SQLite here


@pytest.mark.slow
def test_it_restores_an_older_backup_and_the_shipper_sends_back_every_line_shipped_after_it(sqlite_env, tmp_path):
    copy = tmp_path / "backups" / "zerg.db"
    copy.parent.mkdir()

    def backup():
        done = run_zerg(["backup", str(copy)], sqlite_env)
        assert done.returncode == 0, done.stderr

    def restore():
        done = run_zerg(["restore", str(copy)], sqlite_env)
        assert done.returncode == 0, done.stderr
        assert "new identity" in done.stdout

    _, log = ship_restore_and_ship_again(sqlite_env, tmp_path, backup, restore)
    assert "the server's archive has a new identity" in log
    assert "the server is missing data of 2 of 3 files" in log  # steady is whole there; late is not known


@pytest.mark.slow
def test_it_copies_an_old_database_back_by_hand_and_the_shipper_still_notices(sqlite_env, tmp_path):
    """A restore that is not `zerg restore` (a copied file, as Litestream's restore writes): the archive
    keeps its id, but this device's epoch went back, which the Shipper sees."""
    database = Path(sqlite_env["ZERG_HOME"]) / "zerg.db"
    copy = tmp_path / "copy.db"

    def backup():
        done = run_zerg(["backup", str(copy)], sqlite_env)
        assert done.returncode == 0, done.stderr

    def restore():
        for suffix in ("-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(copy, database)

    _, log = ship_restore_and_ship_again(sqlite_env, tmp_path, backup, restore)
    assert "the server's archive went back from epoch" in log
    assert "the server is missing data of 2 of 3 files" in log


def pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    assert candidates, f"{name} not found: Postgres's client tools are needed on the Postgres pass"
    return candidates[-1]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="the Postgres pass only")
def test_it_puts_back_a_pg_dump_and_the_shipper_sends_back_every_line_shipped_after_it(zerg_env, tmp_path):
    url = zerg_env["DATABASE_URL"]
    dump = tmp_path / "zerg.dump"

    def backup():
        subprocess.run([pg_tool("pg_dump"), "-Fc", "-f", str(dump), url], check=True, timeout=120)

    def restore():
        subprocess.run(
            [pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "-d", url, str(dump)],
            check=True,
            timeout=120,
        )

    _, log = ship_restore_and_ship_again(zerg_env, tmp_path, backup, restore)
    assert "the server's archive went back from epoch" in log
    assert "the server is missing data of 2 of 3 files" in log


# --- the Shipper's check, in process, against a real server


class Recording(Client):
    """The real client, noting what each ingest request carried: (path, offset, bytes) per file."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sent: list[list[tuple[str, int, int]]] = []

    def ingest_files(self, device, files):
        self.sent.append([(meta["path"], meta["offset"], len(data)) for meta, data in files])
        return super().ingest_files(device, files)


@pytest.fixture
def laptop_home(tmp_path, monkeypatch):
    laptop = Laptop(tmp_path)
    laptop.go_on_after_the_backup()
    monkeypatch.setenv("HOME", str(laptop.home))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.delenv("CODEX_HOME", raising=False)
    return laptop


def test_it_rechecks_every_file_when_the_recorded_archive_is_not_the_servers_and_resends_nothing_it_holds(
    zerg_server, zerg_env, laptop_home, tmp_path
):
    token = device_token(zerg_env)
    state = State(tmp_path / "shipper.db")
    logs: list[str] = []

    def shipper() -> tuple[Shipper, Recording]:
        client = Recording(zerg_server.url, token, timeout=30)
        return Shipper(state, client, "laptop", log=logs.append, patches=False), client

    first, client = shipper()
    first.ship_pass()
    assert first.archive.reverified == 1 and first.stats.lines_stored > 0  # a first check: nothing to verify
    server = archive_of(zerg_server, token)
    assert state.get("archive_id") == server["id"] and int(state.get("archive_epoch")) == server["epoch"]
    acked = {fs.path: fs.acked_offset for fs in state.files()}
    assert acked == {str(laptop_home.path(sid)): len(laptop_home.full[sid]) for sid in SESSIONS}

    # The same archive: a new run sends nothing at all.
    same, client = shipper()
    same.ship_pass()
    assert client.sent == [] and same.archive.reverified == 0

    # Another archive id recorded (as after `zerg restore`): one request of zero-length entries at the
    # acknowledged offsets; the server holds it all, so nothing is sent again or stored.
    state.set(archive_id="0" * 32)
    stale, client = shipper()
    stale.ship_pass()
    assert client.sent == [sorted((path, offset, 0) for path, offset in acked.items())]
    assert stale.archive.reverified == 1 and stale.stats.lines_stored == 0
    assert {fs.path: fs.acked_offset for fs in state.files()} == acked
    assert state.get("archive_id") == server["id"]

    # An epoch beyond the server's (as after a restore that kept the id): the same check.
    state.set(archive_epoch=str(archive_of(zerg_server, token)["epoch"] + 5))
    behind, client = shipper()
    behind.ship_pass()
    assert [len(request) for request in client.sent] == [3] and all(n == 0 for _, _, n in client.sent[0])
    assert behind.archive.reverified == 1 and behind.stats.lines_stored == 0
    assert int(state.get("archive_epoch")) == archive_of(zerg_server, token)["epoch"]
    assert any("went back from epoch" in line for line in logs)

    # Noticed in an ingest response (the watch loop ships a changed file without asking first): the
    # answer's epoch is not above the recorded one, so the pass ends with the same check.
    early = laptop_home.path(laptop_home.early)
    line = laptop_home.full[laptop_home.early].splitlines(keepends=True)[-1]
    with early.open("ab") as handle:
        handle.write(line)
    state.set(archive_epoch=str(archive_of(zerg_server, token)["epoch"] + 5))
    watching, client = shipper()
    watching.ship_pass([early])
    assert client.sent[0] == [(str(early), acked[str(early)], len(line))]
    assert len(client.sent) == 2 and len(client.sent[1]) == 3 and all(n == 0 for _, _, n in client.sent[1])
    assert watching.archive.reverified == 1 and not watching.archive.lost
    assert int(state.get("archive_epoch")) == archive_of(zerg_server, token)["epoch"]
    state.close()


# --- the endpoint and the ingest's answer


@pytest.fixture
def devices(db):
    _, laptop = make_token("laptop", kind=ApiToken.DEVICE)
    _, other = make_token("desktop", kind=ApiToken.DEVICE)
    return DjangoClient(HTTP_AUTHORIZATION=f"Bearer {laptop}"), DjangoClient(HTTP_AUTHORIZATION=f"Bearer {other}")


def ingest(client, path: str, data: bytes, offset: int = 0, device: str = "laptop"):
    """One file in the batch format; ``device`` is the token's name (the server takes it from the token)."""
    meta = {"provider": "claude", "path": path, "generation": 0, "offset": offset, "git": None, "parent_session": None}
    return client.post(
        "/api/agents/ingest",
        wire.encode_batch(device, [(meta, data)]),
        content_type=wire.BATCH_TYPE,
        HTTP_CONTENT_ENCODING="zstd",
    )


def test_it_refuses_the_archive_identity_to_a_stranger_an_api_token_and_the_owner_session(
    devices, token_client, owner_client
):
    laptop, _ = devices
    assert ingest(laptop, "/a.jsonl", b'{"type":"user","sessionId":"s1"}\n').status_code == 200
    for client in (
        DjangoClient(),
        token_client,
        owner_client,
        DjangoClient(HTTP_AUTHORIZATION="Bearer zerg_not_a_token"),
    ):
        response = client.get("/api/agents/archive")
        assert response.status_code == 401 and response.json()["detail"], response.content
    assert list(DeviceEpoch.objects.values_list("device", "epoch")) == [("laptop", 1)]  # untouched


def test_it_counts_each_devices_requests_apart_so_another_device_shipping_after_a_restore_hides_nothing(devices):
    laptop, desktop = devices
    answers = [ingest(laptop, "/a.jsonl", b'{"type":"user","sessionId":"s1"}\n' * n).json() for n in (1, 2)]
    assert [a["archive"]["epoch"] for a in answers] == [1, 2]
    for n in range(5):
        line = b'{"type":"user","sessionId":"s2"}\n'
        assert ingest(desktop, "/b.jsonl", line * (n + 1), device="desktop").status_code == 200
    mine = laptop.get("/api/agents/archive").json()
    assert mine == {"id": identity.archive_id(), "epoch": 2} == answers[1]["archive"]
    assert desktop.get("/api/agents/archive").json() == {"id": mine["id"], "epoch": 5}
    # A probe (a zero-length entry at an offset past what the server holds) stores nothing and
    # answers where the server's copy ends.
    probe = ingest(laptop, "/a.jsonl", b"", offset=10_000).json()
    assert probe["files"][0]["acked_offset"] == len(b'{"type":"user","sessionId":"s1"}\n') * 2
    assert probe["lines_stored"] == 0 and probe["archive"]["epoch"] == 3
