"""One-time login links, so a phone logs in by scanning a QR code instead of typing."""

from __future__ import annotations

import enum
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from zerg_site.auth.secrets import digest, new_secret
from zerg_site.models import LoginLink

LINK_PATH = "/auth/link/"


class LinkState(enum.Enum):
    OK = "ok"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"


def create_link_token() -> str:
    """A new one-time token; the caller builds the URL with :data:`LINK_PATH`."""
    secret = new_secret(prefix="")
    now = timezone.now()
    LoginLink.objects.create(
        digest=digest(secret), created_at=now, expires_at=now + timedelta(seconds=settings.LOGIN_LINK_TTL)
    )
    return secret


def consume_link_token(secret: str) -> LinkState:
    """Use a link exactly once: one UPDATE that only an unused, unexpired link matches."""
    now = timezone.now()
    hashed = digest(secret)
    claimed = LoginLink.objects.filter(digest=hashed, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
    if claimed == 1:
        return LinkState.OK
    link = LoginLink.objects.filter(digest=hashed).first()
    if link is None:
        return LinkState.UNKNOWN
    return LinkState.USED if link.used_at else LinkState.EXPIRED
