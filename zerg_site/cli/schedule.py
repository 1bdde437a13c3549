"""``zerg schedule add|list|show|edit|rm|run|enable|disable``: Sauron's scheduled jobs.

On the server they use the database (commis/schedules.py); with ``--server URL --token T``
(or ``ZERG_SERVER`` / ``ZERG_TOKEN``) they go through ``/api/schedules``. Bad input (an
invalid cron expression, time zone or interval) is one line on stderr and exit 2.
"""

from __future__ import annotations

import os
import shlex
import urllib.parse

from zerg_site.cli.commis import BACKENDS, Remote, _remote_args
from zerg_site.cli.common import die, print_json, setup_django

MISSED = ["skip", "run_once"]


def _timing_args(p, edit: bool = False) -> None:
    p.add_argument("--cron", help='five cron fields, e.g. "0 3 * * *", or @daily, @hourly, ...')
    p.add_argument("--interval", help="instead of --cron: every 90s, 10m, 1h30m, 2d (at least 60 s)")
    p.add_argument("--tz", default=None if edit else "UTC", help="IANA time zone of the cron expression (default UTC)")
    p.add_argument("--backend", choices=BACKENDS, default=None if edit else "shell")
    p.add_argument("--repo", default=None, help="a git URL or path to clone for each run")
    p.add_argument(
        "--missed",
        choices=MISSED,
        default=None if edit else "skip",
        help="runs missed while Zerg was down: skip them, or run once on start",
    )
    p.add_argument("--timeout", type=int, default=None, help="seconds per run before it is stopped")
    p.add_argument(
        "--budget-usd",
        type=float,
        default=None,
        metavar="USD",
        help="each run's budget: its job is stopped (over_budget) once it has cost this much",
    )


def add_parser(sub) -> None:
    p = sub.add_parser("schedule", help="scheduled jobs (Sauron): add, list, rm, run, enable, disable")
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    p.set_defaults(run=lambda args: (p.print_help(), 2)[1])

    a = verbs.add_parser("add", help="add a schedule: zerg schedule add NAME --cron '0 3 * * *' -- TASK...")
    a.add_argument("name")
    _timing_args(a)
    a.add_argument("--disabled", action="store_true", help="add it disabled")
    a.add_argument("--json", action="store_true")
    a.add_argument("task", nargs="+", help="after --: the command (shell backend) or the prompt")
    _remote_args(a)
    a.set_defaults(run=run_add)

    e = verbs.add_parser("edit", help="change a schedule's timing, task or options")
    e.add_argument("name")
    _timing_args(e, edit=True)
    e.add_argument("--task", help="the new command or prompt")
    e.add_argument("--json", action="store_true")
    _remote_args(e)
    e.set_defaults(run=run_edit)

    ls = verbs.add_parser("list", help="list schedules with their next runs and last result")
    ls.add_argument("--json", action="store_true", help="print the schedules as JSON (stable)")
    _remote_args(ls)
    ls.set_defaults(run=run_list)

    for verb, helptext in (
        ("show", "a schedule, its recent runs and missed runs"),
        ("rm", "remove a schedule"),
        ("run", "run a schedule's task now"),
        ("enable", "enable a schedule"),
        ("disable", "disable a schedule"),
    ):
        v = verbs.add_parser(verb, help=helptext)
        v.add_argument("name")
        v.add_argument("--json", action="store_true")
        _remote_args(v)
        v.set_defaults(run=run_verb, verb=verb)


class _Remote(Remote):
    """``/api/schedules``; a 400/422 (bad input) exits 2 with the server's sentence, like the local checks."""

    prefix = "/api/schedules"

    def refused(self, exc, path: str):
        if exc.status in (400, 422):
            die(exc.detail, 2)
        super().refused(exc, path)


def _client(args):
    if args.server:
        return _Remote(args.server, args.token)
    setup_django()
    return None


