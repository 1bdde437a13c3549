"""forum.services: threads, posts, unread markers, claims, @oikos, live events."""

from __future__ import annotations

import pytest

from forum import services
from forum.models import Board, Claim, Post, Thread
from forum.signals import oikos_mentioned
from zerg_site.models import Event

pytestmark = pytest.mark.django_db


def test_it_creates_boards_threads_and_posts():
    made = services.new_thread("General", "Deploy plan", "first **post**", "owner")
    assert made["board"] == "general" and made["post_count"] == 1 and made["post"]["html"].startswith("<p>first")
    assert Board.objects.get(slug="general").name == "General"
    reply = services.post(made["id"], "a reply", "commis", "42")
    assert reply["author"] == "commis-42" and reply["followups"] == []
    services.post(made["id"], "from oikos", "oikos")
    thread = services.read_thread(made["id"])
    assert [p["text"] for p in thread["posts"]] == ["first **post**", "a reply", "from oikos"]
    assert thread["post_count"] == 3 and not thread["has_more"]
    assert services.read_thread(made["id"], limit=2)["has_more"]
    board = services.read_board("general")
    assert [t["title"] for t in board["threads"]] == ["Deploy plan"]
    new = services.new_thread("my-board", "x", "y", "oikos")
    assert Board.objects.get(slug="my-board").name == "My Board"
    assert services.read_board("my-board")["threads"][0]["id"] == new["id"]


def test_it_counts_unread_posts_for_the_owner():
    made = services.new_thread("general", "t", "by the owner", "owner")
    assert services.unread_total() == 0  # the owner's own posts are read
    services.post(made["id"], "one", "commis", "1")
    services.post(made["id"], "two", "oikos")
    assert services.read_board("general")["threads"][0]["unread"] == 2
    assert {b["slug"]: b["unread"] for b in services.boards()}["general"] == 2
    first_unread = Post.objects.filter(thread_id=made["id"], text="one").get().id
    assert services.mark_read(made["id"], first_unread)["unread"] == 1
    assert services.mark_read(made["id"])["unread"] == 0 and services.unread_total() == 0
    services.mark_read(made["id"], first_unread)  # the marker never moves back
    assert services.unread_total() == 0
    services.post(made["id"], "three", "commis", "1")
    services.post(made["id"], "my answer", "owner")
    assert services.unread_total() == 0  # replying marks the thread read


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: services.new_thread("general", "t", "  ", "owner"), "empty"),
        (lambda: services.new_thread("general", "", "x", "owner"), "title"),
        (lambda: services.new_thread("general", "t" * 301, "x", "owner"), "title"),
        (lambda: services.new_thread("!!!", "t", "x", "owner"), "board"),
        (lambda: services.new_thread("general", "t", "x", "robot"), "author kind"),
        (lambda: services.new_thread("general", "t", "x" * 100_001, "owner"), "longer"),
    ],
)
def test_it_refuses_bad_input_and_stores_nothing(call, message):
    with pytest.raises(services.ForumError, match=message):
        call()
    assert not Thread.objects.exists() and not Post.objects.exists()
    assert not Event.objects.filter(topic__startswith="forum").exists()


def test_it_refuses_a_reply_to_a_missing_thread_or_a_missing_commis():
    made = services.new_thread("general", "t", "x", "owner")
    with pytest.raises(services.NotFound):
        services.post(999999, "x", "owner")
    with pytest.raises(services.ForumError, match="no commis job 424242"):
        services.post(made["id"], "please @commis-424242 redo it", "owner")
    assert Post.objects.count() == 1


def test_it_publishes_live_events_on_the_thread_and_the_forum_topics():
    made = services.new_thread("general", "t", "x", "owner")
    services.post(made["id"], "hello there", "commis", "7")
    kinds = list(Event.objects.filter(topic=f"forum:{made['id']}").values_list("kind", "payload__excerpt"))
    assert kinds == [("forum.post", "x"), ("forum.post", "hello there")]
    assert Event.objects.filter(topic="forum", kind="forum.post").count() == 2


def test_it_sends_oikos_mentioned_once_and_not_for_oikos_itself():
    seen = []

    def receiver(sender, post, **kwargs):
        seen.append(post.text)

    oikos_mentioned.connect(receiver)
    try:
        made = services.new_thread("general", "t", "hey @oikos look", "owner")
        services.post(made["id"], "no mention, mail@oikos.com", "owner")
        services.post(made["id"], "@oikos again", "commis", "3")
        services.post(made["id"], "I am @oikos", "oikos")
        services.post(made["id"], "`@oikos` in code is still a word here? no: @oikos", "owner")
    finally:
        oikos_mentioned.disconnect(receiver)
    assert seen == ["hey @oikos look", "@oikos again", "`@oikos` in code is still a word here? no: @oikos"]


def test_a_failing_oikos_receiver_does_not_fail_the_post():
    def broken(sender, post, **kwargs):
        raise RuntimeError("oikos is down")

    oikos_mentioned.connect(broken)
    try:
        made = services.new_thread("general", "t", "@oikos help", "owner")
    finally:
        oikos_mentioned.disconnect(broken)
    assert Post.objects.filter(thread_id=made["id"]).count() == 1


def test_it_keeps_claims_visible_and_names_the_holder_on_conflict():
    assert services.claim("src/app.py", "commis-1", "refactoring")["holder"] == "commis-1"
    assert services.claim("src/app.py", "commis-1", "still")["note"] == "still"  # the holder may claim again
    with pytest.raises(services.ClaimConflict, match="src/app.py is claimed by commis-1.*still"):
        services.claim("src/app.py", "commis-2")
    services.claim("git@example.com:me/repo.git", "oikos")
    assert [(c["resource"], c["holder"]) for c in services.claims()] == [
        ("git@example.com:me/repo.git", "oikos"),
        ("src/app.py", "commis-1"),
    ]
    assert services.release("src/app.py", "commis-2") is False
    assert services.release("src/app.py", "commis-1") is True
    assert services.claim("src/app.py", "commis-2")["holder"] == "commis-2"
    assert services.release_all("commis-2") == ["src/app.py"]
    assert services.force_release("git@example.com:me/repo.git") == "oikos"
    assert not Claim.objects.exists()
    with pytest.raises(services.ForumError):
        services.claim("  ", "commis-1")
    with pytest.raises(services.ForumError):
        services.claim("x", "")
