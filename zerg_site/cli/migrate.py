"""``zerg migrate [SESSION_ID_OR_FILE] [--prompt P]`` and ``zerg pull SESSION_ID``: move a
local Claude Code / Codex session to the server and back.

``migrate`` runs on the laptop: it finds the session (a file, a session id, or the most
recent session of the current directory), ships it, uploads the uncommitted changes of
its repository (``agents_ingest/shipper/patch.py``) and starts a continuation on the
server (``POST /api/migrate/sessions/{id}/continue``). ``pull`` writes the continued
session file back into the local CLI's directory and applies what the continuation
changed, so ``claude --resume`` / ``codex resume`` go on from there.

Both need the server and an API token (``--server``/``--token``, ``ZERG_SERVER``/
``ZERG_TOKEN``; the server defaults to the one ``zerg connect`` stored). On the server
itself, without a server URL, ``migrate`` works through the database. No Django on
the laptop path.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

from zerg_site.cli.common import die, print_json, setup_django

CODEX_ID = re.compile(r"-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.jsonl$", re.I)


def add_parser(sub) -> None:
    p = sub.add_parser("migrate", help="continue a local Claude Code / Codex session on the server")
    p.add_argument(
        "session",
        nargs="?",
        default="",
        help="a session id or session file (default: the newest session of this directory)",
    )
    p.add_argument("--prompt", default="", help="what to tell the agent (default: continue where it left off)")
    p.add_argument(
        "--workspace",
        choices=["auto", "clone", "cwd", "scratch"],
        default="auto",
        help="where it runs on the server (auto: its directory if it exists there, else a clone)",
    )
    p.add_argument("--no-patch", action="store_true", help="do not carry uncommitted local changes over")
    p.add_argument("--json", action="store_true", help="print the job and session as JSON")
    _remote(p)
    p.set_defaults(run=run_migrate)

    p = sub.add_parser("pull", help="bring a session continued on the server back to this machine")
    p.add_argument("session", help="the session id (Zerg's or the CLI's)")
    p.add_argument("--dir", default="", help="the local working directory (default: the session's, else this one)")
    p.add_argument("--no-apply", action="store_true", help="write the session file only; do not apply the changes")
    p.add_argument("--force", action="store_true", help="pull even while a continuation is still running")
    p.add_argument("--json", action="store_true")
    _remote(p)
    p.set_defaults(run=run_pull)


def _remote(p) -> None:
    p.add_argument("--server", default=os.environ.get("ZERG_SERVER", ""), help="the zerg server (ZERG_SERVER)")
    p.add_argument("--token", default=os.environ.get("ZERG_TOKEN", ""), help="an API token (ZERG_TOKEN)")


def _say(message: str) -> None:
    print(f"zerg: {message}", file=sys.stderr, flush=True)


# --- finding the local session


def _claude_dir_name(cwd: str) -> str:
    from commis.backends.sessionfiles import claude_project_dir_name

    return claude_project_dir_name(cwd)


def _codex_meta(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            first = json.loads(fh.readline() or b"{}")
    except (OSError, ValueError):
        return {}
    payload = first.get("payload") if isinstance(first, dict) else None
    return (
        payload if isinstance(first, dict) and first.get("type") == "session_meta" and isinstance(payload, dict) else {}
    )


def identify(path: Path) -> tuple[str, str]:
    """``(provider, CLI session id)`` of a session file."""
    if path.suffix != ".jsonl":
        die(f"{path} is not a Claude Code or Codex session file (.jsonl)")
    if path.name.startswith("rollout-"):
        sid = str(_codex_meta(path).get("id") or "")
        match = CODEX_ID.search(path.name)
        return "codex", sid or (match.group(1) if match else "")
    if path.name.startswith("agent-") or path.parent.name == "subagents":
        die(f"{path} is a subagent's file: migrate its parent session")
    return "claude", path.stem


def _codex_files() -> list[Path]:
    from agents_ingest.shipper.sources import codex_dir

    found = []
    for sub in ("sessions", "archived_sessions"):
        found += (codex_dir() / sub).glob("**/rollout-*.jsonl")
    return found


def find_session(arg: str) -> tuple[str, Path, str]:
    """``(provider, file, session id)`` for a file, a session id, or the newest session of the cwd."""
    from agents_ingest.shipper.sources import claude_dirs

    if arg and Path(arg).expanduser().is_file():
        path = Path(arg).expanduser().absolute()
        provider, sid = identify(path)
        return provider, path, sid
    if arg:
        for base in claude_dirs():
            for path in (base / "projects").glob(f"*/{arg}.jsonl"):
                return "claude", path, arg
        for path in _codex_files():
            if path.name.endswith(f"-{arg}.jsonl"):
                return "codex", path, identify(path)[1]
        die(
            f"no local Claude Code or Codex session {arg!r} (looked in {', '.join(map(str, claude_dirs()))} "
            "and the Codex sessions)"
        )
    cwd = os.getcwd()
    candidates = []
    for base in claude_dirs():
        for name in dict.fromkeys([_claude_dir_name(cwd), _claude_dir_name(os.path.realpath(cwd))]):
            candidates += [
                ("claude", p) for p in (base / "projects" / name).glob("*.jsonl") if not p.name.startswith("agent-")
            ]
    newest_codex = sorted(_codex_files(), key=lambda p: p.stat().st_mtime, reverse=True)[:200]
    candidates += [("codex", p) for p in newest_codex if _codex_meta(p).get("cwd") in (cwd, os.path.realpath(cwd))]
    candidates = [(prov, p) for prov, p in candidates if p.stat().st_size > 0]
    if not candidates:
        die(f"no Claude Code or Codex session was started in {cwd}: name one (zerg migrate SESSION_ID_OR_FILE)")
    provider, path = max(candidates, key=lambda c: c[1].stat().st_mtime)
    return provider, path.absolute(), identify(path)[1]


def session_cwd(provider: str, path: Path) -> str | None:
    from agents_ingest.shipper import tail

    try:
        with open(path, "rb") as fh:
            return tail.find_cwd(provider, fh.read(1 << 20))
    except OSError:
        return None


# --- talking to the server


def _server_and_token(args, need_token: bool = True):
    from agents_ingest.shipper.state import State, default_path

    server, token = args.server.strip().rstrip("/"), args.token.strip()
    stored = None
    if default_path().exists():
        state = State()
        try:
            stored = state.get("server")
            device = state.get("device")
        finally:
            state.close()
    else:
        device = None
    server = server or (stored or "")
    if server and not token and need_token:
        die(
            "zerg migrate and zerg pull need an API token (a device token can only ship): run "
            "`zerg token create --name laptop` on the server, then pass --token or set ZERG_TOKEN"
        )
    return server, token, device, stored


def _api(server: str, token: str):
    from agents_ingest.apiclient import ApiClient

    return ApiClient(server, token, timeout=60)


def _call(client, method: str, path: str, body: dict | None = None, raw: bool = False):
    """``/api{path}``'s JSON answer (``raw``: its bytes), or a one-line error naming the URL."""
    from agents_ingest.apiclient import ApiError, Unauthorized

    try:
        if raw:
            return client.open(method, f"/api{path}").body
        return client.call(method, f"/api{path}", body)
    except Unauthorized as exc:
        die(f"{exc} (use an API token from `zerg token create`, not a device token)")
    except ApiError as exc:
        die(f"{client.server}/api{path}: {exc}")


