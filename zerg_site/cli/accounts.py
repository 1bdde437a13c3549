"""``zerg passwd`` and ``zerg link``: the owner's password and one-time login links."""

from __future__ import annotations

import getpass
import os
import socket
import sys

from zerg_site.cli.common import die, setup_django
from zerg_site.cli.serve import login_url, print_login_notes, print_qr, reachable


def add_parser(sub) -> None:
    passwd = sub.add_parser("passwd", help="set the owner's password")
    passwd.add_argument("--stdin", action="store_true", help="read the password from standard input (for scripts)")
    passwd.set_defaults(run=run_passwd)
    link = sub.add_parser("link", help="print a new one-time login link and its QR code")
    link.set_defaults(run=run_link)


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("New password for the owner: ")
    if first != getpass.getpass("Again: "):
        die("the two passwords differ; nothing changed")
    return first


def run_passwd(args) -> int:
    setup_django()
    from django.contrib.auth.password_validation import ValidationError, validate_password

    from zerg_site.auth.owner import ensure_owner

    password = _read_password(args.stdin)
    owner = ensure_owner()
    try:
        validate_password(password, owner)
    except ValidationError as exc:
        die("password refused: " + " ".join(exc.messages), code=2)
    owner.set_password(password)
    owner.save(update_fields=["password"])
    # Every session stores a hash of the password it logged in with (Django's session auth hash):
    # a new password ends them all, so a lost phone or a shared browser is signed out.
    print(f"password set for {owner.get_username()}; every browser that was logged in is signed out")
    return 0


def running_server(cfg) -> dict | None:
    """What the live ``zerg serve`` of this ZERG_HOME recorded about itself (its URLs), or None."""
    from zerg_site.models import ProcessHeartbeat

    for row in ProcessHeartbeat.live(ProcessHeartbeat.SERVER):
        if row.host == socket.gethostname() and row.info.get("home") == str(cfg.home) and row.info.get("url"):
            return row.info
    return None


def run_link(args) -> int:
    """A link at the running server's real address and port (it records them in its heartbeat)."""
    cfg = setup_django()
    from zerg_site.auth.owner import ensure_owner

    ensure_owner()
    server = None if cfg.public_url else running_server(cfg)
    if server is not None:
        urls, unreachable = server.get("urls") or [server["url"]], server.get("unreachable", "")
    else:
        urls, unreachable = reachable(cfg)
        print(
            f"zerg: no zerg serve is running with ZERG_HOME={cfg.home}: this link expects one on port {cfg.port}",
            file=sys.stderr,
        )
    url = login_url(cfg, urls[0])
    print(url)
    print_login_notes(url, urls[0], urls, unreachable)
    if os.isatty(1):
        print_qr(url)
    return 0
