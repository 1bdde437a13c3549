"""Login, logout and API tokens for the SPA and scripts."""

from __future__ import annotations

import shlex

from django.conf import settings
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.contrib.auth.password_validation import ValidationError, validate_password
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from ninja import Router, Schema
from ninja.errors import HttpError
from ninja.utils import check_csrf

from zerg_site.auth import ratelimit
from zerg_site.auth.owner import get_owner
from zerg_site.auth.tokens import create_token, revoke_token
from zerg_site.models import ApiToken
from zerg_site.params import Int64
from zerg_site.schemas import (
    Ack,
    DeviceTokenOut,
    MeOut,
    NewTokenOut,
    TokensOut,
    owner,
    responses,
)

router = Router(tags=["auth"])


class LoginIn(Schema):
    password: str


def _retry_later(seconds: int):
    response = JsonResponse({"detail": f"Too many failed logins; try again in {seconds} seconds."}, status=429)
    response["Retry-After"] = str(seconds)
    return response


@router.post("/login", auth=None, response=responses(MeOut, 400, 401, 403, 422, 429))
def login_view(request, body: LoginIn):
    """Log the owner in with the password set by ``zerg passwd``."""
    forbidden = check_csrf(request)
    if forbidden:
        raise HttpError(403, "CSRF check failed; reload the page and try again.")
    address = ratelimit.client_address(request)
    wait = ratelimit.retry_after(address)
    if wait:
        return _retry_later(wait)
    owner = get_owner()
    try:
        user = authenticate(request, username=owner.get_username() if owner else "", password=body.password)
    except PermissionDenied:
        return _retry_later(ratelimit.retry_after(address) or 1)
    if user is None:
        if owner is not None and not owner.has_usable_password():
            raise HttpError(
                401, "No password is set. Run `zerg passwd` on the server, or use the login link it printed."
            )
        raise HttpError(401, "Wrong password.")
    login(request, user)
    return {"username": user.get_username()}


@router.post("/logout", response=owner(Ack))
def logout_view(request):
    logout(request)
    return {"ok": True}


class PasswordIn(Schema):
    current: str  # empty only while no password is set (the owner came in by a one-time link)
    new: str


@router.post("/password", response=owner(Ack, 400, 422, 429))
def change_password(request, body: PasswordIn):
    """Change the owner's password, as ``zerg passwd`` does: every other browser is signed out.

    The current password is checked like a login (a wrong one counts against the address's
    failed-login limit), so a session left open on a shared browser cannot lock the owner out.
    """
    address = ratelimit.client_address(request)
    wait = ratelimit.retry_after(address)
    if wait:
        return _retry_later(wait)
    user = request.user
    if user.has_usable_password() or body.current:
        try:
            checked = authenticate(request, username=user.get_username(), password=body.current)
        except PermissionDenied:
            return _retry_later(ratelimit.retry_after(address) or 1)
        if checked is None:
            # 400, not 401: the session is fine, only this password is not
            raise HttpError(400, "The current password is wrong; nothing changed.")
    try:
        validate_password(body.new, user)
    except ValidationError as exc:
        raise HttpError(400, "New password refused: " + " ".join(exc.messages)) from None
    user.set_password(body.new)
    user.save(update_fields=["password"])
    # Sessions hold a hash of the password they logged in with: the others end now, this one stays.
    update_session_auth_hash(request, user)
    return {"ok": True}


@router.get("/me", response=owner(MeOut))
def me(request):
    return {"username": request.user.get_username()}


tokens_router = Router(tags=["tokens"])


class TokenIn(Schema):
    name: str


@tokens_router.get("", response=owner(TokensOut))
def list_tokens(request):
    return {"tokens": [t.as_dict() for t in ApiToken.objects.all()]}


@tokens_router.post("", response=owner(NewTokenOut, 400, 422))
def create_api_token(request, body: TokenIn):
    try:
        token, secret = create_token(body.name, ApiToken.API)
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None
    return {**token.as_dict(), "token": secret}


@tokens_router.post("/device", response=owner(DeviceTokenOut, 400, 422))
def create_device_token(request, body: TokenIn):
    """A Shipper's device token, with the line to paste on that laptop (this server's URL in it)."""
    try:
        token, secret = create_token(body.name, ApiToken.DEVICE)
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None
    # The public URL when set; else the address this browser reached the server at (through a
    # trusted proxy, zerg_site.forwarded has set the scheme and host).
    url = (settings.ZERG.public_url or request.build_absolute_uri("/")).rstrip("/")
    command = f"zerg connect {shlex.quote(url)} --token {shlex.quote(secret)} && zerg ship --install"
    return {**token.as_dict(), "token": secret, "server_url": url, "command": command}


@tokens_router.delete("/{token_id}", response=owner(Ack, 400, 404))
def revoke_api_token(request, token_id: Int64):
    if not revoke_token(token_id):
        raise HttpError(404, "No live token with that id.")
    return {"ok": True}
