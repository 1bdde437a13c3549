"""Failed-login rate limiting per client address, stored in the database.

The database (not a per-process cache) keeps the count across restarts and across
the admin login and the SPA login alike.
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from zerg_site.models import LoginFailure


def client_address(request) -> str:
    """The client's address; behind a trusted proxy, zerg_site.forwarded has resolved X-Forwarded-For."""
    return (request.META.get("REMOTE_ADDR") or "unknown")[:64] if request is not None else "unknown"


def retry_after(address: str) -> int:
    """Seconds until ``address`` may try again, or 0 if it may now."""
    window = timedelta(seconds=settings.LOGIN_FAILURE_WINDOW)
    recent = LoginFailure.objects.filter(address=address, created_at__gt=timezone.now() - window)
    failures = list(recent.order_by("-created_at").values_list("created_at", flat=True)[: settings.LOGIN_FAILURE_LIMIT])
    if len(failures) < settings.LOGIN_FAILURE_LIMIT:
        return 0
    oldest_counted = failures[-1]
    return max(1, math.ceil((oldest_counted + window - timezone.now()).total_seconds()))


def record_failure(address: str) -> None:
    LoginFailure.objects.create(address=address)


def prune_failures() -> int:
    cutoff = timezone.now() - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW)
    return LoginFailure.objects.filter(created_at__lt=cutoff).delete()[0]
