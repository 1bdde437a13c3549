"""The one-time login link view (a plain Django view: it sets a session and redirects)."""

from __future__ import annotations

from django.contrib.auth import login
from django.http import HttpResponse, HttpResponseRedirect
from django.utils.html import escape

from zerg_site.auth.links import LinkState, consume_link_token
from zerg_site.auth.owner import get_owner

MESSAGES = {
    LinkState.UNKNOWN: (404, "This login link is not valid."),
    LinkState.EXPIRED: (410, "This login link has expired."),
    LinkState.USED: (410, "This login link was already used; each link works once."),
}


def _page(status: int, message: str) -> HttpResponse:
    body = (
        "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        f"<title>Zerg login</title><p>{escape(message)}</p>"
        "<p>Run <code>zerg link</code> on the server for a new link, or "
        "<a href='/'>log in with the password</a>.</p>"
    )
    return HttpResponse(body, status=status)


def login_link(request, token: str):
    state = consume_link_token(token)
    if state is not LinkState.OK:
        status, message = MESSAGES[state]
        return _page(status, message)
    owner = get_owner()
    if owner is None:
        return _page(409, "There is no owner account yet; start the server with `zerg serve` first.")
    login(request, owner, backend="zerg_site.auth.backends.RateLimitedModelBackend")
    return HttpResponseRedirect("/")
