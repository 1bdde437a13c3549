"""Password login for the SPA and the admin, with CSRF and failed-login rate limiting."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import PASSWORD
from zerg_site.models import LoginFailure


def browser() -> Client:
    client = Client(enforce_csrf_checks=True)
    client.get("/")
    client.defaults["HTTP_X_CSRFTOKEN"] = client.cookies["csrftoken"].value
    return client


def login(client, password):
    return client.post("/api/auth/login", {"password": password}, content_type="application/json")


def test_it_logs_in_with_the_password_and_out_again(owner):
    client = browser()
    assert client.get("/api/auth/me").status_code == 401
    response = login(client, PASSWORD)
    assert response.status_code == 200
    assert response.json() == {"username": "owner"}
    assert client.get("/api/auth/me").json() == {"username": "owner"}
    assert client.post("/api/auth/logout").status_code == 403  # login rotated the CSRF token
    client.defaults["HTTP_X_CSRFTOKEN"] = client.cookies["csrftoken"].value
    assert client.post("/api/auth/logout").status_code == 200
    assert client.get("/api/auth/me").status_code == 401


def test_it_refuses_a_wrong_password_with_a_clear_message(owner):
    response = login(browser(), "not the password")
    assert response.status_code == 401
    assert response.json() == {"detail": "Wrong password."}
    assert LoginFailure.objects.count() == 1


def test_it_says_when_no_password_is_set(db):
    from zerg_site.auth.owner import ensure_owner

    ensure_owner()
    response = login(browser(), "anything")
    assert response.status_code == 401
    assert "zerg passwd" in response.json()["detail"]


def test_it_requires_the_csrf_token_for_login(owner):
    client = Client(enforce_csrf_checks=True)
    client.get("/")
    response = login(client, PASSWORD)  # no X-CSRFToken header
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_it_requires_csrf_for_unsafe_session_requests(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.get("/api/tokens").status_code == 200
    assert client.post("/api/tokens", {"name": "x"}, content_type="application/json").status_code == 403


@pytest.mark.parametrize("limit", [5])
def test_it_rate_limits_failed_logins_per_address(owner, settings, limit):
    settings.LOGIN_FAILURE_LIMIT = limit
    client = browser()
    for _ in range(limit):
        assert login(client, "wrong").status_code == 401
    blocked = login(client, PASSWORD)  # even the right password waits
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    assert "Too many failed logins" in blocked.json()["detail"]
    other = Client(enforce_csrf_checks=True, REMOTE_ADDR="10.9.9.9")
    other.get("/")
    other.defaults["HTTP_X_CSRFTOKEN"] = other.cookies["csrftoken"].value
    assert login(other, PASSWORD).status_code == 200  # another address is not blocked


def test_it_rate_limits_the_admin_login_too(owner, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        client.post("/admin/login/", {"username": "owner", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "owner", "password": PASSWORD})
    assert response.status_code == 200  # the form again, not a redirect into the admin
    assert "_auth_user_id" not in client.session


def test_it_lets_the_owner_use_the_admin(owner_client):
    response = owner_client.get("/admin/")
    assert response.status_code == 200
    for model in ("event", "processheartbeat", "apitoken", "loginlink", "loginfailure"):
        assert owner_client.get(f"/admin/zerg_site/{model}/").status_code == 200


def test_it_protects_the_api_docs(owner_client):
    assert Client().get("/api/docs").status_code == 401
    assert Client().get("/api/openapi.json").status_code == 401
    assert owner_client.get("/api/docs").status_code == 200
    schema = owner_client.get("/api/openapi.json").json()
    assert "/api/health" in schema["paths"]


def test_it_serves_the_api_docs_assets_locally(owner_client):
    page = owner_client.get("/api/docs").content.decode()
    assert "cdn.jsdelivr" not in page and "/static/ninja/swagger-ui-bundle.js" in page
    assert owner_client.get("/static/ninja/swagger-ui-bundle.js").status_code == 200
