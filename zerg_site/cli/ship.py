"""``zerg connect URL --token T`` and ``zerg ship [--once] [--install]``: the Shipper client.

These run on the owner's laptop: no Django, no server config, no database but
``$ZERG_HOME/shipper.db``.
"""

from __future__ import annotations

import sys

from zerg_site.cli.common import die


def add_parser(sub) -> None:
    connect = sub.add_parser("connect", help="store the Zerg server and device token for `zerg ship`")
    connect.add_argument("url", help="the server, e.g. https://zerg.example.com")
    connect.add_argument(
        "--token", required=True, help="a device token (`zerg token create --device NAME` on the server)"
    )
    connect.add_argument("--device", help="this machine's name on the server (default: its hostname)")
    connect.set_defaults(run=run_connect)

    ship = sub.add_parser("ship", help="ship local Claude Code / Codex / Gemini sessions to the server")
    ship.add_argument("--once", action="store_true", help="ship everything new, then exit")
    ship.add_argument(
        "--install", action="store_true", help="run `zerg ship` at login (systemd user unit / launchd agent)"
    )
    ship.add_argument("--quiet", action="store_true", help="print only errors")
    ship.set_defaults(run=run_ship)


def _log(message: str) -> None:
    print(f"zerg ship: {message}", file=sys.stderr, flush=True)


def run_connect(args) -> int:
    from agents_ingest.apiclient import ApiError, Unauthorized
    from agents_ingest.shipper.client import Client
    from agents_ingest.shipper.engine import default_device
    from agents_ingest.shipper.state import State

    url = args.url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        die(f"expected a server URL such as https://zerg.example.com, got {args.url!r}")
    device = args.device or default_device()
    client = Client(url, args.token, timeout=15)
    try:
        client.health()
    except ApiError as exc:
        die(f"cannot reach the server at {url}: {exc}")
    try:
        answer = client.ingest_files(device, [])
    except Unauthorized as exc:
        die(str(exc))
    except ApiError as exc:
        die(f"the server at {url} did not accept a test upload: {exc}")
    # The server stores a device token's sessions under the token's name, whatever this end calls
    # itself: keep that name, so `zerg migrate` (API token) ships as the same device.
    named = answer.get("device") if isinstance(answer, dict) else None
    if isinstance(named, str) and named.strip() and named != device:
        if args.device:
            print(
                f"zerg: the server names this token's device {named!r}: using that, not {args.device!r}",
                file=sys.stderr,
            )
        device = named
    state = State()
    try:
        state.set(server=url, token=args.token, device=device)
    finally:
        state.close()
    print(f"connected to {url} as device {device!r}; settings in {state.path}")
    print("run `zerg ship --once` to ship now, `zerg ship` to keep shipping, `zerg ship --install` to start at login")
    return 0


def run_ship(args) -> int:
    from agents_ingest.shipper import service

    if args.install:
        path, how = service.install()
        print(f"wrote {path}")
        print(f"enable it with: {how}")
        return 0

    from agents_ingest.apiclient import Unauthorized
    from agents_ingest.shipper.client import Client
    from agents_ingest.shipper.engine import Shipper, default_device
    from agents_ingest.shipper.state import State

    state = State()
    server, token = state.get("server"), state.get("token")
    if not server or not token:
        state.close()
        die("not connected to a server yet: run `zerg connect URL --token T` first")
    log = (lambda message: None) if args.quiet else _log
    shipper = Shipper(state, Client(server, token), state.get("device") or default_device(), log=log)
    try:
        if args.once:
            complete = shipper.run_once()
            pending = state.spool()
            if not args.quiet:
                print(f"shipped {shipper.stats.summary()}")
            if not complete:
                die(f"the server is unreachable; {len(pending)} files wait in the spool (run again later)")
            if shipper.stats.blocked:  # the server refused them: a script must not read this as success
                blocked = shipper.stats.blocked
                die(
                    f"{len(blocked)} files blocked (rejected by the server): {', '.join(blocked[:3])}"
                    f"{' ...' if len(blocked) > 3 else ''}; see the messages above"
                )
            return 0
        from agents_ingest.shipper.watch import watch

        watch(shipper)
        return 0
    except Unauthorized as exc:
        die(f"{exc} (was the device token revoked? run `zerg connect` with a new one)")
    finally:
        state.close()
