"""Every endpoint but /api/health, login and static files refuses anonymous callers."""

from __future__ import annotations

import re

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from zerg_site.asgi import application, websocket_urlpatterns

# Paths that must answer without auth, and why.
PUBLIC = {
    "/api/health": "health checks for monitors and reverse proxies",
    "/api/auth/login": "the login itself",
    "/auth/link/<str:token>": "the one-time login link (the token is the credential)",
    "/api/": "django-ninja's root: a bare 404, no data",
    "/<spa>": "the SPA shell: static HTML, no data",
}
ADMIN_LOGIN = {"/admin/login/", "/admin/logout/"}


def sample(pattern: str) -> str:
    """Turn a URL pattern into a concrete path with placeholder values."""
    path = re.sub(r"<int:[^>]+>", "1", pattern)
    path = re.sub(r"<(?:str:|slug:|path:)?[^>]+>", "x", path)
    path = re.sub(r"\(\?P<[^>]+>[^)]*\)", "x", path)
    path = path.replace("^", "").replace("$", "").replace("\\Z", "").replace("\\", "")
    return "/" + path.lstrip("/")


def walk(resolvers, prefix=""):
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def all_urls():
    urls = []
    for pattern, _entry in walk(get_resolver().url_patterns):
        if pattern.startswith("^(?!api/"):
            urls.append(("/<spa>", "/some/deep/link"))
        else:
            urls.append((pattern, sample(pattern)))
    return urls


@pytest.mark.django_db
@pytest.mark.parametrize("pattern,path", all_urls(), ids=[p for p, _ in all_urls()])
def test_it_refuses_anonymous_requests(pattern, path):
    client = Client()
    for method in ("get", "post", "put", "patch", "delete"):
        response = getattr(client, method)(path)
        if response.status_code == 405:  # this route does not take that method
            continue
        if "/" + pattern.lstrip("/") in PUBLIC or pattern in PUBLIC or path == "/api/health":
            assert response.status_code != 500
            continue
        if path.startswith("/admin/"):
            if path in ADMIN_LOGIN or path.startswith("/admin/login"):
                continue
            # Django admin answers anonymous users with a redirect to its login page.
            assert response.status_code == 302, (method, path, response.status_code)
            assert response["Location"].startswith("/admin/login/"), response["Location"]
            continue
        assert response.status_code == 401, (method, path, response.status_code, response.content[:200])


def test_it_walks_a_meaningful_number_of_routes():
    patterns = [p for p, _ in all_urls()]
    assert any(p.startswith("api/") for p in patterns)
    assert any("docs" in p for p in patterns)
    assert any(p.startswith("admin/") for p in patterns)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("route", [str(p.pattern) for p in websocket_urlpatterns])
async def test_it_closes_anonymous_websockets_with_4401(route):
    communicator = WebsocketCommunicator(application, "/" + route, headers=[(b"host", b"testserver")])
    connected, _ = await communicator.connect()
    assert connected
    output = await communicator.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": 4401}
    await communicator.disconnect()
