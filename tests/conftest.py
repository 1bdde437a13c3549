"""Shared fixtures: the owner, API clients, and real ``zerg`` processes."""

from __future__ import annotations

import pytest
from django.test import Client

from zerg_site.auth.owner import ensure_owner
from zerg_site.auth.tokens import create_token

PASSWORD = "correct horse battery staple"


@pytest.fixture
def owner(db):
    user = ensure_owner()
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture
def owner_client(owner):
    """A browser-like client logged in as the owner, enforcing CSRF like a real browser."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    client.get("/")  # the SPA index sets the csrftoken cookie
    client.defaults["HTTP_X_CSRFTOKEN"] = client.cookies["csrftoken"].value
    return client


@pytest.fixture
def api_token(owner):
    """A live API token's secret."""
    _, secret = create_token("tests")
    return secret


@pytest.fixture
def token_client(api_token):
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token}")


# --- real `zerg` processes (see tests/procs.py)


@pytest.fixture
def zerg_env(tmp_path):
    """Env for child `zerg` processes: a fresh ZERG_HOME, and a fresh Postgres database
    when the suite runs on Postgres (SQLite in that ZERG_HOME otherwise)."""
    from tests.procs import base_env, database_env

    with database_env() as overrides:
        yield base_env(tmp_path / "zerg-home", **overrides)


@pytest.fixture
def zerg_server(zerg_env, tmp_path):
    """A started `zerg serve` on a free port; stopped at teardown, leftovers killed."""
    from tests.procs import ZergServer

    server = ZergServer(zerg_env, log_dir=tmp_path / "serve-logs")
    try:
        server.start()
        yield server
    finally:
        server.close()
