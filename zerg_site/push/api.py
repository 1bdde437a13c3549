"""``/api/push``: the VAPID public key, subscribe/unsubscribe a device, per-kind switches, a test push."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlsplit

from django.db import transaction
from ninja import Router
from ninja.errors import HttpError

from zerg_site.jsonbody import read_json
from zerg_site.push import send, vapid
from zerg_site.push.models import KINDS, PushPreference, PushSubscription
from zerg_site.schemas import (
    PushKeyOut,
    PushPreferencesOut,
    PushRemovedOut,
    PushStatusOut,
    PushSubscriptionOut,
    PushTestOut,
    owner,
)

router = Router(tags=["push"])

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _json(request) -> dict:
    body = read_json(request.body)  # depth-limited: nested ~1,000 levels is a 400, not a RecursionError
    if not isinstance(body, dict):
        raise HttpError(400, "the body must be a JSON object")
    return body


def _b64(value, name: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise HttpError(400, f"keys.{name} is missing")
    try:
        padded = value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4)
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise HttpError(400, f"keys.{name} is not base64url") from None


def parse_subscription(body: dict) -> tuple[str, str, str]:
    """``(endpoint, p256dh, auth)`` from ``PushSubscription.toJSON()``, or a 400 saying what is wrong."""
    # lazy: cryptography's Rust extension is ~6-8 MB RSS (measured alone) an idle `zerg serve` need not hold
    from cryptography.hazmat.primitives.asymmetric import ec

    sub = body.get("subscription", body)
    if not isinstance(sub, dict):
        raise HttpError(400, "subscription must be the object PushSubscription.toJSON() returns")
    endpoint = sub.get("endpoint")
    if not isinstance(endpoint, str) or len(endpoint) > 2000:
        raise HttpError(400, "subscription.endpoint must be a URL")
    parts = urlsplit(endpoint)
    if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK)):
        raise HttpError(400, "subscription.endpoint must be an https URL")
    keys = sub.get("keys")
    if not isinstance(keys, dict):
        raise HttpError(400, "subscription.keys must hold p256dh and auth")
    point, auth = _b64(keys.get("p256dh"), "p256dh"), _b64(keys.get("auth"), "auth")
    try:
        if len(point) != 65:
            raise ValueError("not an uncompressed point")
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise HttpError(400, "keys.p256dh is not a P-256 public key") from None
    if len(auth) != 16:
        raise HttpError(400, "keys.auth must be 16 bytes")

    def text(raw: bytes) -> str:  # stored normalised: base64url without padding
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return endpoint, text(point), text(auth)


def _public_key() -> str:
    """The VAPID public key, or a 503 saying what to do about a damaged key file (never a 500)."""
    try:
        return vapid.public_key()
    except vapid.KeyFileError as exc:
        raise HttpError(503, str(exc)) from None


@router.get("/key", response=owner(PushKeyOut, 503))
def public_key(request):
    """The applicationServerKey for ``pushManager.subscribe``."""
    return {"public_key": _public_key()}


@router.get("", response=owner(PushStatusOut, 503))
def status(request):
    return {
        "public_key": _public_key(),
        "kinds": KINDS,
        "preferences": send.preferences(),
        "subscriptions": [s.as_dict() for s in PushSubscription.objects.all()],
    }


@router.post("/subscribe", response=owner(PushSubscriptionOut, 400))
def subscribe(request):
    body = _json(request)
    endpoint, p256dh, auth = parse_subscription(body)
    name = body.get("name") or request.headers.get("User-Agent", "")
    with transaction.atomic():
        sub, _ = PushSubscription.objects.update_or_create(
            endpoint=endpoint, defaults={"p256dh": p256dh, "auth": auth, "name": str(name)[:200], "last_error": ""}
        )
    return sub.as_dict()


@router.post("/unsubscribe", response=owner(PushRemovedOut, 400))
def unsubscribe(request):
    endpoint = _json(request).get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise HttpError(400, "endpoint is missing")
    return {"removed": PushSubscription.objects.filter(endpoint=endpoint).delete()[0]}


@router.put("/preferences", response=owner(PushPreferencesOut, 400))
def set_preferences(request):
    body = _json(request)
    unknown = [k for k in body if k not in KINDS]
    if unknown:
        raise HttpError(400, f"unknown kind(s) {', '.join(map(str, unknown))}; known: {', '.join(KINDS)}")
    if not all(isinstance(v, bool) for v in body.values()):
        raise HttpError(400, "each kind takes true or false")
    with transaction.atomic():
        for kind, on in body.items():
            PushPreference.objects.update_or_create(kind=kind, defaults={"enabled": on})
    return {"preferences": send.preferences()}


@router.post("/test", response=owner(PushTestOut, 409))
def test(request):
    """A test notification to every subscribed device (whatever the switches say)."""
    if not PushSubscription.objects.exists():
        raise HttpError(409, "no device is subscribed yet")
    sent = send.notify(
        "test", "Zerg test notification", "Notifications work on this device.", "/settings", "test", force=True
    )
    return {"sent": sent, "subscriptions": PushSubscription.objects.count()}
