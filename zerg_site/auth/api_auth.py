"""How API requests prove they are the owner: a session cookie (with CSRF) or a Bearer token."""

from __future__ import annotations

from functools import wraps

from django.http import JsonResponse
from ninja.security import HttpBearer, SessionAuthSuperUser

from zerg_site.auth.owner import get_owner
from zerg_site.auth.tokens import check_token
from zerg_site.models import ApiToken


class OwnerToken(HttpBearer):
    """``Authorization: Bearer zerg_...`` with a live API token acts as the owner."""

    def authenticate(self, request, token):
        api_token = check_token(token, kind=ApiToken.API)
        if api_token is None:
            return None
        owner = get_owner()
        if owner is None:
            return None
        request.user = owner
        request.api_token = api_token
        return owner


class OwnerSession(SessionAuthSuperUser):
    """The owner's browser session; unsafe methods also need the CSRF token."""


OWNER_AUTH = [OwnerToken(), OwnerSession()]


def owner_required_401(view):
    """For non-API views (the OpenAPI docs): 401 instead of a redirect to a login page."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = getattr(request, "user", None)
        if not (user and user.is_authenticated and user.is_superuser):
            if OwnerToken()(request) is None:
                return JsonResponse({"detail": "Unauthorized"}, status=401)
        return view(request, *args, **kwargs)

    return wrapper
