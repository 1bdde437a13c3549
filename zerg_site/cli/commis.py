"""``zerg spawn``, ``zerg jobs``, ``zerg logs``, ``zerg cancel``, ``zerg retry``: commis jobs.

On the server they use the database directly. With ``--server URL --token T`` (or
``ZERG_SERVER`` / ``ZERG_TOKEN``) they go through the HTTP API instead.
"""

from __future__ import annotations

import os
import sys
import time

from zerg_site.cli.common import die, print_json, setup_django
from zerg_site.gitcheck import GitValueError, check_repo_url

BACKENDS = ["shell", "claude", "codex", "agent"]
FINISHED = ("succeeded", "failed", "cancelled", "timed_out", "over_budget")


def _remote_args(parser) -> None:
    parser.add_argument("--server", default=os.environ.get("ZERG_SERVER", ""), help="a remote zerg URL (ZERG_SERVER)")
    parser.add_argument("--token", default=os.environ.get("ZERG_TOKEN", ""), help="an API token (ZERG_TOKEN)")


def add_parser(sub) -> None:
    p = sub.add_parser("spawn", help="start a commis job")
    p.add_argument("task", help="the prompt, or the command for --backend shell")
    p.add_argument("--backend", choices=BACKENDS, default="shell")
    p.add_argument("--repo", default="", help="a git URL, local path or file:// URL to clone on branch zerg/<job>")
    p.add_argument("--branch", default="", help="the branch to create (default zerg/<job-id>)")
    p.add_argument("--workdir", default="", help="run in this existing directory on the server")
    p.add_argument("--timeout", type=int, default=None, help="seconds before the job is stopped (timed_out)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="a backend option")
    p.add_argument(
        "--budget-usd",
        type=float,
        default=None,
        metavar="USD",
        help="stop the job (over_budget) once it has cost this much",
    )
    p.add_argument(
        "--override-budget", action="store_true", help="spawn even though the day's or month's spend is over its budget"
    )
    p.add_argument("--wait", action="store_true", help="wait for the job to finish; exit 0 only if it succeeded")
    p.add_argument("--json", action="store_true", help="print the job as JSON (stable)")
    _remote_args(p)
    p.set_defaults(run=run_spawn)

    p = sub.add_parser("jobs", help="list commis jobs")
    p.add_argument("--status", help="only these statuses (comma-separated)")
    p.add_argument("--backend", choices=BACKENDS)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    _remote_args(p)
    p.set_defaults(run=run_jobs)

    p = sub.add_parser("logs", help="print a commis job's log")
    p.add_argument("job", type=int)
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until the job finishes")
    _remote_args(p)
    p.set_defaults(run=run_logs)

    for name, helptext in (("cancel", "cancel a commis job"), ("retry", "run a finished commis job again")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("job", type=int)
        p.add_argument("--json", action="store_true")
        _remote_args(p)
        p.set_defaults(run=run_cancel if name == "cancel" else run_retry)


# --- a tiny client: the database on the server, the API elsewhere


class Remote:
    """``/api/commis`` through the shared API client (``agents_ingest/apiclient.py``); each failure
    ends the command with one line naming the URL, the status and the server's detail."""

    prefix = "/api/commis"

    def __init__(self, server: str, token: str):
        if not token:
            die("--server needs --token (or ZERG_TOKEN): create one with `zerg token create` on the server")
        # Here, not at the top: every `zerg` process (serve, its worker cluster) imports this module
        # to build the parser, and urllib.request (http.client, email, ssl) is only for this client.
        from agents_ingest.apiclient import ApiClient

        self.client = ApiClient(server, token, timeout=30)
        self.base = self.client.server + self.prefix

    def request(self, method: str, path: str, body: dict | None = None, raw: bool = False):
        """The JSON answer; with ``raw``, ``(bytes, headers)``."""
        from agents_ingest.apiclient import ApiError, ConnectionFailed

        try:
            if raw:
                reply = self.client.open(method, self.prefix + path)
                return reply.body, reply.headers
            return self.client.call(method, self.prefix + path, body)
        except ConnectionFailed as exc:
            die(str(exc))
        except ApiError as exc:
            self.refused(exc, path)

    def refused(self, exc, path: str):
        """A refused request: exit 1 with the URL, the status and the server's sentence."""
        die(f"{self.base}{path}: {exc.status} {exc.detail}")


def _client(args):
    if args.server:
        return Remote(args.server, args.token)
    setup_django()
    return None


def _local_job(job_id: int):
    from commis.models import Job

    try:
        return Job.objects.get(id=job_id)
    except Job.DoesNotExist:
        die(f"no job {job_id}")


def _get(remote, job_id: int) -> dict:
    return remote.request("GET", f"/jobs/{job_id}") if remote else _local_job(job_id).as_dict()


def _print_job(job: dict, as_json: bool) -> None:
    if as_json:
        print_json(job)
    else:
        line = f"job {job['id']}  {job['status']:9}  [{job['backend']}]  {job['task'][:60]}"
        if job["summary"] and job["status"] in FINISHED:
            line += f"\n  {job['summary'][:300]}"
        print(line)


# --- commands


def run_spawn(args) -> int:
    options = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep:
            die(f"--option {item!r}: expected KEY=VALUE")
        options[key] = value
    if args.repo:
        try:
            check_repo_url(args.repo)
        except GitValueError as exc:
            die(str(exc), 2)
    body = {
        "task": args.task,
        "backend": args.backend,
        "repo_url": args.repo,
        "branch": args.branch,
        "workdir": args.workdir,
        "timeout": args.timeout,
        "options": options,
        "budget_usd": args.budget_usd,
        "override_budget": args.override_budget,
    }
    remote = _client(args)
    if remote:
        job = remote.request("POST", "/jobs", {**body, "origin": "owner"})
    else:
        from commis import jobs
        from zerg_site import budget

        spend = budget.status()
        if spend.over and not args.override_budget:
            budget.decided("spawn_refused", {**spend.as_dict(), "task": args.task[:200], "origin": "owner"})
            die(f"not spawned: {spend.reason()}; add --override-budget to spawn anyway")
        note = f"spawned by override although {spend.reason()}" if spend.over else ""
        repo = args.repo
        if repo and os.path.isdir(repo):
            repo = os.path.abspath(repo)
        try:
            job = jobs.spawn(
                args.task,
                args.backend,
                repo_url=repo,
                branch=args.branch,
                workdir=os.path.abspath(args.workdir) if args.workdir else "",
                timeout=args.timeout,
                options=options,
                budget_usd=args.budget_usd,
                budget_note=note,
            ).as_dict()
        except ValueError as exc:
            die(str(exc))
    if args.wait:
        while job["status"] not in FINISHED:
            time.sleep(0.3)
            job = _get(remote, job["id"])
    _print_job(job, args.json)
    if args.wait:
        return 0 if job["status"] == "succeeded" else 1
    return 0


def run_jobs(args) -> int:
    remote = _client(args)
    if remote:
        query = f"?limit={args.limit}" + (f"&status={args.status}" if args.status else "")
        query += f"&backend={args.backend}" if args.backend else ""
        rows = remote.request("GET", "/jobs" + query)["jobs"]
    else:
        from commis.models import Job

        qs = Job.objects.all()
        if args.status:
            qs = qs.filter(status__in=args.status.split(","))
        if args.backend:
            qs = qs.filter(backend=args.backend)
        rows = [job.as_dict() for job in qs[: args.limit]]
    if args.json:
        print_json(rows)
    else:
        for job in rows:
            _print_job(job, False)
    return 0


def _read_log(remote, job_id: int, offset: int) -> tuple[bytes, int, str]:
    """(new bytes, next offset, job status)."""
    if remote:
        data, headers = remote.request("GET", f"/jobs/{job_id}/log?offset={offset}", raw=True)
        return data, int(headers.get("X-Log-Offset", offset + len(data))), headers.get("X-Job-Status", "")
    from django.db import close_old_connections

    close_old_connections()
    job = _local_job(job_id)
    data = b""
    if job.artifacts_dir:
        path = os.path.join(job.artifacts_dir, "log.txt")
        if os.path.exists(path):
            with open(path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
    return data, offset + len(data), job.status


def run_logs(args) -> int:
    remote = _client(args)
    offset = 0
    while True:
        data, offset, status = _read_log(remote, args.job, offset)
        if data:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        if not args.follow or (status in FINISHED and not data):
            break
        if not data:
            time.sleep(0.5)
    return 0


def run_cancel(args) -> int:
    remote = _client(args)
    if remote:
        job = remote.request("POST", f"/jobs/{args.job}/cancel")
    else:
        from commis import jobs

        _local_job(args.job)
        job = jobs.cancel(args.job).as_dict()
    _print_job(job, args.json)
    return 0


def run_retry(args) -> int:
    remote = _client(args)
    if remote:
        job = remote.request("POST", f"/jobs/{args.job}/retry")
    else:
        from commis import jobs

        job = _local_job(args.job)
        if not job.finished:
            die(f"job {args.job} is {job.status}; only a finished job can be retried")
        job = jobs.retry(args.job).as_dict()
    _print_job(job, args.json)
    return 0
