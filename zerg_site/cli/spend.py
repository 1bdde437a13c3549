"""``zerg spend [--days N] [--by day|model|project|source|device] [--json]``: what the agents cost.

On the server it reads the database (``spend.query``, the owner's days of ``[server] time_zone``);
with ``--server URL --token T`` (or ``ZERG_SERVER`` / ``ZERG_TOKEN``) it asks ``GET /api/spend``
for the last N days as this machine's calendar counts them. ``--json`` prints the API's document.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta

from zerg_site.cli.commis import Remote, _remote_args
from zerg_site.cli.common import die, print_json, setup_django

BYS = ["day", "model", "project", "source", "device"]


def add_parser(sub) -> None:
    p = sub.add_parser("spend", help="what the agents cost: per day, model, project, source or device")
    p.add_argument("--days", type=int, default=30, help="the last N days, today included (default 30)")
    p.add_argument("--by", choices=BYS, default="day", help="one row per day (default), model, project, ...")
    p.add_argument("--json", action="store_true", help="print the API's JSON document (stable)")
    _remote_args(p)
    p.set_defaults(run=run)


class _Remote(Remote):
    prefix = "/api/spend"

    def refused(self, exc, path: str):
        if exc.status == 400:
            die(exc.detail, 2)
        super().refused(exc, path)


def money(cost: float, partial: bool) -> str:
    return ("≥ " if partial else "") + f"${cost:,.2f}"


def render(document: dict, by: str) -> str:
    header = (by, "cost", "input", "output", "cache read", "runs")
    rows = [
        (
            r["key"] or "(unknown)",
            money(r["cost"], r["partial"]),
            f"{r['input_tokens']:,}",
            f"{r['output_tokens']:,}",
            f"{r['cache_read_tokens']:,}",
            str(r["sessions"]),
        )
        for r in document["rows"]
    ]
    rows.append(("total", money(document["total"], document["partial"]), "", "", "", ""))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for n, row in enumerate([header, *rows]):
        if n == len(rows):  # a rule above the total
            lines.append("  ".join("-" * w for w in widths))
        lines.append(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
    if document["partial"]:
        lines.append("≥: some tokens are of a model whose price is unknown")
    return "\n".join(line.rstrip() for line in lines)


def run(args) -> int:
    if not 1 <= args.days <= 3660:
        die("--days must be from 1 to 3660", 2)
    if args.server:
        import urllib.parse

        today = date.today()
        query = {"from": str(today - timedelta(days=args.days - 1)), "to": str(today), "by": args.by}
        document = _Remote(args.server, args.token).request("GET", "?" + urllib.parse.urlencode(query))
    else:
        setup_django()
        from django.utils import timezone

        from spend import query

        zone = query.owner_zone()
        today = timezone.now().astimezone(zone).date()
        document = query.spend(today - timedelta(days=args.days - 1), today, args.by, zone).as_dict(args.by)
    if args.json:
        print_json(document)
    else:
        sys.stdout.write(render(document, args.by) + "\n")
    return 0
