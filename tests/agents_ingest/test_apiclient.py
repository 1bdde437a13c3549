"""The HTTP client the Shipper and the CLI share (``agents_ingest/apiclient.py``), against a real HTTP
server: each refusal arrives typed, with its status, the server's sentence and ``Retry-After``, and
a server that cannot be reached or hangs up is a :class:`ConnectionFailed` the Shipper backs off from."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agents_ingest import apiclient
from agents_ingest.apiclient import ApiClient, ApiError, ConnectionFailed, RetryLater
from tests.procs import run_zerg

# path -> (status, headers, body): what the server answers there
ANSWERS = {
    "/unauthorized": (401, {}, b'{"detail": "invalid or revoked token"}'),
    "/forbidden": (403, {}, b'{"detail": "API tokens only"}'),
    "/too-large": (413, {}, b'{"detail": "the body is 20 bytes; the limit is 10 bytes: split the batch"}'),
    "/unsupported": (415, {}, b'{"detail": "send application/vnd.zerg.batch"}'),
    "/bad": (400, {}, b'{"detail": "invalid cron expression \'99 * * * *\'"}'),
    "/invalid": (422, {}, b'{"detail": [{"loc": ["body", "name"], "msg": "field required"}]}'),
    "/busy": (429, {"Retry-After": "7"}, b'{"detail": "slow down"}'),
    "/unavailable": (503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, b'{"error": "restarting"}'),
    "/disk-full": (507, {}, b'{"detail": "the disk is full"}'),
    "/crash": (500, {}, b"<html>\n  Internal   Server Error\n</html>"),
    "/empty": (404, {}, b""),
    "/not-json": (200, {}, b"<html>a login page</html>"),
    "/json": (200, {}, b'{"ok": true}'),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        received = self.rfile.read(length)
        if self.path == "/hang-up":
            self.close_connection = True
            return
        if self.path == "/echo":
            status, headers, body = (
                200,
                {},
                json.dumps(
                    {
                        "method": self.command,
                        "body": received.decode(),
                        "content_type": self.headers.get("Content-Type"),
                        "authorization": self.headers.get("Authorization"),
                        "agent": self.headers.get("User-Agent"),
                    }
                ).encode(),
            )
        else:
            status, headers, body = ANSWERS[self.path]
        self.send_response(status)
        for key, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def refusal(client: ApiClient, path: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        client.open("GET", path)
    return caught.value


@pytest.mark.parametrize(
    "path,kind,status,detail",
    [
        ("/unauthorized", apiclient.Unauthorized, 401, "invalid or revoked token"),
        ("/forbidden", apiclient.Unauthorized, 403, "API tokens only"),
        ("/too-large", apiclient.TooLarge, 413, "the body is 20 bytes; the limit is 10 bytes: split the batch"),
        ("/unsupported", apiclient.Unsupported, 415, "send application/vnd.zerg.batch"),
        ("/bad", apiclient.BadRequest, 400, "invalid cron expression '99 * * * *'"),
        ("/invalid", apiclient.BadRequest, 422, "[{'loc': ['body', 'name'], 'msg': 'field required'}]"),
        ("/disk-full", RetryLater, 507, "the disk is full"),
        ("/crash", RetryLater, 500, "<html> Internal Server Error </html>"),
        ("/empty", apiclient.BadRequest, 404, "Not Found"),
    ],
)
def test_it_types_each_refusal_with_its_status_and_the_servers_sentence(server, path, kind, status, detail):
    error = refusal(ApiClient(server, "t"), path)
    assert type(error) is kind and (error.status, error.detail) == (status, detail)
    assert error.url == server + path and error.retry_after is None
    assert str(error) == (
        f"the server refused the token: HTTP {status} {detail}"
        if kind is apiclient.Unauthorized
        else f"HTTP {status} {detail}"
    )


def test_it_reads_retry_after_as_seconds_or_as_a_date_already_past(server):
    busy = refusal(ApiClient(server), "/busy")
    assert isinstance(busy, RetryLater) and (busy.status, busy.retry_after, busy.detail) == (429, 7.0, "slow down")
    unavailable = refusal(ApiClient(server), "/unavailable")
    assert (unavailable.status, unavailable.retry_after, unavailable.detail) == (503, 0.0, "restarting")


def test_it_says_which_server_it_cannot_reach_or_that_hung_up(server):
    url = f"http://127.0.0.1:{closed_port()}"
    unreachable = refusal(ApiClient(url, "t"), "/api/health")
    assert isinstance(unreachable, ConnectionFailed) and isinstance(unreachable, RetryLater)
    assert unreachable.status is None and str(unreachable).startswith(f"cannot reach {url}: ")
    hung_up = refusal(ApiClient(server), "/hang-up")
    assert isinstance(hung_up, ConnectionFailed) and str(hung_up).startswith(f"cannot reach {server}: ")


def test_it_sends_json_with_the_token_and_refuses_an_answer_that_is_not_json(server):
    client = ApiClient(server + "/", "secret", user_agent="zerg-test")
    sent = client.call("PATCH", "/echo", {"name": "ü"})
    assert sent == {
        "method": "PATCH",
        "body": '{"name": "\\u00fc"}',
        "content_type": "application/json",
        "authorization": "Bearer secret",
        "agent": "zerg-test",
    }
    assert client.call("POST", "/echo")["body"] == ""  # a POST without a body still sends one, empty
    assert client.call("GET", "/json") == {"ok": True}
    with pytest.raises(apiclient.BadRequest, match=f"{server}/not-json did not answer JSON"):
        client.call("GET", "/not-json")


def test_it_tells_the_cli_user_which_server_cannot_be_reached_in_one_line(zerg_env):
    url = f"http://127.0.0.1:{closed_port()}"
    for args in (["jobs"], ["schedule", "list"]):
        done = run_zerg([*args, "--server", url, "--token", "t"], zerg_env)
        assert done.returncode == 1 and done.stderr.startswith(f"zerg: cannot reach {url}: "), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