def ship_file(server: str, token: str, device: str, path: Path, stored_server: str | None) -> None:
    """Ship one session file with the API token (through shipper.db when it is the same server)."""
    from agents_ingest.apiclient import RetryLater, Unauthorized
    from agents_ingest.shipper.client import Client
    from agents_ingest.shipper.engine import Shipper
    from agents_ingest.shipper.state import State

    client = Client(server, token)
    client.ingest_path = "/api/migrate/ingest"
    tmp = None
    if stored_server and stored_server.rstrip("/") == server:
        state = State()
    else:  # another server: its acknowledgements must not mix with shipper.db's
        tmp = tempfile.TemporaryDirectory(prefix="zerg-migrate-")
        state = State(Path(tmp.name) / "shipper.db")
    try:
        shipper = Shipper(state, client, device, log=_say, patches=False)  # the patch follows
        shipper.ship_pass([path])
        if shipper.stats.blocked:
            die(f"the server would not take {path}: see the messages above")
    except Unauthorized as exc:
        die(f"{exc} (use an API token from `zerg token create`)")
    except RetryLater as exc:
        die(f"cannot ship the session: {exc}")
    finally:
        state.close()
        if tmp is not None:
            tmp.cleanup()


def run_migrate(args) -> int:
    provider, path, sid = find_session(args.session)
    if not sid:
        die(f"cannot tell the session id of {path}")
    server, token, device, stored = _server_and_token(args)
    if not server:
        return _migrate_here(args, provider, path, sid)
    from agents_ingest.shipper.engine import default_device

    device = device or default_device()
    _say(f"shipping {provider} session {sid} ({path})")
    ship_file(server, token, device, path, stored)
    client = _api(server, token)
    patch_id = None
    cwd = session_cwd(provider, path)
    if not args.no_patch and cwd and os.path.isdir(cwd):
        from agents_ingest.shipper.patch import PatchError, work_state

        try:
            state = work_state(cwd)
        except PatchError as exc:
            _say(f"not carrying local changes over: {exc}")
        else:
            patch = _call(
                client,
                "POST",
                "/migrate/patch",
                {
                    "device": device,
                    **state.meta(),
                    "cwd": cwd,
                    "patch_b64": __import__("base64").b64encode(state.patch).decode("ascii"),
                },
            )
            patch_id = patch["id"]
            _say(
                f"carrying {len(state.patch)} bytes of changes since {state.base_commit[:12]} "
                f"({state.remote}, branch {state.branch})"
            )
    answer = _call(
        client,
        "POST",
        f"/migrate/sessions/{sid}/continue{_device_query(device)}",
        {"prompt": args.prompt, "workspace": args.workspace, "patch_id": patch_id},
    )
    return _report(answer, server, args.json)