def _local(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except LookupError as exc:
        die(str(exc))
    except ValueError as exc:
        die(str(exc), code=2)


def _task_text(words: list[str], backend: str) -> str:
    if len(words) == 1:
        return words[0]
    return shlex.join(words) if backend == "shell" else " ".join(words)


def _repo(value: str | None) -> str | None:
    if value and os.path.isdir(value):
        return os.path.abspath(value)
    return value


def _when(iso: str | None) -> str:
    return iso.replace("T", " ")[:16] + " UTC" if iso else "-"


def _missed(miss: dict) -> str:
    """One missed-run record: which due times did not run on their own, and why."""
    span = _when(miss["first_at"]) if miss["count"] == 1 else f"{_when(miss['first_at'])} .. {_when(miss['last_at'])}"
    return f"not run: {miss['count']} due time(s) {span}: {miss.get('reason') or miss['policy']}"


def _print(s: dict, as_json: bool) -> None:
    if as_json:
        print_json(s)
        return
    timing = f"cron {s['cron']!r} {s['tz']}" if s["cron"] else f"every {s['interval']}s"
    state = "enabled" if s["enabled"] else "disabled"
    last = s.get("last_run")
    last_text = (
        f"{last['status']} (job {last['job_id']})"
        if last and last["job_id"]
        else (f"error: {last['error']}" if last else "never ran")
    )
    print(f"{s['name']}  [{s['backend']}]  {timing}  {state}  next {_when(s['next_run_at'])}  last {last_text}")
    print(f"  {s['task'][:100]}")
    misses = s.get("misses")
    for miss in misses[:10] if misses is not None else [s["last_missed"]] if s.get("last_missed") else []:
        print(f"  {_missed(miss)}")


def _q(name: str) -> str:
    return "/" + urllib.parse.quote(name, safe="")


def run_add(args) -> int:
    body = {
        "cron": args.cron or "",
        "tz": args.tz,
        "interval": args.interval,
        "backend": args.backend,
        "repo_url": _repo(args.repo) or "",
        "missed": args.missed,
        "enabled": not args.disabled,
        "timeout": args.timeout,
        "budget_usd": args.budget_usd,
        "task": _task_text(args.task, args.backend),
    }
    remote = _client(args)
    if remote:
        s = remote.request("POST", "", {"name": args.name, **body})
    else:
        from commis import schedules

        s = _local(schedules.add, args.name, **body).as_dict()
    _print(s, args.json)
    return 0


def run_edit(args) -> int:
    changes = {
        k: v
        for k, v in {
            "cron": args.cron,
            "tz": args.tz,
            "interval": args.interval,
            "backend": args.backend,
            "repo_url": _repo(args.repo),
            "missed": args.missed,
            "timeout": args.timeout,
            "budget_usd": args.budget_usd,
            "task": args.task,
        }.items()
        if v is not None
    }
    if not changes:
        die("nothing to change: give --cron, --interval, --tz, --task, --backend, --repo, --missed or --timeout", 2)
    remote = _client(args)
    if remote:
        s = remote.request("PATCH", _q(args.name), changes)
    else:
        from commis import schedules

        s = _local(schedules.edit, args.name, **changes).as_dict()
    _print(s, args.json)
    return 0


def run_list(args) -> int:
    remote = _client(args)
    if remote:
        rows = remote.request("GET", "")["schedules"]
    else:
        from commis import schedules

        rows = schedules.list_schedules()
    if args.json:
        print_json(rows)
    elif not rows:
        print("no schedules: add one with zerg schedule add NAME --cron '0 3 * * *' -- TASK")
    for s in [] if args.json else rows:
        _print(s, False)
    return 0


def run_verb(args) -> int:
    remote = _client(args)
    if remote:
        method, path = {
            "show": ("GET", ""),
            "rm": ("DELETE", ""),
            "run": ("POST", "/run"),
            "enable": ("POST", "/enable"),
            "disable": ("POST", "/disable"),
        }[args.verb]
        result = remote.request(method, _q(args.name) + path)
    else:
        from commis import schedules

        if args.verb == "rm":
            result = {"removed": args.name} if schedules.remove(args.name) else die(f"no schedule named {args.name!r}")
        elif args.verb == "run":
            result = _local(schedules.run_now, args.name).as_dict()
        elif args.verb == "show":
            result = _local(schedules.detail, args.name)
        else:
            result = _local(getattr(schedules, args.verb), args.name).as_dict()
    if args.json:
        print_json(result)
    elif args.verb == "rm":
        print(f"removed {args.name}")
    elif args.verb == "run":
        print(f"job {result['id']}  {result['status']}  [{result['backend']}]  {result['task'][:60]}")
    else:
        _print(result, False)
        for r in result.get("runs", [])[:10]:
            print(
                f"  run {_when(r['due_at'] or r['created_at'])}  {r['trigger']:8}  {r['status']}"
                + (f"  job {r['job_id']}" if r["job_id"] else f"  {r['error']}")
            )
    return 0
