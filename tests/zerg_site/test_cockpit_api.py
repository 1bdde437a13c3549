"""The cockpit's API (issue 20): ``GET /api/dashboard``, ``POST /api/auth/password``,
``POST /api/tokens/device`` and ``/api/model`` (its "Test" against the fake Anthropic server).

In-process with Django's test client on the real database; the model test makes a real HTTP
request to tests/fakes' Anthropic server through the configured provider.
"""

from __future__ import annotations

import dataclasses

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import PASSWORD
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.zerg_site.test_login import browser, login
from zerg_site.models import ApiToken, LoginFailure

NEW = "a much longer new passphrase 42"


def change(client, current, new):
    return client.post("/api/auth/password", {"current": current, "new": new}, content_type="application/json")


def logged_in(password=PASSWORD) -> Client:
    client = browser()
    assert login(client, password).status_code == 200
    client.defaults["HTTP_X_CSRFTOKEN"] = client.cookies["csrftoken"].value
    return client


# --- the password


def test_it_changes_the_password_and_signs_the_other_browsers_out(owner):
    here, elsewhere = logged_in(), logged_in()

    response = change(here, PASSWORD, NEW)

    assert response.status_code == 200, response.content
    assert response.json() == {"ok": True}
    assert here.get("/api/auth/me").status_code == 200  # this browser stays in
    assert elsewhere.get("/api/auth/me").status_code == 401  # the other one is out
    assert login(browser(), PASSWORD).json() == {"detail": "Wrong password."}
    assert login(browser(), NEW).status_code == 200


def test_it_refuses_a_wrong_current_password_and_keeps_the_old_one(owner):
    client = logged_in()

    response = change(client, "a guess", NEW)

    assert response.status_code == 400
    assert response.json() == {"detail": "The current password is wrong; nothing changed."}
    assert client.get("/api/auth/me").status_code == 200  # a 400, not a 401: the session stays
    assert LoginFailure.objects.count() == 1  # counted like a failed login
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD) and not owner.check_password(NEW)


def test_it_rate_limits_an_attacker_guessing_the_current_password_with_a_stolen_session(owner):
    client = logged_in()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        assert change(client, "guess", NEW).status_code == 400

    response = change(client, PASSWORD, NEW)  # even the right one: the address waits

    assert response.status_code == 429
    assert "try again in" in response.json()["detail"] and int(response["Retry-After"]) >= 1
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


def test_it_refuses_a_weak_new_password_with_the_reason(owner):
    client = logged_in()

    response = change(client, PASSWORD, "abc")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("New password refused: ")
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


def test_it_refuses_a_password_change_without_the_csrf_token(owner):
    client = logged_in()
    del client.defaults["HTTP_X_CSRFTOKEN"]

    response = change(client, PASSWORD, NEW)

    assert response.status_code in (401, 403)
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


def test_it_refuses_an_anonymous_password_change(owner):
    response = change(browser(), PASSWORD, NEW)

    assert response.status_code == 401
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


# --- device tokens


