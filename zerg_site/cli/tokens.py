"""``zerg token create|list|revoke``: API tokens (and Shipper device tokens), stored hashed."""

from __future__ import annotations

import socket

from zerg_site.cli.common import die, print_json, setup_django


def add_parser(sub) -> None:
    parser = sub.add_parser("token", help="create, list or revoke API tokens")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="make a token (its secret is shown once)")
    create.add_argument("--name", help="what uses it (default: this host's name)")
    create.add_argument("--device", metavar="NAME", help="make an ingest-only device token for a Shipper named NAME")
    create.add_argument("--json", action="store_true", help='print {"token": ...}')
    create.set_defaults(run=run_create)
    listing = actions.add_parser("list", help="list tokens (never their secrets)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=run_list)
    revoke = actions.add_parser("revoke", help="revoke a token by id or prefix")
    revoke.add_argument("token", help="the id or the prefix shown by `zerg token list`")
    revoke.set_defaults(run=run_revoke)


def run_create(args) -> int:
    setup_django()
    from zerg_site.auth.tokens import create_token
    from zerg_site.models import ApiToken

    kind = ApiToken.DEVICE if args.device else ApiToken.API
    name = args.device or args.name or socket.gethostname()
    try:
        token, secret = create_token(name, kind)
    except ValueError as exc:
        die(str(exc), code=2)
    if args.json:
        print_json({**token.as_dict(), "token": secret})
    else:
        print(secret)
        print(f"(token {token.id}, {token.kind}, named {token.name!r}; the secret is shown only now)")
    return 0


def run_list(args) -> int:
    setup_django()
    from zerg_site.models import ApiToken

    tokens = [t.as_dict() for t in ApiToken.objects.all()]
    if args.json:
        print_json({"tokens": tokens})
        return 0
    for t in tokens:
        state = f"revoked {t['revoked_at'][:19]}" if t["revoked_at"] else "live"
        used = t["last_used_at"][:19] if t["last_used_at"] else "never"
        print(f"{t['id']:>4}  {t['prefix']}…  {t['kind']:6}  {t['name']:20}  used {used}  {state}")
    if not tokens:
        print("no tokens; make one with `zerg token create`")
    return 0


def run_revoke(args) -> int:
    setup_django()
    from zerg_site.auth.tokens import revoke_token
    from zerg_site.models import ApiToken

    ref = args.token.strip()
    if ref.isdigit():
        matches = list(ApiToken.objects.filter(id=int(ref)))
    else:
        matches = list(ApiToken.objects.filter(prefix__startswith=ref.rstrip("…")))
    if not matches:
        die(f"no token {ref!r}; see `zerg token list`")
    if len(matches) > 1:
        die(f"{ref!r} matches {len(matches)} tokens; give the id")
    if not revoke_token(matches[0].id):
        die(f"token {matches[0].id} is already revoked")
    print(f"revoked token {matches[0].id} ({matches[0].name})")
    return 0
