"""Behind an HTTPS reverse proxy ([server] public_url): secure cookies and trusted origins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, os
    import django
    os.environ["DJANGO_SETTINGS_MODULE"] = "zerg_site.settings"
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    call_command("migrate", verbosity=0)
    from zerg_site.auth.owner import ensure_owner
    owner = ensure_owner(); owner.set_password("a long enough password"); owner.save()

    proxied = dict(HTTP_X_FORWARDED_PROTO="https", HTTP_HOST="zerg.example.com")
    client = Client(enforce_csrf_checks=True, **proxied)
    client.get("/")
    token = client.cookies["csrftoken"].value
    ok = client.post("/api/auth/login", {"password": "a long enough password"}, content_type="application/json",
                     HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN="https://zerg.example.com")
    evil = Client(enforce_csrf_checks=True, **proxied)
    evil.get("/")
    refused = evil.post("/api/auth/login", {"password": "x"}, content_type="application/json",
                        HTTP_X_CSRFTOKEN=evil.cookies["csrftoken"].value, HTTP_ORIGIN="https://evil.example")
    print(json.dumps({
        "login": ok.status_code,
        "session_secure": bool(ok.cookies["sessionid"]["secure"]),
        "csrf_secure": bool(client.cookies["csrftoken"]["secure"]),
        "foreign_origin": refused.status_code,
        "trusted": settings.CSRF_TRUSTED_ORIGINS,
        "proxy_header": list(settings.SECURE_PROXY_SSL_HEADER),
    }))
    """
)


def run_with(env_extra: dict, tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"ZERG_HOME": str(tmp_path), **env_extra})
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_it_uses_secure_cookies_and_trusts_the_public_origin(tmp_path):
    found = run_with({"ZERG_PUBLIC_URL": "https://zerg.example.com"}, tmp_path)
    assert found["login"] == 200
    assert found["session_secure"] and found["csrf_secure"]
    assert found["foreign_origin"] == 403
    assert found["trusted"] == ["https://zerg.example.com"]
    assert found["proxy_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_it_accepts_the_public_origin_for_websockets(settings):
    from zerg_site.config import load
    from zerg_site.ws_origin import origin_allowed

    settings.ZERG = load({"ZERG_HOME": str(settings.ZERG_HOME), "ZERG_PUBLIC_URL": "https://zerg.example.com"})
    assert origin_allowed("https://zerg.example.com", "127.0.0.1:8080")  # the proxy rewrote Host
    assert origin_allowed("http://127.0.0.1:8080", "127.0.0.1:8080")
    assert not origin_allowed("https://evil.example", "127.0.0.1:8080")
    assert not origin_allowed("null", "127.0.0.1:8080")
