"""``/api/forum``: auth on every endpoint, boards/threads/posts as the owner, read markers,
claims, the job's thread, and 4xx with nothing stored on bad input."""

from __future__ import annotations

import pytest

from commis import jobs
from commis.models import Job
from forum import services
from forum.models import Claim, Post, Thread

pytestmark = pytest.mark.django_db(transaction=True)


def post(client, url, body=None):
    return client.post(url, body or {}, content_type="application/json")


ENDPOINTS = [
    ("get", "/api/forum/boards"),
    ("get", "/api/forum/boards/general"),
    ("post", "/api/forum/boards/general/threads"),
    ("get", "/api/forum/threads/1"),
    ("post", "/api/forum/threads/1/posts"),
    ("post", "/api/forum/threads/1/read"),
    ("get", "/api/forum/jobs/1/thread"),
    ("get", "/api/forum/search?q=x"),
    ("get", "/api/forum/claims"),
    ("post", "/api/forum/claims"),
    ("post", "/api/forum/claims/release"),
]


@pytest.mark.parametrize("method, url", ENDPOINTS)
def test_it_needs_auth_everywhere(client, method, url):
    services.new_thread("general", "secret plans", "hidden", "oikos")
    response = (
        getattr(client, method)(url, {"text": "x", "title": "t", "resource": "r"}, content_type="application/json")
        if method == "post"
        else client.get(url)
    )
    assert response.status_code == 401
    assert b"hidden" not in response.content and b"secret" not in response.content


def test_the_owner_session_needs_csrf(owner):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    assert post(strict, "/api/forum/boards/general/threads", {"title": "t", "text": "x"}).status_code == 403
    assert not Thread.objects.exists()


def test_it_runs_a_conversation(owner_client):
    made = post(owner_client, "/api/forum/boards/general/threads", {"title": "Release", "text": "when?"})
    assert made.status_code == 200, made.content
    thread_id = made.json()["id"]
    services.post(thread_id, "tomorrow, **after** the tests", "oikos")
    boards = owner_client.get("/api/forum/boards").json()
    assert boards["unread"] == 1 and boards["boards"][0]["slug"] == "general" and boards["boards"][0]["unread"] == 1
    listing = owner_client.get("/api/forum/boards/general").json()
    assert listing["threads"][0]["title"] == "Release" and listing["threads"][0]["unread"] == 1
    thread = owner_client.get(f"/api/forum/threads/{thread_id}").json()
    assert [p["author"] for p in thread["posts"]] == ["owner", "oikos"]
    assert thread["posts"][1]["html"] == "<p>tomorrow, <strong>after</strong> the tests</p>\n"
    assert post(owner_client, f"/api/forum/threads/{thread_id}/read").json()["unread"] == 0
    assert owner_client.get("/api/forum/boards").json()["unread"] == 0
    reply = post(owner_client, f"/api/forum/threads/{thread_id}/posts", {"text": "ok <script>x</script>"})
    assert reply.status_code == 200 and "<script>" not in reply.json()["html"]
    assert reply.json()["followups"] == []


def test_bad_input_is_a_4xx_and_stores_nothing(owner_client):
    thread_id = services.new_thread("general", "t", "x", "owner")["id"]
    before = (Thread.objects.count(), Post.objects.count())
    cases = [
        (post(owner_client, "/api/forum/boards/general/threads", {"title": "", "text": "x"}), 400, "title"),
        (post(owner_client, "/api/forum/boards/general/threads", {"title": "t", "text": " "}), 400, "empty"),
        (post(owner_client, "/api/forum/boards/%21%21/threads", {"title": "t", "text": "x"}), 400, "board"),
        (post(owner_client, "/api/forum/boards/general/threads", {"title": "t"}), 422, ""),
        (post(owner_client, f"/api/forum/threads/{thread_id}/posts", {"text": ""}), 400, "empty"),
        (post(owner_client, f"/api/forum/threads/{thread_id}/posts", {"text": "x" * 100_001}), 400, "longer"),
        (
            post(owner_client, f"/api/forum/threads/{thread_id}/posts", {"text": "@commis-987654 go"}),
            400,
            "no commis job 987654",
        ),
        (post(owner_client, "/api/forum/threads/999999/posts", {"text": "x"}), 404, "no thread"),
        (post(owner_client, f"/api/forum/threads/{thread_id}/read", {"upto": -1}), 400, "upto"),
        (owner_client.get("/api/forum/threads/999999"), 404, "no thread"),
        (owner_client.get("/api/forum/boards/nope"), 404, "no board"),
        (owner_client.get("/api/forum/boards/general?before=yesterday"), 400, "ISO"),
        (owner_client.get("/api/forum/jobs/999999/thread"), 404, "no thread"),
        (post(owner_client, "/api/forum/claims", {"resource": "  "}), 400, "resource"),
    ]
    for response, status, words in cases:
        assert response.status_code == status, (response.status_code, response.content)
        if words:
            assert words in response.json()["detail"]
    assert (Thread.objects.count(), Post.objects.count()) == before and not Claim.objects.exists()


def test_claims_over_the_api(owner_client):
    services.claim("repo:zerg", "commis-5", "rewriting the README")
    conflict = post(owner_client, "/api/forum/claims", {"resource": "repo:zerg"})
    assert conflict.status_code == 409 and "claimed by commis-5" in conflict.json()["detail"]
    assert post(owner_client, "/api/forum/claims", {"resource": "docs/", "note": "mine"}).json()["holder"] == "owner"
    assert [c["holder"] for c in owner_client.get("/api/forum/claims").json()["claims"]] == ["owner", "commis-5"]
    assert post(owner_client, "/api/forum/claims/release", {"resource": "repo:zerg"}).status_code == 409
    assert post(owner_client, "/api/forum/claims/release", {"resource": "repo:zerg", "force": True}).json() == {
        "released": True,
        "holder": "commis-5",
    }
    assert post(owner_client, "/api/forum/claims/release", {"resource": "docs/"}).json()["released"] is True
    assert post(owner_client, "/api/forum/claims/release", {"resource": "x", "force": True}).status_code == 404
    assert not Claim.objects.exists()


def test_a_reply_to_a_finished_job_starts_a_followup(token_client):
    job = jobs.spawn("echo hi", "shell", enqueue_task=False)
    Job.objects.filter(id=job.id).update(status=Job.SUCCEEDED)
    thread_id = token_client.get(f"/api/forum/jobs/{job.id}/thread").json()["thread"]
    reply = post(token_client, f"/api/forum/threads/{thread_id}/posts", {"text": "echo more"})
    assert reply.status_code == 200
    [started] = reply.json()["followups"]
    follow = Job.objects.get(id=started["followup"])
    assert follow.task == "echo more" and follow.origin == "forum" and follow.status == Job.QUEUED
    assert started["thread"] == services.job_thread(follow.id)


def test_admin_pages(owner, client):
    services.new_thread("general", "t", "x", "owner")
    services.claim("r", "owner")
    client.force_login(owner)
    for model in ("board", "thread", "post", "claim"):
        assert client.get(f"/admin/forum/{model}/").status_code == 200
    thread = Thread.objects.get()
    assert client.get(f"/admin/forum/thread/{thread.id}/change/").status_code == 200
