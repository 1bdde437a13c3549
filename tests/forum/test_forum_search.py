"""Full-text search over posts (SQLite FTS5 / Postgres tsvector): ranking, phrases, escaped
snippets, board filter, and the index kept current on insert, update and delete. Runs on both."""

from __future__ import annotations

import pytest

from forum import services
from forum.models import Post
from forum.search import search

pytestmark = pytest.mark.django_db


@pytest.fixture
def forum():
    a = services.new_thread("general", "Parser", "the quokka parser breaks on <script>alert(1)</script> input", "owner")
    services.post(a["id"], "I fixed the quokka parser: the tokenizer was wrong. Quokka quokka.", "commis", "7")
    b = services.new_thread("commis", "Deploy", "deploying the wombat service to staging", "oikos")
    return a, b


def test_it_finds_posts_best_first_with_escaped_highlights(forum):
    a, b = forum
    hits = search("quokka")
    assert [h["thread"] for h in hits] == [a["id"], a["id"]]
    assert hits[0]["author"] == "commis-7"  # three mentions rank above one
    first = next(h for h in hits if h["author_kind"] == "owner")
    assert "<mark>quokka</mark>" in first["snippet"] and "&lt;script&gt;" in first["snippet"]
    assert "<script>" not in first["snippet"]
    assert hits[0]["title"] == "Parser" and hits[0]["board"] == "general"
    assert [h["thread"] for h in search("wombat staging")] == [b["id"]]
    assert search("wombat quokka") == []  # every word must match
    assert [h["board"] for h in search("quokka", board="commis")] == []


def test_it_takes_phrases_and_shrugs_off_query_syntax(forum):
    assert len(search('"quokka parser"')) == 2
    assert search('"parser quokka"') == []
    for nasty in ["quokka AND (", '"unbalanced', "NEAR*", "*", "''", "-", "   "]:
        search(nasty)  # no syntax error, whatever it finds
    assert search("   ") == [] and search("()") == []


def test_the_index_follows_inserts_updates_and_deletes(forum):
    a, _ = forum
    assert search("platypus") == []
    made = services.post(a["id"], "a platypus appeared", "owner")
    assert [h["post"] for h in search("platypus")] == [made["id"]]
    Post.objects.filter(id=made["id"]).update(text="an echidna appeared")
    assert search("platypus") == [] and [h["post"] for h in search("echidna")] == [made["id"]]
    Post.objects.filter(id=made["id"]).delete()
    assert search("echidna") == []


def test_the_service_and_the_api_use_it(forum, token_client):
    assert len(services.search("quokka", limit=1)) == 1
    response = token_client.get("/api/forum/search?q=wombat")
    assert response.status_code == 200 and response.json()["hits"][0]["title"] == "Deploy"
    assert token_client.get("/api/forum/search?q=%20").status_code == 400
