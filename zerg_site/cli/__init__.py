"""The ``zerg`` command line: one module per command, each with ``add_parser`` and ``run``."""

from __future__ import annotations

import argparse
import sys

from zerg_site import __version__
from zerg_site.cli import (
    accounts,
    backup,
    commis,
    doctor,
    migrate,
    schedule,
    serve,
    ship,
    spend,
    status,
    tokens,
    worker,
)
from zerg_site.cli.common import CommandError

# Command modules import Django, Zerg's apps and the Shipper only inside run() (each such import is a
# lazy one on purpose): Django's apps cannot load before setup_django(), `zerg ship` runs on laptops
# without a Zerg home, and every command pays for what this package imports. Measured (-X importtime,
# a fresh home): `zerg --help` loads 159 modules and no Django in ~40 ms; `zerg status` ~820 modules;
# the Shipper and its HTTP client (agents_ingest.apiclient: urllib.request, http.client, email, ssl)
# add ~80 modules, +10-12 MB RSS and ~50 ms to commands that never ship (the worker cluster is
# `python -m zerg_site worker`).
COMMANDS = [serve, worker, status, tokens, accounts, commis, ship]
COMMANDS.append(migrate)
COMMANDS += [backup, doctor]
COMMANDS += [schedule]
COMMANDS += [spend]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zerg", description="Zerg: an operations center for coding agents.")
    parser.add_argument("--version", action="version", version=f"zerg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except CommandError as exc:
        print(f"zerg: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
