"""The event log: any process appends with :func:`publish`; the ASGI process tails it.

Topics are plain strings ("system", "commis", "commis:42", ...). The tailer sends each
new row to the channel group of its topic and to the group of "*" (everything).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from datetime import timedelta

from channels.db import database_sync_to_async
from django.db import close_old_connections, transaction
from django.utils import timezone

from zerg_site.models import Event

log = logging.getLogger("zerg.events")

ALL_TOPICS = "*"
TOPIC_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")


def publish(topic: str, kind: str, payload: dict | None = None) -> Event:
    """Append an event; it reaches subscribed WebSocket clients within a poll interval."""
    if not TOPIC_RE.match(topic):
        raise ValueError(f"bad event topic {topic!r}")
    event = Event.objects.create(topic=topic, kind=kind[:100], payload=payload or {})
    if _tailer is not None:  # this process tails too (the web process): no need to wait for the next poll
        transaction.on_commit(_tailer.wake)
    return event


def group_name(topic: str) -> str:
    """A Channels group name for a topic (groups allow only a restricted alphabet)."""
    if topic == ALL_TOPICS:
        return "events.all"
    safe = re.sub(r"[^A-Za-z0-9_.\-]", "-", topic)[:60]
    return f"events.{safe}.{hashlib.sha1(topic.encode()).hexdigest()[:10]}"


def prune(older_than_days: int) -> int:
    """Delete events older than the retention; returns how many went."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    return Event.objects.filter(created_at__lt=cutoff).delete()[0]


class EventTailer:
    """Polls the event table by id and fans new rows out to channel groups.

    It re-queries on every poll and holds no cursor or transaction open, so WAL
    checkpoints are never starved. On Postgres a row can commit after a row with a
    larger id; skipped ids are re-checked for ``gap_timeout`` seconds so such a row
    is still delivered.
    """

    def __init__(self, channel_layer, interval: float = 0.2, batch: int = 500, gap_timeout: float = 30.0):
        self.channel_layer = channel_layer
        self.interval = interval
        self.batch = batch
        self.gap_timeout = gap_timeout
        self.last_id: int | None = None
        self.gaps: dict[int, float] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.woken: asyncio.Event | None = None

    def wake(self) -> None:
        """Poll now rather than at the end of the interval (thread-safe; a row was just committed here)."""
        if self.loop is not None and self.woken is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.woken.set)

    async def pause(self) -> None:
        """Sleep one interval, or less if :meth:`wake` is called."""
        try:
            await asyncio.wait_for(self.woken.wait(), self.interval)
        except TimeoutError:
            pass
        self.woken.clear()

    def start_position(self) -> int:
        close_old_connections()
        return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0

    def fetch(self) -> list[Event]:
        """One poll: rows after ``last_id`` plus any late rows that fill a gap."""
        close_old_connections()
        rows = list(Event.objects.filter(id__gt=self.last_id).order_by("id")[: self.batch])
        now = time.monotonic()
        if self.gaps:
            self.gaps = {i: t for i, t in self.gaps.items() if now - t < self.gap_timeout}
            late = list(Event.objects.filter(id__in=list(self.gaps)))
            for row in late:
                self.gaps.pop(row.id, None)
            rows = late + rows
        expected = self.last_id + 1
        for row in rows:
            if row.id > self.last_id:
                self.gaps.update({missing: now for missing in range(expected, min(row.id, expected + 1000))})
                expected = row.id + 1
                self.last_id = row.id
        return rows

    async def send(self, row: Event) -> None:
        message = {"type": "event.message", "event": row.as_dict()}
        await self.channel_layer.group_send(group_name(row.topic), message)
        await self.channel_layer.group_send(group_name(ALL_TOPICS), message)

    async def step(self) -> int:
        if self.last_id is None:
            self.last_id = await database_sync_to_async(self.start_position)()
        rows = await database_sync_to_async(self.fetch)()
        for row in rows:
            await self.send(row)
        return len(rows)

    async def run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.woken = asyncio.Event()
        failures = 0
        while True:
            try:
                sent = await self.step()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly unavailable; keep tailing
                failures += 1
                log.exception("event tailer poll failed (%s in a row)", failures)
                sent = 0
                await asyncio.sleep(min(5.0, self.interval * 2**failures))
            if sent < self.batch:
                await self.pause()


_tailer: EventTailer | None = None
_tailer_task: asyncio.Task | None = None


def ensure_tailer(channel_layer) -> EventTailer:
    """Start this process's tailer on the running loop if it is not running yet.

    Started by the first WebSocket subscriber: daphne has no lifespan hook, and a
    server with no client has nobody to push to.
    """
    global _tailer, _tailer_task
    if _tailer_task is None or _tailer_task.done():
        _tailer = EventTailer(channel_layer)
        _tailer_task = asyncio.get_running_loop().create_task(_tailer.run())
    return _tailer