def test_it_makes_a_device_token_with_the_lines_to_paste_on_the_laptop(token_client):
    response = token_client.post(
        "/api/tokens/device", {"name": "laptop"}, content_type="application/json", HTTP_HOST="zerg.lan:18471"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["kind"] == "device" and body["name"] == "laptop"
    assert body["server_url"] == "http://zerg.lan:18471"
    assert body["command"] == f"zerg connect http://zerg.lan:18471 --token {body['token']} && zerg ship --install"
    assert ApiToken.objects.get(id=body["id"]).kind == ApiToken.DEVICE


def test_it_puts_the_public_url_in_the_device_lines_when_one_is_set(token_client, monkeypatch):
    monkeypatch.setattr(settings, "ZERG", dataclasses.replace(settings.ZERG, public_url="https://zerg.example.com"))

    body = token_client.post("/api/tokens/device", {"name": "laptop"}, content_type="application/json").json()

    assert body["command"].startswith("zerg connect https://zerg.example.com --token ")


def test_it_refuses_a_device_token_with_no_name_and_makes_none(token_client):
    before = ApiToken.objects.count()

    response = token_client.post("/api/tokens/device", {"name": "  "}, content_type="application/json")

    assert response.status_code == 400 and "needs a name" in response.json()["detail"]
    assert ApiToken.objects.count() == before


def test_it_refuses_a_device_token_to_a_device_token(token_client):
    _, secret = __import__("zerg_site.auth.tokens", fromlist=["create_token"]).create_token("lap", ApiToken.DEVICE)
    before = ApiToken.objects.count()

    response = Client(HTTP_AUTHORIZATION=f"Bearer {secret}").post(
        "/api/tokens/device", {"name": "more"}, content_type="application/json"
    )

    assert response.status_code == 401
    assert ApiToken.objects.count() == before


# --- the model


@pytest.fixture
def fake_model(monkeypatch):
    with FakeAnthropic(api_key="sk-ant-test", default_text="pong") as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setattr(
            settings,
            "ZERG",
            dataclasses.replace(
                settings.ZERG, anthropic_api_key="sk-ant-test", openai_base_url="", model="claude-fake-1"
            ),
        )
        yield server


def test_it_says_which_model_is_in_use_without_its_key(token_client, fake_model):
    body = token_client.get("/api/model").json()

    assert body == {
        "configured": True,
        "provider": "anthropic",
        "model": "claude-fake-1",
        "base_url": fake_model.url,
        "fix": "",
    }


def test_it_tests_the_model_with_one_tiny_real_request(token_client, fake_model):
    response = token_client.post("/api/model/test")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "ok": True,
        "provider": "anthropic",
        "model": "claude-fake-1",
        "reply": "pong",
        "detail": "",
    }
    [request] = fake_model.message_requests
    assert request.body["max_tokens"] <= 16 and request.api_key == "sk-ant-test"


def test_it_shows_the_providers_error_when_the_model_refuses_the_key(token_client, fake_model):
    fake_model.reply_error(401, "invalid x-api-key")

    response = token_client.post("/api/model/test")

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False and body["reply"] == ""
    assert "refused the key" in body["detail"] and "ANTHROPIC_API_KEY" in body["detail"]


def test_it_says_how_to_configure_a_model_when_there_is_none(token_client, monkeypatch):
    monkeypatch.setattr(
        settings,
        "ZERG",
        dataclasses.replace(settings.ZERG, anthropic_api_key="", openai_api_key="", openai_base_url=""),
    )

    assert token_client.get("/api/model").json()["configured"] is False
    response = token_client.post("/api/model/test")

    assert response.status_code == 409
    assert "ANTHROPIC_API_KEY" in response.json()["detail"]


def test_it_refuses_an_anonymous_model_test_and_sends_nothing(db, fake_model):
    response = Client().post("/api/model/test")

    assert response.status_code == 401
    assert fake_model.message_requests == []


# --- the dashboard


def test_it_shows_running_jobs_with_their_last_line_and_what_needs_an_answer(token_client, tmp_path):
    from commis.models import Job
    from oikos.models import Thread, Turn
    from timeline.models import Session

    (tmp_path / "log.txt").write_text("cloning\nrunning the tests\n\n")
    running = Job.objects.create(task="make test\nand more", status=Job.RUNNING, artifacts_dir=str(tmp_path))
    queued = Job.objects.create(task="echo later")
    Job.objects.create(task="done", status=Job.SUCCEEDED)
    thread = Thread.objects.create(title="Release")
    Turn.objects.create(thread=thread, status=Turn.WAITING, interrupt={"question": "Spawn 3 commis?"})
    Session.objects.create(provider="claude", provider_session_id="s1", device="laptop", title="fix the login")

    response = token_client.get("/api/dashboard")

    assert response.status_code == 200, response.content
    body = response.json()
    assert [(j["id"], j["status"]) for j in body["jobs"]] == [(running.id, "running"), (queued.id, "queued")]
    assert body["jobs"][0]["task"] == "make test" and body["jobs"][0]["last_line"] == "running the tests"
    assert body["attention"]["items"][0]["title"] == "Oikos needs your answer"
    assert body["attention"]["items"][0]["detail"] == "Spawn 3 commis?"
    assert body["threads"][0]["title"] == "Release" and body["threads"][0]["interrupt"] is True
    [device] = body["devices"]
    assert device["device"] == "laptop" and device["sessions"] == 1
    assert device["latest"][0]["title"] == "fix the login" and device["last_shipped"]
    assert {item["name"] for item in body["setup"]["checks"]} >= {"model", "password"}


def test_it_refuses_the_dashboard_to_an_anonymous_caller(db):
    response = Client().get("/api/dashboard")

    assert response.status_code == 401 and response.json()["detail"]
