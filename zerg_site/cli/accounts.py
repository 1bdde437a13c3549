"""``zerg passwd`` and ``zerg link``: the owner's password and one-time login links."""

from __future__ import annotations

import getpass
import os
import sys

from zerg_site.cli.common import die, setup_django


def add_parser(sub) -> None:
    passwd = sub.add_parser("passwd", help="set the owner's password")
    passwd.add_argument(
        "--stdin", action="store_true", help="read the password from standard input (for scripts)"
    )
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
    print(f"password set for {owner.get_username()}")
    return 0


def run_link(args) -> int:
    cfg = setup_django()
    from zerg_site.auth.owner import ensure_owner
    from zerg_site.cli.serve import login_url, print_qr

    ensure_owner()
    url = login_url(cfg)
    print(url)
    if os.isatty(1):
        print_qr(url)
    return 0