def _migrate_here(args, provider: str, path: Path, sid: str) -> int:
    """On the server itself: import the file and spawn the continuation through the database."""
    setup_django()
    from agents_ingest.importer import import_file
    from agents_ingest.shipper.engine import default_device
    from commis.continuation import ContinuationError, start
    from timeline.models import Session

    device = default_device()
    import_file(provider, path, device=device)
    session = Session.objects.filter(provider=provider, provider_session_id=sid, device=device).first()
    if session is None:
        die(f"{path} holds no session to continue")
    try:
        job = start(session, args.prompt, workspace=args.workspace)
    except ContinuationError as exc:
        die(str(exc))
    return _report({"job": job.as_dict(), "session": session.as_dict()}, "", args.json)


def _report(answer: dict, server: str, as_json: bool) -> int:
    if as_json:
        print_json(answer)
        return 0
    job, session = answer["job"], answer["session"]
    print(f"continuing {session['provider']} session {session['provider_session_id']} as job {job['id']}")
    if server:
        print(f"  follow it:   {server}/commis/{job['id']}")
        print(f"  the session: {server}/timeline/{session['id']}")
    print(f"  bring it back here: zerg pull {session['provider_session_id']}")
    return 0


def _device_query(device: str) -> str:
    """``?device=NAME``: this machine's session when other devices shipped one of the same id."""
    return f"?device={quote(device, safe='')}" if device else ""


# --- pull


def _local_target(provider: str, sid: str, file_name: str, cwd: str) -> Path:
    from agents_ingest.shipper.sources import claude_dirs, codex_dir

    if provider == "claude":
        for base in claude_dirs():
            for path in (base / "projects").glob(f"*/{sid}.jsonl"):
                return path
        return claude_dirs()[0] / "projects" / _claude_dir_name(cwd) / f"{sid}.jsonl"
    for path in _codex_files():
        if path.name.endswith(f"-{sid}.jsonl"):
            return path
    match = re.match(r"rollout-(\d{4})-(\d{2})-(\d{2})T", file_name)
    day = match.groups() if match else ("1970", "01", "01")
    return codex_dir() / "sessions" / day[0] / day[1] / day[2] / file_name


def run_pull(args) -> int:
    server, token, device, _ = _server_and_token(args)
    if not server:
        die("zerg pull needs the server: --server URL (or ZERG_SERVER, or `zerg connect`)")
    from agents_ingest.shipper.engine import default_device

    client = _api(server, token)
    src = _call(client, "GET", f"/migrate/sessions/{args.session}/source{_device_query(device or default_device())}")
    active = src.get("active")
    if active and not args.force:
        die(
            f"job {active['id']} is still continuing this session ({active['status']}): wait for it to finish, "
            "cancel it (zerg cancel), or pull anyway with --force"
        )
    data = _call(client, "GET", f"/timeline/sessions/{src['session']['id']}/export", raw=True)
    if not data:
        die("the server holds no lines of this session")
    provider, sid = src["provider"], src["provider_session_id"]
    original = src.get("original") or {}
    cwd = args.dir or (original.get("cwd") if original.get("cwd") and os.path.isdir(original["cwd"]) else "")
    cwd = os.path.abspath(cwd or os.getcwd())
    target = _local_target(provider, sid, src["file_name"], cwd)
    target.parent.mkdir(parents=True, exist_ok=True)
    backup = None
    if target.exists():
        old = target.read_bytes()
        if not data.startswith(old):  # the local file went its own way: keep it
            backup = target.with_name(target.name + ".before-pull")
            backup.write_bytes(old)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".zerg-pull-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, target)
    diff = base64.b64decode(src.get("diff_b64") or "")
    applied = False
    if diff.strip() and not args.no_apply:
        from agents_ingest.shipper.patch import PatchError, apply

        try:
            apply(cwd, diff)
            applied = True
        except PatchError as exc:
            die(f"wrote {target}, but {exc}")
    report = {
        "provider": provider,
        "session_id": sid,
        "file": str(target),
        "bytes": len(data),
        "cwd": cwd,
        "applied": applied,
        "diff_bytes": len(diff),
        "backup": str(backup) if backup else None,
        "job": src.get("job"),
    }
    if args.json:
        print_json(report)
        return 0
    print(f"wrote {target} ({len(data)} bytes)" + (f"; your earlier file is {backup}" if backup else ""))
    if applied:
        print(f"applied the continuation's changes ({len(diff)} bytes) in {cwd}")
    resume = f"claude --resume {sid}" if provider == "claude" else f"codex resume {sid}"
    print(f"resume it: cd {cwd} && {resume}")
    return 0
