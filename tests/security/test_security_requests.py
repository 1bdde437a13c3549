"""Attacks on request handling itself: oversized bodies (memory) and forged X-Forwarded-For.

Issue 18, items 2 and 3. The body attacks run against a real ``zerg serve`` (daphne read
every body whole before Django saw it, so only the real server shows the hole), and
measure the server's resident memory from ``/proc``. The forwarded-header attacks run
against a real ``zerg serve`` too, reaching it from two loopback addresses: 127.0.0.1 (a
configured trusted proxy) and 127.0.0.2 (any other client).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from pathlib import Path

import pytest
from django.test import Client

from tests.procs import ZergServer, base_env, database_env, run_zerg

pytestmark = pytest.mark.slow

MiB = 1024 * 1024


# --- helpers


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` in KiB (``VmRSS`` of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def pieces(total: int, size: int = MiB):
    piece = os.urandom(size)
    sent = 0
    while sent < total:
        chunk = piece[: min(size, total - sent)]
        sent += len(chunk)
        yield chunk


def raw_post(
    port: int, path: str, headers: dict[str, str], body, *, chunked: bool = False, give_up: bool = False
) -> tuple[http.client.HTTPResponse, bytes, bytes]:
    """POST over a raw socket (``Connection: close``), streaming ``body`` (an iterable of bytes).

    ``chunked``: each piece is sent as one chunk, then the last chunk. ``give_up``: the
    client stops writing (half-close) before it reads, as one that never finishes its body.
    Returns (response, its body, what came after it before the server closed: b"" = closed).
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    try:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        sock.sendall((head + "\r\n").encode())
        for piece in body:
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
        if give_up:
            sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        response.begin()
        content = response.read()
        after = sock.recv(1024)  # blocks until the server closes (or sends more)
        return response, content, after
    finally:
        sock.close()


