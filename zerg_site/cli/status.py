"""``zerg status [--json]``: server and worker health, read from the database."""

from __future__ import annotations

from zerg_site.cli.common import print_json, setup_django


def add_parser(sub) -> None:
    parser = sub.add_parser("status", help="show server and worker health")
    parser.add_argument("--json", action="store_true", help="machine-readable output (stable)")
    parser.set_defaults(run=run)


def run(args) -> int:
    setup_django()
    from zerg_site.system_api import status

    document = status()
    if args.json:
        print_json(document)
        return 0
    server = document["server"]
    if server and server["alive"]:
        print(f"server   up    {server.get('url', '')}  pid {server['pid']} on {server['host']}")
    else:
        print("server   down")
    for worker in document["workers"]:
        state = "up" if worker["alive"] else "stale"
        print(f"worker   {state:5} pid {worker['pid']} on {worker['host']}, last seen {worker['last_seen']}")
    if not document["workers"]:
        print("worker   none")
    slots = document["commis_slots"]
    print(f"commis   {slots['running']}/{slots['max']} slots busy")
    print(f"database {document['database']}")
    return 0 if document["worker_alive"] and server and server["alive"] else 1
