"""Sending Web Push messages (pywebpush, RFC 8291 aes128gcm + VAPID) to every subscribed device.

A push service that answers 404 or 410 says the subscription is gone for good: its row is
deleted. Other failures are recorded on the row and the next message tries again.
"""

from __future__ import annotations

import json
import logging
import re
import socket

from django.utils import timezone

from zerg_site.heartbeat import pid_alive
from zerg_site.models import ProcessHeartbeat
from zerg_site.push import vapid
from zerg_site.push.models import KINDS, OwnerSocket, PushPreference, PushSubscription

log = logging.getLogger("zerg.push")

TIMEOUT = 10  # seconds per push service request: a finishing job must not hang on a dead one
TTL = 24 * 3600  # a phone that is off for a day still gets it


def enabled(kind: str) -> bool:
    row = PushPreference.objects.filter(kind=kind).first()
    return row is None or row.enabled


def preferences() -> dict[str, bool]:
    off = set(PushPreference.objects.filter(enabled=False).values_list("kind", flat=True))
    return {kind: kind not in off for kind in KINDS}


def client_connected() -> bool:
    """Whether a page is open anywhere (an owner WebSocket in any web process).

    A socket of this host counts while its process runs (rows of dead ones are dropped); one of
    another host while that host's server heartbeat is fresh, so a crashed or restored-elsewhere
    server's rows don't silence notifications forever.
    """
    here = socket.gethostname()
    local = set(OwnerSocket.objects.filter(host=here).values_list("pid", flat=True).distinct())
    dead = {pid for pid in local if not pid_alive(pid)}
    if dead:
        OwnerSocket.objects.filter(host=here, pid__in=dead).delete()
    if local - dead:
        return True
    servers = set(ProcessHeartbeat.live(ProcessHeartbeat.SERVER).exclude(host=here).values_list("host", "pid"))
    remote = OwnerSocket.objects.exclude(host=here).values_list("host", "pid").distinct()
    return any(row in servers for row in remote)


def payload(kind: str, title: str, body: str, url: str, tag: str) -> dict:
    return {"title": title[:120], "body": body[:300], "url": url, "tag": tag, "kind": kind}


def send_one(sub: PushSubscription, message: dict) -> bool:
    """One notification to one device; False if it failed (a gone subscription is deleted)."""
    # lazy: pywebpush (requests, http-ece, py-vapid) is +36 MB RSS / 0.16-0.33 s measured alone; only a push needs it
    from pywebpush import WebPushException, webpush

    info = {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
    try:
        webpush(
            info,
            data=json.dumps(message),
            vapid_private_key=str(vapid.ensure()),
            vapid_claims={"sub": vapid.subject()},
            ttl=TTL,
            timeout=TIMEOUT,
            headers={"Urgency": "normal", "Topic": _topic(message.get("tag", ""))},
        )
    except WebPushException as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in (404, 410):
            log.info("push subscription %s is gone (%s): removed", sub.id, status)
            PushSubscription.objects.filter(id=sub.id).delete()
        else:
            PushSubscription.objects.filter(id=sub.id).update(last_error=f"{status or ''} {exc}"[:500])
        return False
    except Exception as exc:  # a network error: keep the subscription, say what happened
        log.warning("push to subscription %s failed: %r", sub.id, exc)
        PushSubscription.objects.filter(id=sub.id).update(last_error=repr(exc)[:500])
        return False
    PushSubscription.objects.filter(id=sub.id).update(last_sent_at=timezone.now(), last_error="")
    return True


def _topic(tag: str) -> str:
    """RFC 8030 Topic (replaces an undelivered message with the same topic): 32 base64url chars at most."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", tag)[:32]


def notify(kind: str, title: str, body: str = "", url: str = "/", tag: str = "", *, force: bool = False) -> int:
    """Push to every subscribed device if ``kind`` is switched on; returns how many got it."""
    if not force and not enabled(kind):
        return 0
    message = payload(kind, title, body, url, tag or kind)
    return sum(send_one(sub, message) for sub in list(PushSubscription.objects.all()))
