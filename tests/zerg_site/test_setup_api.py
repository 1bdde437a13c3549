"""``GET /api/setup``: what the server still lacks, each with its fix; the owner's alone."""

from __future__ import annotations

import dataclasses

import pytest
from django.conf import settings
from django.test import Client

from tests.procs import REPO

FAKE_BIN = REPO / "tests" / "fakes" / "bin"


@pytest.fixture
def bare(monkeypatch):
    """No model, no claude or codex on PATH (git stays)."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    for name in ("ZERG_CLAUDE_BIN", "ZERG_CODEX_BIN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(
        settings,
        "ZERG",
        dataclasses.replace(settings.ZERG, anthropic_api_key="", openai_api_key="", openai_base_url=""),
    )


def test_it_refuses_an_anonymous_caller_who_asks_what_the_server_lacks(db):
    response = Client().get("/api/setup")

    assert response.status_code == 401
    assert response.json()["detail"]


def test_it_lists_each_missing_piece_with_its_fix(token_client, owner, bare):
    owner.set_unusable_password()  # (a browser session would end here: the password changed)
    owner.save()

    response = token_client.get("/api/setup")

    assert response.status_code == 200, response.content
    body = response.json()
    missing = {item["name"]: item for item in body["missing"]}
    assert list(missing) == ["model", "claude", "codex", "password"]
    assert body["complete"] is False
    assert "ANTHROPIC_API_KEY" in missing["model"]["fix"]
    assert "ZERG_CLAUDE_BIN" in missing["claude"]["fix"] and missing["claude"]["status"] == "warn"
    assert "zerg passwd" in missing["password"]["fix"]
    assert {item["name"] for item in body["checks"]} == {"model", "git", "claude", "codex", "password"}


def test_it_reports_nothing_missing_on_a_server_that_is_set_up(token_client, bare, monkeypatch):
    monkeypatch.setenv("PATH", f"{FAKE_BIN}:/usr/bin:/bin")
    monkeypatch.setattr(settings, "ZERG", dataclasses.replace(settings.ZERG, anthropic_api_key="sk-test"))

    response = token_client.get("/api/setup")

    assert response.status_code == 200, response.content
    assert response.json()["complete"] is True and response.json()["missing"] == []
