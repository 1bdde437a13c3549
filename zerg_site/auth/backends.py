"""The authentication backend: Django's, with failed logins rate-limited per address."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from zerg_site.auth import ratelimit


class RateLimitedModelBackend(ModelBackend):
    """Refuses every password check from an address that failed too often recently.

    Covers both the SPA login and the Django admin login.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        address = ratelimit.client_address(request)
        if ratelimit.retry_after(address):
            raise PermissionDenied("too many failed logins")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None and password is not None:
            ratelimit.record_failure(address)
        return user
