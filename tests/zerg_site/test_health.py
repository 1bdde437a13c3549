"""GET /api/health: public, minimal, and honest when the database is down."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.mark.django_db
def test_it_serves_health_without_auth():
    body = Client().get("/api/health").json()
    assert set(body) == {"status", "version", "database", "worker_alive", "commis_slots"}
    assert body["status"] == "ok"
    assert body["commis_slots"]["max"] == 5


@pytest.mark.django_db
def test_it_answers_503_when_the_database_is_unavailable(monkeypatch):
    from django.db import OperationalError

    from zerg_site.models import ProcessHeartbeat

    def broken(kind):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(ProcessHeartbeat, "live", broken)
    response = Client().get("/api/health")
    assert response.status_code == 503
    assert response.json()["status"] == "error" and response.json()["database"] == "unavailable"
