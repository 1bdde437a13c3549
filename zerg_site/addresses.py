"""The addresses this machine can be reached at, so a printed link opens on the owner's phone.

``gethostbyname(gethostname())`` is 127.0.0.1 on many machines (Debian maps the hostname to
127.0.1.1 in /etc/hosts), and a QR code for 127.0.0.1 opens the phone itself. What a phone on
the same network (or tailnet) can open is an address of one of this machine's interfaces:
first the one with the default route, then every other non-loopback one.

Nothing here sends a packet: ``connect()`` on a UDP socket only asks the kernel which source
address it would use for that destination. No Django, no network access, no subprocess.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

# Destinations for the route lookup: public addresses, never contacted (UDP connect sends nothing).
PROBE_V4 = ("192.0.2.1", 9)  # TEST-NET-1: routed by the default route like any public address
PROBE_V6 = ("2001:db8::1", 9)  # documentation prefix, likewise
FIB_TRIE = Path("/proc/net/fib_trie")
WILDCARD = ("", "0.0.0.0", "::", "[::]")


def usable(address: str) -> bool:
    """An address another machine could use: not loopback, link-local, multicast or unspecified."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified)


def default_route_address(family: int = socket.AF_INET) -> str | None:
    """The source address of the interface with the default route, or None (no route, no network)."""
    probe = PROBE_V4 if family == socket.AF_INET else PROBE_V6
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect(probe)
            address = sock.getsockname()[0]
    except OSError:  # ENETUNREACH: no default route; EAFNOSUPPORT: no IPv6
        return None
    return address if usable(address) else None


def fib_trie_addresses(path: Path = FIB_TRIE) -> list[str]:
    """Linux: the IPv4 addresses of this host's interfaces (``/32 host LOCAL`` leaves)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    found, previous = [], ""
    for line in lines:
        text = line.strip()
        if text.startswith("/32 host LOCAL") and previous.startswith("|-- "):
            found.append(previous[4:].strip())
        previous = text
    return found


def resolver_addresses() -> list[str]:
    """What the hostname resolves to (macOS, BSD: no /proc); often only loopback."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, proto=socket.IPPROTO_TCP)
    except OSError:
        return []
    return [info[4][0] for info in infos]


def lan_addresses() -> list[str]:
    """Every usable address, the default route's first, each once (IPv4 before IPv6)."""
    candidates = [
        default_route_address(socket.AF_INET),
        *fib_trie_addresses(),
        *resolver_addresses(),
        default_route_address(socket.AF_INET6),
    ]
    seen: list[str] = []
    for address in candidates:
        if address and usable(address) and address not in seen:
            seen.append(address)
    return sorted(seen, key=lambda a: ":" in a)  # stable: keeps the default route's first among its family


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_for(host: str, port: int, scheme: str = "http") -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def reachable_urls(host: str, port: int, public_url: str = "") -> tuple[list[str], str]:
    """(URLs a phone may open, best first; a note when none of them can work from a phone).

    ``public_url`` wins. A wildcard ``host`` gives every usable address of this machine. A
    loopback ``host``, or a machine with no other address, gives the loopback URL and says why.
    """
    if public_url:
        return [public_url.rstrip("/")], ""
    if is_loopback(host):
        return [url_for(host, port)], (
            f"it listens on {host} only, so a phone cannot open this link: start it with --host 0.0.0.0 "
            "(ZERG_HOST) to use it on your network, or put it behind a proxy and set public_url (ZERG_PUBLIC_URL)"
        )
    if host not in WILDCARD:
        return [url_for(host, port)], ""
    addresses = lan_addresses()
    if host in ("", "0.0.0.0"):  # an IPv4 socket: IPv6 addresses do not reach it
        addresses = [address for address in addresses if ":" not in address]
    if not addresses:
        return [url_for("127.0.0.1", port)], (
            "this machine has no network address besides 127.0.0.1, so a phone cannot open this link: "
            "connect it to a network (or a tailnet), or set public_url (ZERG_PUBLIC_URL) to the address "
            "people use"
        )
    return [url_for(address, port) for address in addresses], ""
