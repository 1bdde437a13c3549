"""The event log over /ws/events: replay after an id, then live; auth and origin checks."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from zerg_site import consumers, events
from zerg_site.asgi import application
from zerg_site.auth.owner import ensure_owner
from zerg_site.auth.tokens import create_token
from zerg_site.events import publish
from zerg_site.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def owner_session() -> str:
    user = ensure_owner()
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "zerg_site.auth.backends.RateLimitedModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def socket(session_key=None, origin=b"http://testserver", extra=()):
    headers = [(b"host", b"testserver")]
    if origin is not None:
        headers.append((b"origin", origin))
    if session_key:
        headers.append((b"cookie", f"sessionid={session_key}".encode()))
    headers.extend(extra)
    return WebsocketCommunicator(application, "/ws/events", headers=headers)


async def receive_until(communicator, kind, timeout=5.0):
    """Collect messages until one of ``kind`` arrives."""
    seen = []
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        seen.append(message)
        if message["type"] == kind:
            return seen


@pytest.fixture(autouse=True)
async def fresh_tailer():
    """Each test runs on its own event loop: start a tailer on it."""
    events._tailer_task = None
    yield
    if events._tailer_task is not None:
        events._tailer_task.cancel()
        events._tailer_task = None


async def test_it_replays_after_an_id_then_streams_live():
    key = await owner_session()
    first = await sync_to_async(publish)("system", "test.one", {"n": 1})
    second = await sync_to_async(publish)("system", "test.two", {"n": 2})
    communicator = socket(key)
    assert (await communicator.connect())[0]
    await communicator.send_json_to({"type": "subscribe", "topics": ["*"], "after": first.id})
    messages = await receive_until(communicator, "subscribed")
    assert [m["event"]["id"] for m in messages if m["type"] == "event"] == [second.id]
    assert messages[-1]["last_id"] == second.id
    third = await sync_to_async(publish)("commis:7", "test.three", {"n": 3})
    live = await communicator.receive_json_from(timeout=5)
    assert live["type"] == "event" and live["event"]["id"] == third.id and live["event"]["payload"] == {"n": 3}
    await communicator.disconnect()


async def test_it_delivers_only_subscribed_topics_and_each_event_once():
    key = await owner_session()
    communicator = socket(key)
    await communicator.connect()
    await communicator.send_json_to({"type": "subscribe", "topics": ["commis:1"], "after": 0})
    await receive_until(communicator, "subscribed")
    await sync_to_async(publish)("commis:2", "other", {})
    wanted = await sync_to_async(publish)("commis:1", "wanted", {})
    message = await communicator.receive_json_from(timeout=5)
    assert message["event"]["id"] == wanted.id
    assert await communicator.receive_nothing(timeout=0.6)
    await communicator.disconnect()


async def test_it_resumes_without_loss_after_a_reconnect():
    key = await owner_session()
    communicator = socket(key)
    await communicator.connect()
    await communicator.send_json_to({"type": "subscribe", "topics": ["*"], "after": 0})
    await receive_until(communicator, "subscribed")
    seen = await sync_to_async(publish)("system", "before.sleep", {})
    assert (await communicator.receive_json_from(timeout=5))["event"]["id"] == seen.id
    await communicator.disconnect()  # the phone sleeps ...
    missed = [await sync_to_async(publish)("system", f"missed.{i}", {}) for i in range(3)]
    again = socket(key)
    await again.connect()
    await again.send_json_to({"type": "subscribe", "topics": ["*"], "after": seen.id})
    messages = await receive_until(again, "subscribed")
    assert [m["event"]["id"] for m in messages if m["type"] == "event"] == [m.id for m in missed]
    await again.disconnect()


async def test_it_accepts_an_api_token_without_origin():
    _, secret = await sync_to_async(create_token)("ws")
    communicator = socket(origin=None, extra=[(b"authorization", f"Bearer {secret}".encode())])
    await communicator.connect()
    await communicator.send_json_to({"type": "subscribe", "topics": ["system"], "after": 0})
    messages = await receive_until(communicator, "subscribed")
    assert messages[-1]["topics"] == ["system"]
    await communicator.disconnect()


async def test_it_rejects_a_foreign_origin():
    key = await owner_session()
    communicator = socket(key, origin=b"https://evil.example")
    connected, _ = await communicator.connect()
    assert not connected


async def test_it_explains_a_bad_subscribe_message():
    key = await owner_session()
    communicator = socket(key)
    await communicator.connect()
    await communicator.send_json_to({"type": "subscribe", "topics": "system", "after": 0})
    assert "topics must be a list" in (await communicator.receive_json_from())["detail"]
    await communicator.send_json_to({"type": "subscribe", "topics": ["system"], "after": -3})
    assert "after must be" in (await communicator.receive_json_from())["detail"]
    await communicator.send_json_to({"hello": 1})
    assert (await communicator.receive_json_from())["type"] == "error"
    await communicator.disconnect()


async def test_it_closes_live_sockets_after_logout(monkeypatch):
    monkeypatch.setattr(consumers, "RECHECK_AUTH_SECONDS", 0.0)
    key = await owner_session()
    communicator = socket(key)
    await communicator.connect()
    await communicator.send_json_to({"type": "subscribe", "topics": ["*"], "after": 0})
    await receive_until(communicator, "subscribed")
    await sync_to_async(SessionStore(session_key=key).delete)()
    await sync_to_async(publish)("system", "after.logout", {"secret": "x"})
    output = await communicator.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": 4401}


async def test_it_delivers_rows_that_commit_out_of_id_order():
    """On Postgres a smaller id can become visible after a larger one: it is not skipped."""
    tailer = events.EventTailer(channel_layer=None)
    sent = []

    async def record(row):
        sent.append(row.id)

    tailer.send = record
    a = await sync_to_async(publish)("system", "a", {})
    tailer.last_id = a.id - 1
    b = await sync_to_async(publish)("system", "b", {})
    c = await sync_to_async(publish)("system", "c", {})
    payload = {"topic": "system", "kind": "late", "payload": {}}
    await sync_to_async(Event.objects.filter(id=b.id).delete)()  # b is "not committed yet"
    await tailer.step()
    assert sent == [a.id, c.id] and b.id in tailer.gaps
    await sync_to_async(Event.objects.create)(id=b.id, created_at=timezone.now(), **payload)
    await tailer.step()
    assert sent == [a.id, c.id, b.id] and not tailer.gaps


def test_it_lists_the_newest_events_over_http(owner_client):
    ids = [publish("system", f"k{i}", {}).id for i in range(3)]
    body = owner_client.get("/api/events?limit=2").json()
    assert [e["id"] for e in body["events"]] == ids[::-1][:2]
    assert body["last_id"] == ids[-1]
    assert Client().get("/api/events").status_code == 401


def test_it_prunes_old_events(db, capsys):
    old = publish("system", "old", {})
    Event.objects.filter(id=old.id).update(created_at=timezone.now() - timezone.timedelta(days=40))
    kept = publish("system", "new", {})
    call_command("prune_events")
    assert list(Event.objects.values_list("id", flat=True)) == [kept.id]
    assert "pruned 1 events older than 30 days" in capsys.readouterr().out


def test_it_refuses_a_bad_topic(db):
    with pytest.raises(ValueError):
        publish("bad topic with spaces", "x")
    assert not Event.objects.exists()


async def test_it_keeps_tailing_after_a_database_error(monkeypatch):
    tailer = events.EventTailer(channel_layer=None, interval=0.01)
    calls = {"n": 0}

    async def flaky_step():
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database is locked")
        if calls["n"] > 3:
            raise asyncio.CancelledError
        return 0

    monkeypatch.setattr(tailer, "step", flaky_step)
    with pytest.raises(asyncio.CancelledError):
        await tailer.run()
    assert calls["n"] == 4
