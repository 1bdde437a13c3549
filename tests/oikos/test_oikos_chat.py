"""Oikos in one process: the API, turns through the real ``anthropic`` SDK against the fake
Anthropic server, streaming deltas, tools that spawn commis, slash commands with no model,
job-finished notices, interrupts, large tool outputs, context trimming, usage and cost."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from commis import jobs
from commis.models import Job
from oikos.graph import trim
from oikos.models import Message, Thread, Turn
from tests.fakes.fake_anthropic import FakeAnthropic
from timeline.pricing import response_cost as cost_usd
from zerg_site.llm import HOW_TO_CONFIGURE
from zerg_site.models import Event

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake(monkeypatch, settings):
    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="test", openai_base_url="", model="")
    with FakeAnthropic() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server


@pytest.fixture
def no_model(settings):
    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="", openai_base_url="")


def post(client, url, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def new_thread(client, title="") -> int:
    response = post(client, "/api/oikos/threads", {"title": title})
    assert response.status_code == 200, response.content
    return response.json()["id"]


def say(client, thread_id, text) -> dict:
    response = post(client, f"/api/oikos/threads/{thread_id}/messages", {"text": text})
    assert response.status_code == 202, response.content
    return response.json()


def wait_turn(turn_id, statuses=("done", "failed", "waiting"), timeout=90) -> Turn:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        turn = Turn.objects.get(id=turn_id)
        if turn.status in statuses:
            return turn
        time.sleep(0.05)
    raise AssertionError(f"turn {turn_id} is still {Turn.objects.get(id=turn_id).status}")


def messages(thread_id, role=None):
    rows = Message.objects.filter(thread_id=thread_id).order_by("id")
    return list(rows.filter(role=role) if role else rows)


def test_it_streams_a_reply_and_spawns_a_commis(token_client, fake):
    fake.reply_tool_use("spawn_commis", {"task": "echo hello", "backend": "shell"}, text="Starting a commis.")
    long_reply = "The commis is running `echo hello`; I will tell you when it is done. " * 4
    fake.reply_text(long_reply)
    thread_id = new_thread(token_client)
    posted = say(token_client, thread_id, "please run echo hello")
    assert posted["message"]["role"] == "owner" and posted["turn"]["status"] == "queued"
    turn = wait_turn(posted["turn"]["id"])
    assert turn.status == "done", turn.error

    job = Job.objects.get()
    assert (job.task, job.backend, job.origin, job.origin_ref) == ("echo hello", "shell", "oikos", str(thread_id))
    call = messages(thread_id, "tool_call")[0]
    assert call.data["name"] == "spawn_commis" and call.data["job_id"] == job.id
    result = messages(thread_id, "tool_result")[0]
    assert result.data["job_id"] == job.id and not result.data["is_error"] and f"/commis/{job.id}" in result.text
    replies = messages(thread_id, "assistant")
    assert [m.text for m in replies] == ["Starting a commis.", long_reply]
    assert not any(m.streaming for m in replies)

    # the reply streamed as batched deltas that add up to the stored text
    deltas = Event.objects.filter(topic=f"oikos:{thread_id}", kind="oikos.delta").order_by("id")
    assert deltas.exists()
    streamed = {}
    for event in deltas:
        streamed[event.payload["message"]] = streamed.get(event.payload["message"], "") + event.payload["text"]
    assert streamed[replies[1].id] == long_reply
    assert all(e.payload["turn"] == turn.id for e in deltas)
    assert Event.objects.filter(topic="oikos", kind="oikos.turn").exists()

    # the model got the tool result, prompt caching marks, and usage/cost are recorded
    second = fake.message_requests[1].body
    assert second["messages"][-1]["content"][0]["tool_use_id"] == call.data["tool_use_id"]
    assert second["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert second["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert turn.usage["input_tokens"] > 0 and turn.usage["output_tokens"] > 0
    assert turn.cost_usd is not None and turn.cost_usd > 0  # the default model has a price
    detail = token_client.get(f"/api/oikos/threads/{thread_id}").json()
    assert detail["thread"]["usage"]["input_tokens"] == turn.usage["input_tokens"]
    assert detail["thread"]["cost_usd"] == pytest.approx(turn.cost_usd)
    assert detail["turn"]["status"] == "done" and detail["interrupt"] is None
    assert [m["role"] for m in detail["messages"]] == ["owner", "assistant", "tool_call", "tool_result", "assistant"]

    # listed and searchable, and mirrored into the Timeline as a session
    listing = token_client.get("/api/oikos/threads").json()
    assert listing[0]["id"] == thread_id and listing[0]["title"] == "please run echo hello"
    assert token_client.get("/api/oikos/threads?q=tell you when").json()[0]["id"] == thread_id
    assert token_client.get("/api/oikos/threads?q=nothing-like-this").json() == []
    hits = token_client.get("/api/timeline/search?q=please run echo").json()["hits"]
    assert hits and hits[0]["session"]["provider"] == "oikos"
    session = token_client.get(f"/api/timeline/sessions/{detail['timeline_session']}").json()
    assert [e["kind"] for e in session["events"]] == ["message", "message", "tool_call", "tool_result", "message"]
    assert session["session"]["tokens"]["input"] == turn.usage["input_tokens"]

    # a second turn continues the same conversation
    fake.reply_text("Still here.")
    turn2 = wait_turn(say(token_client, thread_id, "anything else?")["turn"]["id"])
    assert turn2.status == "done"
    assert len(fake.message_requests[2].body["messages"]) == 5


def test_it_answers_slash_commands_without_a_model(token_client, no_model):
    thread_id = new_thread(token_client, "ops")
    first = say(token_client, thread_id, "hello there")
    assert first["turn"]["status"] == "done"
    assert messages(thread_id, "assistant")[-1].text == HOW_TO_CONFIGURE
    assert "ANTHROPIC_API_KEY" in HOW_TO_CONFIGURE and "openai_base_url" in HOW_TO_CONFIGURE

    say(token_client, thread_id, "/help")
    assert "/spawn" in messages(thread_id, "assistant")[-1].text and "ANTHROPIC_API_KEY" in messages(thread_id)[-1].text

    say(token_client, thread_id, "/spawn --backend shell sleep 100")
    job = Job.objects.get()
    assert (job.task, job.origin, job.origin_ref) == ("sleep 100", "oikos", str(thread_id))
    assert messages(thread_id, "tool_call")[-1].data["job_id"] == job.id

    say(token_client, thread_id, "/status")
    assert f"#{job.id} [shell] queued" in messages(thread_id)[-1].text
    say(token_client, thread_id, f"/status {job.id}")
    assert json.loads(messages(thread_id)[-1].text)["task"] == "sleep 100"
    say(token_client, thread_id, f"/logs {job.id}")
    assert "(no log)" in messages(thread_id)[-1].text
    say(token_client, thread_id, "/search nothing-matches-this")
    assert "nothing found" in messages(thread_id)[-1].text
    say(token_client, thread_id, f"/cancel {job.id}")
    job.refresh_from_db()
    assert job.status == "cancelled"

    for bad, expected in (
        ("/logs", "usage: /logs JOB"),
        ("/cancel abc", "usage: /cancel JOB"),
        ("/spawn --backend nope echo", "unknown backend"),
        ("/frobnicate", "unknown command"),
        ("/status 999999", "no commis job 999999"),
    ):
        say(token_client, thread_id, bad)
        assert expected in messages(thread_id)[-1].text, bad
    assert Job.objects.count() == 1
    assert not Turn.objects.exclude(status="done").exists()


def test_it_reports_a_finished_commis_in_the_thread(token_client, no_model, settings, fake):
    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="")
    thread_id = new_thread(token_client)
    say(token_client, thread_id, "/spawn echo report-me")
    job = Job.objects.get()
    other = jobs.spawn("echo not-mine", "shell", origin="owner")
    for j in (job, other):
        claimed = jobs.claim(j.id)
        assert jobs.finish(j.id, claimed.lease, Job.SUCCEEDED, exit_code=0, summary="all 12 tests pass")
    notices = messages(thread_id, "system")
    assert len(notices) == 1
    notice = notices[0]
    assert f"Commis #{job.id} (shell) succeeded with exit code 0: all 12 tests pass" in notice.text
    assert notice.data["job_id"] == job.id and notice.data["link"] == f"/commis/{job.id}"
    assert Event.objects.filter(
        topic=f"oikos:{thread_id}", kind="oikos.message", payload__message__id=notice.id
    ).exists()

    # the next model turn hears about it
    settings.ZERG = dataclasses.replace(settings.ZERG, anthropic_api_key="test")
    fake.reply_text("Good news: it passed.")
    assert wait_turn(say(token_client, thread_id, "how did it go?")["turn"]["id"]).status == "done"
    sent = json.dumps(fake.message_requests[-1].body["messages"][-1])
    assert "all 12 tests pass" in sent and "how did it go?" in sent


def test_it_asks_before_cancelling_and_obeys_the_answer(token_client, fake):
    keep = jobs.spawn("sleep 100", "shell")
    drop = jobs.spawn("sleep 101", "shell")
    thread_id = new_thread(token_client)

    fake.reply_tool_use("cancel_commis", {"job_id": keep.id})
    fake.reply_text("Understood, I left it running.")
    turn = wait_turn(say(token_client, thread_id, f"cancel {keep.id}")["turn"]["id"])
    assert turn.status == "waiting"
    detail = token_client.get(f"/api/oikos/threads/{thread_id}").json()
    assert detail["interrupt"]["turn"] == turn.id and detail["interrupt"]["options"] == ["approve", "reject"]
    assert "cancel a commis job" in detail["interrupt"]["question"]
    assert detail["interrupt"]["action"]["tools"][0]["input"] == {"job_id": keep.id}
    assert detail["thread"]["interrupt"] is True
    assert Event.objects.filter(topic=f"oikos:{thread_id}", kind="oikos.interrupt").exists()
    # nothing else may happen in the thread meanwhile
    assert post(token_client, f"/api/oikos/threads/{thread_id}/messages", {"text": "hi"}).status_code == 409
    assert post(token_client, f"/api/oikos/turns/{turn.id}/answer", {"answer": "maybe"}).status_code == 400

    assert post(token_client, f"/api/oikos/turns/{turn.id}/answer", {"answer": "reject"}).status_code == 200
    assert wait_turn(turn.id, ("done", "failed")).status == "done"
    keep.refresh_from_db()
    assert keep.status == "queued"
    result = messages(thread_id, "tool_result")[-1]
    assert result.data["is_error"] and "rejected" in result.text
    assert "rejected" in json.dumps(fake.message_requests[-1].body["messages"][-1])
    assert post(token_client, f"/api/oikos/turns/{turn.id}/answer", {"answer": "approve"}).status_code == 409

    fake.reply_tool_use("cancel_commis", {"job_id": drop.id})
    fake.reply_text("Cancelled it.")
    turn = wait_turn(say(token_client, thread_id, f"cancel {drop.id}")["turn"]["id"])
    assert turn.status == "waiting"
    assert post(token_client, f"/api/oikos/turns/{turn.id}/answer", {"answer": "approve"}).status_code == 200
    assert wait_turn(turn.id, ("done", "failed")).status == "done"
    drop.refresh_from_db()
    assert drop.status == "cancelled"
    assert messages(thread_id, "assistant")[-1].text == "Cancelled it."


def test_it_asks_before_spawning_many_commis(token_client, fake):
    thread_id = new_thread(token_client)
    fake.reply_tool_uses([("spawn_commis", {"task": f"echo {n}"}) for n in range(5)])
    fake.reply_text("Three are running.")
    turn = wait_turn(say(token_client, thread_id, "run five things")["turn"]["id"])
    assert turn.status == "waiting"
    assert len(turn.interrupt["action"]["tools"]) == 2  # the 4th and 5th
    post(token_client, f"/api/oikos/turns/{turn.id}/answer", {"answer": "reject"})
    assert wait_turn(turn.id, ("done", "failed")).status == "done"
    assert sorted(Job.objects.values_list("task", flat=True)) == ["echo 0", "echo 1", "echo 2"]


def test_it_stores_a_large_tool_output_by_reference(token_client, fake, tmp_path):
    job = jobs.spawn("cat big", "shell")
    big = "".join(f"line {n:05d} of the log\n" for n in range(3000))  # ~69k characters
    (tmp_path / "log.txt").write_text(big)
    Job.objects.filter(id=job.id).update(artifacts_dir=str(tmp_path))
    thread_id = new_thread(token_client)
    fake.reply_tool_use("commis_result", {"job_id": job.id, "log_chars": 50000})
    fake.reply_text("That is a long log.")
    assert wait_turn(say(token_client, thread_id, "show me the log")["turn"]["id"]).status == "done"
    result = messages(thread_id, "tool_result")[0]
    assert result.data["truncated"] and len(result.text) < 13_000
    assert f"read_full_output with message_id={result.id}" in result.text
    sent = fake.message_requests[1].body["messages"][-1]["content"][0]["content"]
    assert len(sent) < 13_000 and "read_full_output" in sent
    full = token_client.get(f"/api/oikos/messages/{result.id}/full").json()
    assert full["id"] == result.id and big[-50000:] in full["text"]

    fake.reply_tool_use("read_full_output", {"message_id": result.id, "offset": 12000, "limit": 100})
    fake.reply_text("ok")
    assert wait_turn(say(token_client, thread_id, "more")["turn"]["id"]).status == "done"
    more = messages(thread_id, "tool_result")[-1]
    assert more.text.startswith(result.full_text[12000:12100]) and "offset=12100" in more.text


def test_it_fails_a_turn_clearly_when_the_model_errors(token_client, fake):
    fake.reply_error(400, "prompt is too long")
    thread_id = new_thread(token_client)
    turn = wait_turn(say(token_client, thread_id, "hi")["turn"]["id"])
    assert turn.status == "failed" and "prompt is too long" in turn.error
    assert "prompt is too long" in messages(thread_id, "system")[-1].text
    fake.reply_text("Better now.")
    assert wait_turn(say(token_client, thread_id, "again")["turn"]["id"]).status == "done"


def test_it_trims_long_threads_keeping_tool_pairs():
    msgs = []
    for n in range(30):
        msgs += [
            {"role": "user", "content": f"question {n} " + "x" * 100},
            {"role": "assistant", "content": [{"type": "tool_use", "id": f"t{n}", "name": "list_commis", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{n}", "content": "y" * 100}]},
            {"role": "assistant", "content": [{"type": "text", "text": f"answer {n}"}]},
        ]
    assert trim(msgs, 10**9) == msgs
    kept = trim(msgs, 2000)
    assert 0 < len(kept) < len(msgs) and len(kept) % 4 == 0
    assert kept[0]["role"] == "user" and "earlier messages" in kept[0]["content"][0]["text"]
    assert kept[0]["content"][1]["text"].startswith("question")
    assert kept[1:] == msgs[len(msgs) - len(kept) + 1 :]
    # the current turn alone is over budget: it is kept whole
    assert trim(msgs, 10)[1:] == msgs[-3:]


def test_it_prices_known_models_only():
    """Oikos prices its turns with the Timeline's list (timeline/pricing.py), in Anthropic's usage keys."""
    usage = {
        "input_tokens": 50_000,
        "output_tokens": 50_000,
        "cache_read_input_tokens": 50_000,
        "cache_creation_input_tokens": 50_000,
    }
    assert cost_usd("claude", "claude-sonnet-4-5-20250929", usage) == pytest.approx((3 + 15 + 0.3 + 3.75) / 20)
    assert cost_usd("claude", "claude-haiku-4-5", {"input_tokens": 1000}) == pytest.approx(0.001)
    assert cost_usd("claude", "llama3.1:8b", usage) is None


def test_it_needs_auth_and_refuses_bad_input(client, token_client, no_model):
    thread_id = new_thread(token_client)
    for method, url in (
        ("get", "/api/oikos/threads"),
        ("post", "/api/oikos/threads"),
        ("get", f"/api/oikos/threads/{thread_id}"),
        ("post", f"/api/oikos/threads/{thread_id}/messages"),
        ("post", "/api/oikos/turns/1/answer"),
        ("get", "/api/oikos/messages/1/full"),
    ):
        if method == "get":
            response = client.get(url)
        else:
            response = post(client, url, {"text": "x", "answer": "approve"})
        assert response.status_code == 401, url
    empty = post(token_client, f"/api/oikos/threads/{thread_id}/messages", {"text": "   "})
    assert empty.status_code == 400 and "empty" in empty.json()["detail"]
    assert post(token_client, f"/api/oikos/threads/{thread_id}/messages", {}).status_code == 422
    assert post(token_client, f"/api/oikos/threads/{thread_id}/messages", {"text": "x" * 100_001}).status_code == 400
    assert post(token_client, "/api/oikos/threads/999999/messages", {"text": "hi"}).status_code == 404
    assert post(token_client, "/api/oikos/threads", {"title": "t" * 301}).status_code == 400
    assert Message.objects.count() == 0 and Turn.objects.count() == 0 and Thread.objects.count() == 1
    assert post(token_client, "/api/oikos/turns/999999/answer", {"answer": "approve"}).status_code == 404
    assert token_client.get("/api/oikos/messages/999999/full").status_code == 404
    turn_id = say(token_client, thread_id, "/help")["turn"]["id"]
    conflict = post(token_client, f"/api/oikos/turns/{turn_id}/answer", {"answer": "approve"})
    assert conflict.status_code == 409 and "no pending question" in conflict.json()["detail"]


def test_it_keeps_the_idle_server_free_of_llm_imports():
    code = (
        "import os, sys, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'zerg_site.settings'; django.setup(); "
        "import zerg_site.urls, zerg_site.asgi, oikos.api, oikos.turns, oikos.notify, oikos.slash; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'langgraph', 'anthropic', 'openai', 'httpx'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_it_reaches_the_forum_and_schedules_through_its_tools(db):
    from oikos import tools

    ctx = tools.Context(thread_id=1)
    made = tools.call("forum_new_thread", {"board": "ops", "title": "Cache layer", "text": "We keep Redis out."}, ctx)
    assert not made.is_error, made.text
    forum_thread = json.loads(made.text)["id"]
    assert not tools.call("forum_post", {"thread_id": forum_thread, "text": "Agreed."}, ctx).is_error
    read = tools.call("forum_read_thread", {"thread_id": forum_thread}, ctx)
    assert "Agreed." in read.text and "We keep Redis out." in read.text
    assert "Cache layer" in tools.call("forum_read_board", {"board": "ops"}, ctx).text
    assert tools.call("forum_post", {"thread_id": forum_thread, "text": " "}, ctx).is_error

    added = tools.call("schedule_add", {"name": "backup", "task": "echo backup", "cron": "0 3 * * *"}, ctx)
    assert not added.is_error, added.text
    assert json.loads(added.text)["name"] == "backup"
    assert "backup" in tools.call("schedule_list", {}, ctx).text
    bad = tools.call("schedule_add", {"name": "bad", "task": "x", "cron": "not a cron"}, ctx)
    assert bad.is_error
    assert not tools.call("schedule_remove", {"name": "backup"}, ctx).is_error
    assert tools.call("schedule_remove", {"name": "backup"}, ctx).is_error
    assert tools.call("nope", {}, ctx).is_error and tools.call("commis_status", {"job_id": "x"}, ctx).is_error


def test_it_answers_an_oikos_mention_in_the_forum(fake):
    from forum import services as forum
    from oikos import turns

    fake.reply_text("Keep Redis out: SQLite is enough here.")
    made = forum.new_thread("ops", "Cache layer", "What do you think, @oikos?", "owner")
    thread = Thread.objects.get(forum_thread=made["id"])
    turn = Turn.objects.get(thread=thread)
    owner = messages(thread.id, "owner")[0]
    assert "What do you think, @oikos?" in owner.text and owner.data["forum_post"] == made["post"]["id"]
    turns.run_turn(turn.id)  # this process is not `zerg serve`: the serving process's pickup would run it
    assert Turn.objects.get(id=turn.id).status == "done"
    posts = forum.read_thread(made["id"])["posts"]
    assert posts[-1]["text"] == "Keep Redis out: SQLite is enough here." and posts[-1]["author_kind"] == "oikos"
    assert len(Thread.objects.filter(forum_thread=made["id"])) == 1


def test_it_sends_a_finished_reply_as_sanitized_html_and_a_slash_answer_as_text(token_client, fake):
    """A model that replies with Markdown, a hostile link and raw HTML: the API sends the reply's text
    as it was and ``html`` rendered and sanitized; a slash command's answer keeps its lines (no html)."""
    fake.reply_text(
        "## Steps\n\n1. run `make`\n2. read [docs](https://example.com/x) and [bad](javascript:alert(1))"
        "\n\n<img src=x onerror=alert(1)>\n\n```sh\nmake test\n```\n\nsee /commis/7"
    )
    thread_id = new_thread(token_client)
    wait_turn(say(token_client, thread_id, "how?")["turn"]["id"])
    detail = token_client.get(f"/api/oikos/threads/{thread_id}").json()
    owner, reply = detail["messages"]
    assert owner["html"] == "" and reply["text"].startswith("## Steps")
    html = reply["html"]
    assert "<h2>Steps</h2>" in html and "<ol>" in html and "<code>make</code>" in html
    assert '<a href="https://example.com/x" rel="noopener noreferrer nofollow">docs</a>' in html
    assert '<pre><code class="language-sh">make test\n</code></pre>' in html
    assert '<a href="/commis/7" rel="noopener noreferrer nofollow">/commis/7</a>' in html
    assert 'href="javascript' not in html and "<img" not in html and "&lt;img" in html
    # the event that finished the reply carried the same html (a live page needs no reload)
    finished = [
        e.payload["message"]
        for e in Event.objects.filter(kind="oikos.message").order_by("id")
        if e.payload["message"]["id"] == reply["id"] and not e.payload["message"]["streaming"]
    ]
    assert finished and finished[-1]["html"] == html
    say(token_client, thread_id, "/help")
    answer = messages(thread_id, "assistant")[-1]
    assert answer.data.get("slash") and "/spawn" in answer.text
    shown = token_client.get(f"/api/oikos/threads/{thread_id}").json()["messages"][-1]
    assert shown["id"] == answer.id and shown["html"] == "" and shown["text"] == answer.text
