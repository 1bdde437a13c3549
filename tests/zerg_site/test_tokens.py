"""API tokens: hashed at rest, Bearer auth, revocation, device tokens kept to ingest."""

from __future__ import annotations

import json
import subprocess
import sys

from django.test import Client

from zerg_site.auth.secrets import digest
from zerg_site.auth.tokens import create_token
from zerg_site.cli import main as zerg
from zerg_site.models import ApiToken


def test_it_stores_only_the_digest(owner):
    token, secret = create_token("laptop")
    row = ApiToken.objects.get(id=token.id)
    assert row.digest == digest(secret)
    stored = json.dumps(list(ApiToken.objects.values()), default=str)
    assert secret not in stored


def test_it_authenticates_bearer_tokens(token_client):
    response = token_client.get("/api/system/status")
    assert response.status_code == 200
    assert "workers" in response.json()


def test_it_needs_no_csrf_for_bearer_requests(api_token):
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {api_token}")
    assert client.post("/api/tokens", {"name": "ci"}, content_type="application/json").status_code == 200


def test_it_refuses_a_wrong_token(owner):
    response = Client(HTTP_AUTHORIZATION="Bearer zerg_wrong").get("/api/system/status")
    assert response.status_code == 401


def test_it_refuses_a_revoked_token(owner_client, api_token):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_token}")
    assert client.get("/api/tokens").status_code == 200
    token_id = ApiToken.objects.get(digest=digest(api_token)).id
    assert owner_client.delete(f"/api/tokens/{token_id}").status_code == 200
    assert client.get("/api/tokens").status_code == 401
    assert owner_client.delete(f"/api/tokens/{token_id}").status_code == 404


def test_it_keeps_device_tokens_out_of_the_api(owner):
    _, secret = create_token("laptop", ApiToken.DEVICE)
    assert Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get("/api/tokens").status_code == 401


def test_it_creates_shows_once_and_lists_tokens_over_the_api(owner_client):
    created = owner_client.post("/api/tokens", {"name": "phone script"}, content_type="application/json").json()
    assert created["token"].startswith("zerg_") and created["name"] == "phone script"
    listed = owner_client.get("/api/tokens").json()["tokens"]
    assert [t["name"] for t in listed] == ["phone script"]
    assert "token" not in listed[0] and created["token"] not in json.dumps(listed)


def test_it_refuses_a_nameless_token(owner_client):
    response = owner_client.post("/api/tokens", {"name": "  "}, content_type="application/json")
    assert response.status_code == 400
    assert "needs a name" in response.json()["detail"]


def test_it_manages_tokens_from_the_cli(owner, capsys):
    assert zerg(["token", "create", "--name", "script", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["token"].startswith("zerg_") and created["kind"] == "api"
    assert zerg(["token", "create", "--device", "laptop", "--json"]) == 0
    device = json.loads(capsys.readouterr().out)
    assert device["kind"] == "device" and device["name"] == "laptop"
    assert zerg(["token", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["tokens"]
    assert {t["name"] for t in listed} == {"script", "laptop"}
    assert created["token"] not in json.dumps(listed)
    assert zerg(["token", "revoke", str(created["id"])]) == 0
    assert zerg(["token", "revoke", str(created["id"])]) == 1
    assert "already revoked" in capsys.readouterr().err
    response = Client(HTTP_AUTHORIZATION=f"Bearer {created['token']}").get("/api/tokens")
    assert response.status_code == 401


def test_it_shows_cli_help_without_a_database():
    result = subprocess.run([sys.executable, "-m", "zerg_site", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("serve", "worker", "status", "token", "passwd", "link"):
        assert command in result.stdout
