"""API and device tokens: created, listed, revoked and checked (``Authorization: Bearer``)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from zerg_site.auth.secrets import digest, new_secret
from zerg_site.devices import COMMIS_DEVICE
from zerg_site.models import ApiToken

# last_used_at is informative; writing it on every request would cost an fsync each.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def create_token(name: str, kind: str = ApiToken.API) -> tuple[ApiToken, str]:
    """Make a token; returns the row and the secret, which is never stored."""
    name = name.strip()
    if not name:
        raise ValueError("a token needs a name, such as the machine or script that uses it")
    if kind not in dict(ApiToken.KINDS):
        raise ValueError(f"unknown token kind {kind!r}")
    if kind == ApiToken.DEVICE and name[:100] == COMMIS_DEVICE:
        # the Timeline's name for commis's own runs, whose files a continuation resumes (timeline.export)
        raise ValueError(f"{COMMIS_DEVICE!r} is the server's own device name: name the device otherwise")
    secret = new_secret()
    token = ApiToken.objects.create(name=name[:100], kind=kind, prefix=secret[:12], digest=digest(secret))
    return token, secret


def check_token(secret: str, kind: str = ApiToken.API) -> ApiToken | None:
    """The live token of ``kind`` that ``secret`` is, or None (unknown, revoked or wrong kind)."""
    if not secret:
        return None
    token = ApiToken.objects.filter(digest=digest(secret.strip()), kind=kind, revoked_at__isnull=True).first()
    if token is not None:
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(id=token.id).update(last_used_at=now)
            token.last_used_at = now
    return token


def revoke_token(token_id: int) -> bool:
    """Revoke a token; False if there is no such live token."""
    return bool(ApiToken.objects.filter(id=token_id, revoked_at__isnull=True).update(revoked_at=timezone.now()))


def bearer_secret(authorization: str) -> str:
    """The secret from an ``Authorization: Bearer <secret>`` header value, or ''."""
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""