def device_token(server: ZergServer, name: str = "laptop") -> str:
    done = run_zerg(["token", "create", "--device", name, "--json"], server.env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["token"]


def session_lines(size: int, session: str) -> bytes:
    """Claude session lines, ``size`` bytes in all, that compress about 2:1 (hex text)."""
    lines, total, number = [], 0, 0
    while total < size:
        text = os.urandom(2000).hex()
        line = (
            json.dumps(
                {
                    "type": "user",
                    "sessionId": session,
                    "uuid": f"{session}-{number}",
                    "timestamp": "2025-01-01T00:00:00Z",
                    "message": {"role": "user", "content": text},
                }
            ).encode()
            + b"\n"
        )
        lines.append(line)
        total += len(line)
        number += 1
    return b"".join(lines)


def ship(server: ZergServer, token: str, session: str, size: int) -> tuple[dict, int]:
    """Ship one session file of ``size`` bytes as the Shipper does; (answer, bytes on the wire)."""
    from agents_ingest import wire
    from agents_ingest.shipper.client import Client as ShipClient

    data = session_lines(size, session)
    meta = {"provider": "claude", "path": f"/home/me/.claude/projects/-p/{session}.jsonl", "generation": 0, "offset": 0}
    wire_bytes = len(wire.encode_batch("laptop", [(meta, data)]))
    return ShipClient(server.url, token).ingest_files("laptop", [(meta, data)]), wire_bytes


@pytest.fixture
def server(zerg_env, tmp_path):
    server = ZergServer(zerg_env, log_dir=tmp_path / "serve-logs", args=["--no-worker"])
    try:
        server.start()
        yield server
    finally:
        server.close()


# --- item 2: bodies over their limit are refused before they are read


def test_it_refuses_oversized_anonymous_bodies_before_reading_them_and_memory_stays_flat(server):
    token = device_token(server)
    # Warm up what a normal day loads (ingest, admin, health), then take the baseline. The
    # shipped file is larger than the limit of every other path (2.5 MiB) on the wire.
    answer, on_wire = ship(server, token, "warm-up", 8 * MiB)
    assert on_wire > 3 * MiB and answer["lines_stored"] > 0
    for path in ("/api/health", "/admin/login/"):
        response, _, _ = raw_post(server.port, path, {"Content-Length": "5", "Content-Type": "text/plain"}, [b"hello"])
        assert response.status in (200, 403, 405)
    before = rss_kib(server.pid)

    # 1 GiB declared to the ingest, anonymous: 413 from the headers alone; 8 MiB sent.
    response, content, after = raw_post(
        server.port,
        "/api/agents/ingest",
        {"Content-Length": str(1024 * MiB), "Content-Type": "application/vnd.zerg.batch"},
        pieces(8 * MiB),
        give_up=True,
    )
    assert response.status == 413
    assert response.getheader("Content-Type") == "application/json"
    detail = json.loads(content)["detail"]
    assert str(1024 * MiB) in detail and str(16 * MiB) in detail and "max_upload_mb" in detail
    assert after == b""  # and the connection is closed

    # Chunked, no length announced: counted as it streams and cut at the limit. The client
    # streams 64 MiB; the server keeps none of it.
    response, content, after = raw_post(
        server.port,
        "/api/agents/ingest",
        {"Transfer-Encoding": "chunked", "Content-Type": "application/vnd.zerg.batch"},
        pieces(64 * MiB),
        chunked=True,
    )
    assert response.status == 413
    assert json.loads(content)["detail"].startswith(f"the request body exceeds {16 * MiB} bytes")
    assert response.getheader("Connection") == "close" and after == b""

    # 400 MiB declared to paths that take no large body: refused at Django's 2.5 MiB.
    for path in ("/api/health", "/admin/login/"):
        response, content, after = raw_post(
            server.port,
            path,
            {"Content-Length": str(400 * MiB), "Content-Type": "application/x-www-form-urlencoded"},
            pieces(4 * MiB),
            give_up=True,
        )
        assert response.status == 413, path
        assert f"the limit for {path} is {int(2.5 * MiB)} bytes" in json.loads(content)["detail"]
        assert after == b""
    response, content, _ = raw_post(
        server.port, "/api/health", {"Transfer-Encoding": "chunked"}, pieces(8 * MiB), chunked=True
    )
    assert response.status == 413

    after_kib = rss_kib(server.pid)
    print(f"server RSS: {before / 1024:.0f} MiB before, {after_kib / 1024:.0f} MiB after the attacks")
    assert after_kib - before < 50 * 1024, (before, after_kib)

    # The server still serves, and a shipment within the limit still lands.
    answer, _ = ship(server, token, "after", 4 * MiB)
    assert answer["lines_stored"] > 0 and answer["files"][0]["acked_offset"] > 4 * MiB - 10_000
    assert server.health() is not None
    assert "Traceback" not in server.stderr(), server.output()


def test_it_still_lets_a_client_that_sends_everything_first_read_the_413(server):
    """urllib (the Shipper) writes its whole body before it reads: it must get the 413 to split
    its batch, not a reset connection."""
    from agents_ingest.apiclient import TooLarge
    from agents_ingest.shipper.client import Client as ShipClient

    client = ShipClient(server.url, device_token(server))
    with pytest.raises(TooLarge, match="413.*max_upload_mb"):
        client.ingest_body(os.urandom(17 * MiB))
    assert server.health() is not None


# --- item 3: X-Forwarded-For only from trusted proxies


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """A server behind a proxy at 127.0.0.1 only; 127.0.0.2 is any other client. The tests
    share it: each uses its own client addresses, so their failed logins do not mix."""
    home = tmp_path_factory.mktemp("proxied")
    with database_env() as overrides:
        env = base_env(
            home / "zerg-home",
            ZERG_PUBLIC_URL="https://zerg.example.com",
            ZERG_TRUSTED_PROXIES="127.0.0.1",
            **overrides,
        )
        server = ZergServer(env, log_dir=home / "serve-logs", args=["--no-worker"])
        try:
            server.start()
            yield server
        finally:
            server.close()


class Browser:
    """Login attempts over HTTP from one source address, with a CSRF token and cookie."""

    def __init__(self, server: ZergServer, source: str):
        self.server, self.source = server, source
        conn = self._connection()
        conn.request("GET", "/", headers={"Host": "zerg.example.com"})
        response = conn.getresponse()
        response.read()
        cookies = [c for c in response.headers.get_all("Set-Cookie") or [] if c.startswith("csrftoken=")]
        assert cookies, response.headers
        self.csrf = cookies[0].split(";")[0].split("=", 1)[1]
        conn.close()

    def _connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30, source_address=(self.source, 0))

    def login(self, password: str, forwarded_for: str | None) -> int:
        headers = {
            "Host": "zerg.example.com",
            "Content-Type": "application/json",
            "X-CSRFToken": self.csrf,
            "Cookie": f"csrftoken={self.csrf}",
            "Origin": "https://zerg.example.com",
            "X-Forwarded-Proto": "https",
        }
        if forwarded_for is not None:
            headers["X-Forwarded-For"] = forwarded_for
        conn = self._connection()
        try:
            conn.request("POST", "/api/auth/login", body=json.dumps({"password": password}), headers=headers)
            response = conn.getresponse()
            body = response.read()
            assert response.status in (401, 429), (response.status, body)
            return response.status
        finally:
            conn.close()


