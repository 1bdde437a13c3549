"""Web Push end to end against a local fake push service: real pywebpush encryption and VAPID,
decrypted here with the subscription's own keys (http_ece); gone subscriptions, switches,
the VAPID key file, the API's auth and bad input, and the Oikos hooks."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import socket
import stat
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client
from django.utils import timezone

from commis import jobs
from commis.models import Job, Schedule, ScheduleRun
from commis.runner import run_job
from oikos.models import Turn
from tests.fakes.fake_anthropic import FakeAnthropic
from zerg_site.models import ProcessHeartbeat
from zerg_site.push import vapid
from zerg_site.push.models import OwnerSocket, PushPreference, PushSubscription

pytestmark = pytest.mark.django_db(transaction=True)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class FakePushService:
    """An HTTP push service on 127.0.0.1 that records each POST and answers ``status``."""

    def __init__(self):
        self.received: list[dict] = []
        self.status = 201
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.received.append(
                    {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                )
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, count: int, timeout: float = 20) -> list[dict]:
        """The requests once ``count`` arrived (a turn runner thread sends after its status commits)."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.received) >= count, self.received
        return self.received

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Device:
    """A browser's side of a subscription: its own P-256 key pair and auth secret."""

    def __init__(self, service: FakePushService, name: str = "phone"):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        self.endpoint = f"{service.url}/push/{name}"
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.json = {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64(public), "auth": b64(self.auth)},
        }

    def decrypt(self, body: bytes) -> dict:
        return json.loads(http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"))


@pytest.fixture
def service():
    fake = FakePushService()
    yield fake
    fake.close()


@pytest.fixture
def home(settings, tmp_path):
    settings.ZERG = dataclasses.replace(settings.ZERG, home=tmp_path)
    return tmp_path


def post(client, url, body):
    return client.post(url, json.dumps(body) if not isinstance(body, str) else body, content_type="application/json")


def subscribe(client, device: Device) -> dict:
    response = post(client, "/api/push/subscribe", device.json)
    assert response.status_code == 200, response.content
    return response.json()


def finished_job(task: str = "echo all good", **kw) -> Job:
    job = jobs.spawn(task, "shell", enqueue_task=False, **kw)
    run_job(job.id)
    job.refresh_from_db()
    return job


def test_it_pushes_an_encrypted_notification_for_a_finished_commis(owner_client, service, home):
    key = owner_client.get("/api/push/key").json()["public_key"]
    assert len(base64.urlsafe_b64decode(key + "==")) == 65  # an uncompressed P-256 point
    device = Device(service)
    subscribe(owner_client, device)
    job = finished_job()
    assert job.status == Job.SUCCEEDED
    assert len(service.received) == 1
    request = service.received[0]
    assert request["path"] == "/push/phone"
    assert request["headers"]["content-encoding"] == "aes128gcm"
    assert int(request["headers"]["ttl"]) > 0
    # VAPID: the JWT is signed by the key the browser subscribed with
    assert (
        request["headers"]["authorization"].startswith("vapid t=") and f"k={key}" in request["headers"]["authorization"]
    )
    message = device.decrypt(request["body"])
    assert message == {
        "title": f"Commis #{job.id} finished",
        "body": "all good",
        "url": f"/commis/{job.id}",
        "tag": f"job-{job.id}",
        "kind": "job_finished",
    }
    assert PushSubscription.objects.get().last_sent_at is not None


def test_it_pushes_failures_and_failed_schedules_to_every_device(owner_client, service, home):
    phone, laptop = Device(service, "phone"), Device(service, "laptop")
    subscribe(owner_client, phone)
    subscribe(owner_client, laptop)
    job = finished_job("echo broken >&2; exit 3")
    finished_job("exit 1", origin="schedule", origin_ref="nightly")
    by_path = {}
    for request in service.received:
        device = phone if request["path"] == "/push/phone" else laptop
        by_path.setdefault(request["path"], []).append(device.decrypt(request["body"]))
    assert sorted(by_path) == ["/push/laptop", "/push/phone"]
    first, second = by_path["/push/phone"]
    assert first["kind"] == "job_failed" and first["title"] == f"Commis #{job.id} failed" and "broken" in first["body"]
    assert second["kind"] == "schedule_failed" and second["title"] == "Scheduled job nightly failed"
    assert by_path["/push/laptop"] == by_path["/push/phone"]
    # a firing that could not spawn its job
    schedule = Schedule.objects.create(name="nightly", task="x", interval=60)
    ScheduleRun.objects.create(schedule=schedule, error="unknown backend 'nope'")
    assert phone.decrypt(service.received[-1]["body"])["title"] == "Schedule nightly could not run"


def test_it_removes_a_subscription_the_push_service_reports_gone(owner_client, service, home):
    gone, kept = Device(service, "gone"), Device(service, "kept")
    subscribe(owner_client, gone)
    subscribe(owner_client, kept)
    service.status = 410
    finished_job()
    assert PushSubscription.objects.count() == 0  # both answered 410
    subscribe(owner_client, kept)
    service.status = 404
    finished_job()
    assert PushSubscription.objects.count() == 0
    subscribe(owner_client, kept)
    service.status = 500  # a hiccup: kept, with the error shown
    finished_job()
    sub = PushSubscription.objects.get()
    assert sub.last_error.startswith("500")
    assert owner_client.get("/api/push").json()["subscriptions"][0]["last_error"].startswith("500")


def test_it_honours_the_per_kind_switches(owner_client, service, home):
    subscribe(owner_client, Device(service))
    response = owner_client.put(
        "/api/push/preferences", json.dumps({"job_finished": False}), content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["preferences"]["job_finished"] is False
    finished_job()
    assert service.received == []
    finished_job("exit 2")  # failures are another switch, still on
    assert len(service.received) == 1
    assert owner_client.get("/api/push").json()["preferences"] == {
        "job_finished": False,
        "job_failed": True,
        "needs_input": True,
        "schedule_failed": True,
        "oikos_reply": True,
    }
    for bad in ({"nope": True}, {"job_failed": "yes"}, [1]):
        response = owner_client.put("/api/push/preferences", json.dumps(bad), content_type="application/json")
        assert response.status_code == 400 and response.json()["detail"]
    assert PushPreference.objects.count() == 1


def test_it_sends_a_test_notification(owner_client, service, home):
    response = post(owner_client, "/api/push/test", {})
    assert response.status_code == 409 and "subscribed" in response.json()["detail"]
    device = Device(service)
    subscribe(owner_client, device)
    PushPreference.objects.create(kind="job_finished", enabled=False)
    response = post(owner_client, "/api/push/test", {})
    assert response.json() == {"sent": 1, "subscriptions": 1}
    assert device.decrypt(service.received[0]["body"])["kind"] == "test"
    response = post(owner_client, "/api/push/unsubscribe", {"endpoint": device.endpoint})
    assert response.json() == {"removed": 1}


@pytest.fixture
def fake_llm(monkeypatch, settings):
    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="test", openai_base_url="", model="")
    with FakeAnthropic() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server


def wait_turn(turn_id, statuses, timeout=30) -> Turn:
    """The turn in one of ``statuses`` and its runner finished with it: a turn is marked done
    before its push is decided, so a test that changes the open pages must wait for both."""
    from oikos import turns

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        turn = Turn.objects.get(id=turn_id)
        if turn.status in statuses and turns.idle():
            return turn
        time.sleep(0.05)
    raise AssertionError(f"turn {turn_id} is still {Turn.objects.get(id=turn_id).status}")


def test_it_pushes_an_oikos_question_and_a_reply_while_no_page_is_open(owner_client, service, home, fake_llm):
    device = Device(service)
    subscribe(owner_client, device)
    keep = jobs.spawn("sleep 100", "shell", enqueue_task=False)
    thread_id = post(owner_client, "/api/oikos/threads", {"title": "ops"}).json()["id"]
    fake_llm.reply_tool_use("cancel_commis", {"job_id": keep.id})
    fake_llm.reply_text("Understood, I left it running.")
    said = post(owner_client, f"/api/oikos/threads/{thread_id}/messages", {"text": f"cancel {keep.id}"}).json()
    turn = wait_turn(said["turn"]["id"], ("waiting",))
    message = device.decrypt(service.wait(1)[-1]["body"])
    assert message["kind"] == "needs_input" and message["title"] == "Oikos needs your answer"
    assert "cancel a commis job" in message["body"] and message["url"] == f"/chat/{thread_id}"
    assert message["tag"] == f"turn-{turn.id}"
    assert post(owner_client, f"/api/oikos/turns/{turn.id}/answer", {"answer": "reject"}).status_code == 200
    assert wait_turn(turn.id, ("done", "failed")).status == "done"
    message = device.decrypt(service.wait(2)[-1]["body"])  # no page was open
    assert message["kind"] == "oikos_reply" and message["body"] == "Understood, I left it running."
    assert len(service.received) == 2

    # with a page open somewhere (an owner WebSocket in any process) the reply is not pushed
    OwnerSocket.objects.create(channel_name="specific.x", host="another-host", pid=1)
    ProcessHeartbeat.objects.create(kind="server", name="server:another-host:1", host="another-host", pid=1)
    fake_llm.reply_text("Still running.")
    said = post(owner_client, f"/api/oikos/threads/{thread_id}/messages", {"text": "status?"}).json()
    assert wait_turn(said["turn"]["id"], ("done", "failed")).status == "done"
    assert len(service.received) == 2
    # a socket row left by a process of this host that died does not count
    OwnerSocket.objects.all().delete()
    OwnerSocket.objects.create(channel_name="specific.y", host=socket.gethostname(), pid=dead_pid())
    fake_llm.reply_text("Done now.")
    said = post(owner_client, f"/api/oikos/threads/{thread_id}/messages", {"text": "and now?"}).json()
    assert wait_turn(said["turn"]["id"], ("done", "failed")).status == "done"
    assert device.decrypt(service.wait(3)[-1]["body"])["body"] == "Done now."
    assert len(service.received) == 3  # so "Still running." was never pushed
    assert not OwnerSocket.objects.exists()
    # a socket of another host whose server stopped beating does not count either
    OwnerSocket.objects.create(channel_name="specific.z", host="another-host", pid=1)
    ProcessHeartbeat.objects.update(stopped_at=timezone.now())
    fake_llm.reply_text("Bye.")
    said = post(owner_client, f"/api/oikos/threads/{thread_id}/messages", {"text": "bye"}).json()
    assert wait_turn(said["turn"]["id"], ("done", "failed")).status == "done"
    assert device.decrypt(service.wait(4)[-1]["body"])["body"] == "Bye."


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_it_makes_the_vapid_key_once_with_mode_0600(owner_client, home):
    first = owner_client.get("/api/push/key").json()["public_key"]
    path = home / "vapid_private.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    assert owner_client.get("/api/push/key").json()["public_key"] == first == vapid.public_key()
    assert path.read_bytes() == before


def test_it_refuses_bad_subscriptions_and_stores_nothing(owner_client, service, home):
    good = Device(service).json
    bad = [
        ("{not json", "JSON"),
        (json.dumps([1]), "object"),
        (json.dumps({"keys": good["keys"]}), "endpoint"),
        (json.dumps({**good, "endpoint": "http://push.example.com/x"}), "https"),
        (json.dumps({**good, "endpoint": "file:///etc/passwd"}), "https"),
        (json.dumps({"endpoint": good["endpoint"]}), "keys"),
        (json.dumps({**good, "keys": {"p256dh": good["keys"]["p256dh"]}}), "auth"),
        (json.dumps({**good, "keys": {**good["keys"], "p256dh": b64(b"\x04" + b"\x01" * 64)}}), "P-256"),
        (json.dumps({**good, "keys": {**good["keys"], "auth": "***"}}), "base64"),
        (json.dumps({**good, "keys": {**good["keys"], "p256dh": good["keys"]["p256dh"][:40]}}), "P-256"),
        (json.dumps({**good, "keys": {**good["keys"], "auth": b64(b"short")}}), "16 bytes"),
    ]
    for body, words in bad:
        response = post(owner_client, "/api/push/subscribe", body)
        assert response.status_code == 400, body
        assert words in response.json()["detail"], (body, response.json())
    assert PushSubscription.objects.count() == 0
    padded = {**good, "keys": {"p256dh": good["keys"]["p256dh"] + "=" * 300, "auth": good["keys"]["auth"] + "=="}}
    assert post(owner_client, "/api/push/subscribe", padded).status_code == 200
    assert PushSubscription.objects.get().p256dh == good["keys"]["p256dh"]
    response = post(owner_client, "/api/push/unsubscribe", {})
    assert response.status_code == 400


def test_it_requires_the_owner(owner, service, home):
    anonymous = Client()
    for method, url in (
        ("get", "/api/push"),
        ("get", "/api/push/key"),
        ("post", "/api/push/subscribe"),
        ("post", "/api/push/unsubscribe"),
        ("put", "/api/push/preferences"),
        ("post", "/api/push/test"),
    ):
        if method == "get":
            response = anonymous.get(url)
        else:
            response = getattr(anonymous, method)(
                url, json.dumps(Device(service).json), content_type="application/json"
            )
        assert response.status_code == 401, url
    assert PushSubscription.objects.count() == 0
