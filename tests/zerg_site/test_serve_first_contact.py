"""The first minutes with a real `zerg serve`: a login link the phone can open, what is missing, passwords.

The server runs as a subprocess (tests/procs.py). The addresses the link must use are found
here independently of Zerg's own discovery, with iproute2 (`ip -j route get` / `ip -j addr`).
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.procs import ZergServer, create_token, http_json, run_zerg

pytestmark = pytest.mark.slow

FAKE_BIN = Path(__file__).resolve().parents[1] / "fakes" / "bin"
LINK = re.compile(r"login link \([^)]*\): (\S+)")


def ip_json(*args: str) -> list[dict]:
    done = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, timeout=10, check=False)
    return json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else []


def default_route_source() -> str | None:
    """The source address of the default route, as the kernel's routing table says (no packet sent)."""
    routes = ip_json("-4", "route", "get", "192.0.2.1")
    return routes[0].get("prefsrc") if routes else None


def interface_addresses() -> set[str]:
    return {
        info["local"]
        for link in ip_json("-4", "addr")
        for info in link.get("addr_info", [])
        if info.get("scope") == "global"
    }


def browser():
    """An HTTP client with a cookie jar, like a phone's browser (follows the link's redirect)."""
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))


def status_of(opener, url: str) -> int:
    try:
        with opener.open(urllib.request.Request(url, headers={"Accept": "application/json"}), timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def start(env, tmp_path, name: str, *args: str) -> ZergServer:
    server = ZergServer(env, log_dir=tmp_path / name, args=["--no-worker", *args])
    server.start()
    return server


@pytest.mark.skipif(
    shutil.which("ip") is None or default_route_source() is None,
    reason="needs iproute2 and a default route to know the address a phone would use",
)
def test_it_prints_a_link_at_the_address_a_phone_can_open_and_zerg_link_uses_the_real_port(zerg_env, tmp_path):
    address = default_route_source()
    server = start(zerg_env, tmp_path, "lan", "--host", "0.0.0.0")
    try:
        out = server.stdout()
        assert f"Zerg is running at http://{address}:{server.port}  (listening on 0.0.0.0:{server.port})" in out
        link = server.login_link
        assert link.startswith(f"http://{address}:{server.port}/auth/link/"), out
        assert "http://127.0.0.1" not in out and "a phone cannot open" not in out, out
        others = {line.split()[-1] for line in out.splitlines() if line.startswith("  also at ")}
        assert others <= {f"http://{a}:{server.port}" for a in interface_addresses()}, out

        phone = browser()
        assert status_of(phone, link) == 200  # the redirect to the app
        assert status_of(phone, f"http://{address}:{server.port}/api/auth/me") == 200

        done = run_zerg(["link"], zerg_env)  # the server runs on a random port, not config's 8080
        assert done.returncode == 0, done.stderr
        fresh = done.stdout.splitlines()[0]
        assert fresh.startswith(f"http://{address}:{server.port}/auth/link/") and fresh != link
        assert status_of(browser(), fresh) == 200
    finally:
        server.close()


def test_it_says_why_a_phone_cannot_open_a_link_to_a_server_on_loopback(zerg_server, zerg_env):
    out = zerg_server.stdout()
    assert zerg_server.login_link.startswith(f"http://127.0.0.1:{zerg_server.port}/auth/link/")
    assert "note: it listens on 127.0.0.1 only, so a phone cannot open this link" in out
    assert "--host 0.0.0.0" in out and "ZERG_PUBLIC_URL" in out

    done = run_zerg(["link"], zerg_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"http://127.0.0.1:{zerg_server.port}/auth/link/")
    assert "a phone cannot open this link" in done.stdout


def test_it_uses_public_url_for_the_link_when_one_is_set(zerg_env, tmp_path):
    env = {**zerg_env, "ZERG_PUBLIC_URL": "https://zerg.example.test"}
    server = start(env, tmp_path, "public", "--host", "0.0.0.0")
    try:
        assert server.login_link.startswith("https://zerg.example.test/auth/link/"), server.output()
        assert "a phone cannot open" not in server.stdout()
        done = run_zerg(["link"], env)
        assert done.stdout.startswith("https://zerg.example.test/auth/link/"), done.stderr
    finally:
        server.close()


def test_it_warns_that_a_link_made_while_no_server_runs_assumes_the_configured_port(zerg_env):
    done = run_zerg(["link"], {**zerg_env, "ZERG_PORT": "18999", "ZERG_HOST": "127.0.0.1"})

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("http://127.0.0.1:18999/auth/link/")
    assert "no zerg serve is running" in done.stderr and "port 18999" in done.stderr


def test_it_tells_the_owner_at_first_start_what_is_missing_and_how_to_fix_it(zerg_env, tmp_path):
    bare = {
        **{k: v for k, v in zerg_env.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))},
        "PATH": "/usr/bin:/bin",
    }
    server = start(bare, tmp_path, "bare")
    try:
        out = server.stdout()
        setup = out[out.index("Still to set up") :]
        assert "no LLM is configured" in setup and "ANTHROPIC_API_KEY" in setup
        assert "the claude backend cannot run" in setup and "ZERG_CLAUDE_BIN" in setup
        assert "the codex backend cannot run" in setup and "ZERG_CODEX_BIN" in setup
        assert "no password is set" in setup and "zerg passwd" in setup
        assert setup.count("fix: ") == 4

        token = create_token(bare)
        status, body = http_json(server.url + "/api/setup", token=token)
        assert status == 200, body
        assert [item["name"] for item in body["missing"]] == ["model", "claude", "codex", "password"]
        assert body["complete"] is False and all(item["fix"] for item in body["missing"])
    finally:
        server.close()

    ready = {**bare, "PATH": f"{FAKE_BIN}:/usr/bin:/bin", "ANTHROPIC_API_KEY": "sk-test"}
    assert run_zerg(["passwd", "--stdin"], ready, input="a long enough password 42\n").returncode == 0
    server = start(ready, tmp_path, "ready")
    try:
        assert "Still to set up" not in server.stdout(), server.output()
        status, body = http_json(server.url + "/api/setup", token=token)
        assert status == 200 and body["complete"] is True and body["missing"] == [], body
    finally:
        server.close()


def test_it_signs_every_browser_out_when_zerg_passwd_changes_the_password(zerg_server, zerg_env):
    phone, laptop = browser(), browser()
    assert status_of(phone, zerg_server.login_link) == 200
    assert status_of(laptop, run_zerg(["link"], zerg_env).stdout.splitlines()[0]) == 200
    assert status_of(phone, zerg_server.url + "/api/auth/me") == 200
    assert status_of(laptop, zerg_server.url + "/api/auth/me") == 200

    done = run_zerg(["passwd", "--stdin"], zerg_env, input="a long enough password 42\n")

    assert done.returncode == 0, done.stderr
    assert "signed out" in done.stdout
    assert status_of(phone, zerg_server.url + "/api/auth/me") == 401
    assert status_of(laptop, zerg_server.url + "/api/auth/me") == 401
    assert status_of(phone, run_zerg(["link"], zerg_env).stdout.splitlines()[0]) == 200  # and back in
    assert status_of(phone, zerg_server.url + "/api/auth/me") == 200
