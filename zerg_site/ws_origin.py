"""Cross-site WebSocket hijacking guard.

A browser always sends ``Origin`` on a WebSocket handshake; it must be this server's own
origin (the Host it was reached at) or the configured public URL. A handshake without
``Origin`` cannot come from a victim's browser, so it may pass on to token auth.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings


def origin_allowed(origin: str, host: str) -> bool:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    if parts.netloc.lower() == host.lower():
        return True
    public = getattr(settings, "ZERG", None)
    return bool(public and public.public_url and origin.rstrip("/").lower() == public.public_url.lower())


class SameOriginValidator:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            headers = dict(scope.get("headers") or [])
            origin = headers.get(b"origin")
            host = headers.get(b"host", b"").decode("latin-1")
            if origin is not None and not origin_allowed(origin.decode("latin-1"), host):
                denier = WebsocketDenier()
                return await denier(scope, receive, send)
        return await self.application(scope, receive, send)