def test_it_counts_a_direct_client_by_its_own_address_whatever_x_forwarded_for_says(proxied):
    attacker = Browser(proxied, "127.0.0.2")
    statuses = [attacker.login("guess", f"198.51.100.{n}") for n in range(30)]
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 25


def test_it_limits_clients_behind_a_trusted_proxy_separately(proxied):
    proxy = Browser(proxied, "127.0.0.1")
    assert [proxy.login("guess", "203.0.113.10") for _ in range(6)] == [401] * 5 + [429]
    assert proxy.login("guess", "203.0.113.11") == 401  # another client behind the proxy is not blocked
    # Through a chain of proxies: the trusted hop at the right is skipped, the client is the next.
    assert proxy.login("guess", "203.0.113.10, 127.0.0.1") == 429


def test_it_ignores_the_entries_a_client_prepends_to_x_forwarded_for(proxied):
    proxy = Browser(proxied, "127.0.0.1")
    statuses = [proxy.login("guess", f"198.51.100.{n}, 203.0.113.20") for n in range(10)]
    assert statuses == [401] * 5 + [429] * 5


# --- X-Forwarded-Proto / -Host: believed only from trusted proxies (Django test client)


@pytest.fixture
def behind_proxy(settings):
    from zerg_site.config import load

    settings.ZERG = load({"ZERG_HOME": str(settings.ZERG_HOME), "ZERG_PUBLIC_URL": "https://zerg.example.com"})
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.USE_X_FORWARDED_HOST = True
    settings.CSRF_TRUSTED_ORIGINS = ["https://zerg.example.com"]
    return settings


def forged_origin_login(remote_addr: str):
    """A login whose Origin matches only the X-Forwarded-Host/-Proto it also sends."""
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR=remote_addr)
    client.get("/")
    token = client.cookies["csrftoken"].value
    return client.post(
        "/api/auth/login",
        {"password": "guess"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
        HTTP_ORIGIN="http://evil.example",
        HTTP_X_FORWARDED_HOST="evil.example",
        HTTP_X_FORWARDED_PROTO="http",
    )


def test_it_ignores_a_forged_forwarded_host_from_a_direct_client(owner, behind_proxy):
    response = forged_origin_login("203.0.113.9")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    # The same headers from the trusted proxy are believed: the origin then matches the host.
    assert forged_origin_login("127.0.0.1").status_code == 401
