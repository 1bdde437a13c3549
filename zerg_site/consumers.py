"""``/ws/events``: subscribe to topics, replay from the log after a given id, then live."""

from __future__ import annotations

import os
import socket
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.sessions.backends.base import SessionBase
from django.db import close_old_connections

from zerg_site.auth.tokens import bearer_secret, check_token
from zerg_site.events import ALL_TOPICS, TOPIC_RE, ensure_tailer, group_name
from zerg_site.models import Event
from zerg_site.push.models import OwnerSocket

CLOSE_UNAUTHORIZED = 4401
MAX_TOPICS = 50
REPLAY_PAGE = 500
RECHECK_AUTH_SECONDS = 5.0


def _owner_from_scope(scope) -> bool:
    """True if the connection is the owner's session or carries a live API token."""
    close_old_connections()
    user = scope.get("user")
    if user is not None and user.is_authenticated and user.is_superuser and user.is_active:
        return True
    headers = dict(scope.get("headers") or [])
    secret = bearer_secret(headers.get(b"authorization", b"").decode("latin-1"))
    return check_token(secret) is not None


def _session_still_valid(scope) -> bool:
    """Re-check, per event, that the session behind the socket was not logged out or revoked."""
    close_old_connections()
    session: SessionBase | None = scope.get("session")
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        if session is None or session.session_key is None or not session.exists(session.session_key):
            return False
        user.refresh_from_db(fields=["is_active", "is_superuser"])
        return user.is_active and user.is_superuser
    return _owner_from_scope(scope)  # token connections: the token may have been revoked


def _replay_page(topics: list[str], after: int) -> list[dict]:
    close_old_connections()
    rows = Event.objects.filter(id__gt=after).order_by("id")
    if ALL_TOPICS not in topics:
        rows = rows.filter(topic__in=topics)
    return [row.as_dict() for row in rows[:REPLAY_PAGE]]


def _socket_opened(channel_name: str) -> None:
    """Count open owner pages across processes (push skips "Oikos replied" while one is open)."""
    close_old_connections()
    OwnerSocket.objects.get_or_create(
        channel_name=channel_name, defaults={"host": socket.gethostname(), "pid": os.getpid()}
    )


def _socket_closed(channel_name: str) -> None:
    close_old_connections()
    OwnerSocket.objects.filter(channel_name=channel_name).delete()


class EventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.groups_joined: set[str] = set()
        self.replayed: set[int] = set()
        self.checked_at = 0.0
        await self.accept()
        if not await database_sync_to_async(_owner_from_scope)(self.scope):
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self.checked_at = time.monotonic()
        await database_sync_to_async(_socket_opened)(self.channel_name)

    async def disconnect(self, code):
        await database_sync_to_async(_socket_closed)(self.channel_name)
        for group in getattr(self, "groups_joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict) or content.get("type") != "subscribe":
            await self.send_json({"type": "error", "detail": 'send {"type": "subscribe", "topics": [...], "after": 0}'})
            return
        topics = content.get("topics") or [ALL_TOPICS]
        after = content.get("after") or 0
        if (
            not isinstance(topics, list)
            or len(topics) > MAX_TOPICS
            or not all(isinstance(t, str) and (t == ALL_TOPICS or TOPIC_RE.match(t)) for t in topics)
        ):
            await self.send_json({"type": "error", "detail": "topics must be a list of up to 50 topic names"})
            return
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            await self.send_json({"type": "error", "detail": "after must be the last event id seen (0 for none)"})
            return
        if not await self._allowed():
            return
        await self.subscribe(topics, after)

    async def subscribe(self, topics: list[str], after: int) -> None:
        tailer = ensure_tailer(self.channel_layer)
        for topic in topics:
            group = group_name(topic)
            if group not in self.groups_joined:
                await self.channel_layer.group_add(group, self.channel_name)
                self.groups_joined.add(group)
        # Anything the tailer sends from now on has an id above this; replayed rows
        # above it may arrive live as well and are skipped then.
        threshold = tailer.last_id if tailer.last_id is not None else 0
        last_id = after
        while True:
            page = await database_sync_to_async(_replay_page)(topics, last_id)
            for event in page:
                if event["id"] > threshold:
                    self.replayed.add(event["id"])
                await self.send_json({"type": "event", "event": event})
            if page:
                last_id = page[-1]["id"]
            if len(page) < REPLAY_PAGE:
                break
        await self.send_json({"type": "subscribed", "topics": topics, "last_id": last_id})

    async def event_message(self, message):
        event = message["event"]
        if event["id"] in self.replayed:
            self.replayed.discard(event["id"])
            return
        if not await self._allowed():
            return
        await self.send_json({"type": "event", "event": event})

    async def _allowed(self) -> bool:
        """Permission per event (cached for a few seconds): a logout closes live sockets."""
        now = time.monotonic()
        if now - self.checked_at < RECHECK_AUTH_SECONDS:
            return True
        if await database_sync_to_async(_session_still_valid)(self.scope):
            self.checked_at = now
            return True
        await self.close(code=CLOSE_UNAUTHORIZED)
        return False
