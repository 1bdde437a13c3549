"""Which client sent this request: forwarded headers, believed only from trusted proxies.

Behind a reverse proxy (``[server] public_url`` set) the TCP peer is the proxy, and the
client's address, scheme and host arrive in ``X-Forwarded-For``/``-Proto``/``-Host``. Any
client can send those headers itself, so they are believed only when the peer is one of
``[server] trusted_proxies`` (default loopback). The client is then the rightmost address
in ``X-Forwarded-For`` that is not a trusted proxy: each proxy appends the address it saw,
so entries left of that one are whatever the client wrote and prove nothing. Believing
the leftmost entry let one client send 30 wrong passwords as 30 "addresses" and never
meet the login rate limit (``zerg_site.auth.ratelimit``).

From any other peer the forwarded headers are removed before Django reads them (Django's
``SECURE_PROXY_SSL_HEADER`` and ``USE_X_FORWARDED_HOST`` would otherwise trust them from
anyone). Without ``public_url`` nothing is believed from anyone, as there is no proxy.

This runs as the first Django middleware, so it covers daphne in ``zerg serve`` (which is
told not to read these headers itself) and any other server the ASGI app runs under.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.utils.deprecation import MiddlewareMixin

FORWARDED_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> Address | None:
    """An address as a peer or a proxy writes it (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``,
    ``::ffff:1.2.3.4``), or None when it is not one."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port; IPv6 has at least two colons
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: Address | None, proxies) -> bool:
    return address is not None and any(address.version == net.version and address in net for net in proxies)


def client_address(peer: str, forwarded_for: str, proxies) -> str:
    """The client's address: ``peer`` unless it is a trusted proxy, else the rightmost
    untrusted entry of ``forwarded_for`` (the leftmost when every entry is a trusted proxy).

    An entry that is not an address ends the walk at the last address known to be real:
    a trusted proxy wrote garbage, and garbage must not become a fresh rate-limit key.
    """
    peer_address = parse_address(peer)
    if not is_trusted(peer_address, proxies):
        return peer
    client = str(peer_address)
    for entry in reversed([e for e in forwarded_for.split(",") if e.strip()]):
        address = parse_address(entry)
        if address is None:
            return client
        client = str(address)
        if not is_trusted(address, proxies):
            return client
    return client


def apply(meta: dict, config) -> None:
    """Rewrite ``meta`` (a request's META) in place by the rule in the module docstring."""
    peer = meta.get("REMOTE_ADDR") or ""
    if config.public_url and is_trusted(parse_address(peer), config.trusted_proxies):
        meta["REMOTE_ADDR"] = client_address(peer, meta.get("HTTP_X_FORWARDED_FOR", ""), config.trusted_proxies)
        return
    for name in FORWARDED_HEADERS:
        meta.pop(name, None)


class ForwardedMiddleware(MiddlewareMixin):
    """First in ``MIDDLEWARE``: everything after it sees the resolved client (sync and async
    alike, through the mixin: no thread hop under daphne)."""

    def process_request(self, request):
        apply(request.META, settings.ZERG)
