"""The one-time login link printed by zerg serve and zerg link."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from zerg_site.auth.links import LINK_PATH, create_link_token
from zerg_site.auth.secrets import digest
from zerg_site.models import LoginLink


def test_it_logs_a_browser_in_once(owner):
    token = create_link_token()
    client = Client()
    response = client.get(f"{LINK_PATH}{token}")
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/api/auth/me").json() == {"username": "owner"}
    again = Client().get(f"{LINK_PATH}{token}")
    assert again.status_code == 410
    assert b"already used" in again.content


def test_it_refuses_an_expired_link(owner):
    token = create_link_token()
    LoginLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Client().get(f"{LINK_PATH}{token}")
    assert response.status_code == 410
    assert b"expired" in response.content
    assert b"zerg link" in response.content


def test_it_refuses_an_unknown_link(owner):
    response = Client().get(f"{LINK_PATH}not-a-real-token")
    assert response.status_code == 404
    assert Client().get("/api/auth/me").status_code == 401


def test_it_stores_only_a_digest(owner):
    token = create_link_token()
    row = LoginLink.objects.get()
    assert row.digest == digest(token)
    assert token not in row.digest
