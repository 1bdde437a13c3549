"""The Timeline pages in real headless Chromium at a phone viewport, against a real ``zerg serve``:
a real Claude Code session file is shipped through the ingest API, found by search, and opened
at the matching event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.test_browser import artifacts_dir, logged_in_page, phone  # noqa: F401  (the Chromium fixture)
from tests.ingest_batch import http_ingest
from tests.procs import run_zerg

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIXTURE = Path(__file__).parents[1] / "fakes" / "data" / "claude-session-bash-tool.jsonl"
PHRASE = "fake model has finished"  # the assistant's last message in FIXTURE


def ship_fixture(server) -> dict:
    done = run_zerg(["token", "create", "--device", "t", "--json"], server.env)
    assert done.returncode == 0, done.stderr
    token = json.loads(done.stdout)["token"]
    body = {
        "device": "t",
        "files": [
            {
                "provider": "claude",
                "path": "/home/owner/.claude/projects/-home-owner-work-demo/" + FIXTURE.name,
                "generation": 0,
                "offset": 0,
                "data": FIXTURE.read_text(encoding="utf-8"),
                "git": {"remote": "", "branch": "master", "commit": ""},
            }
        ],
    }
    status, reply = http_ingest(server.url + "/api/agents/ingest", token, body)
    assert status == 200, reply
    assert reply["events_stored"] > 0, reply
    return reply


def test_it_finds_a_shipped_session_and_opens_the_matching_event(zerg_server, phone, tmp_path):  # noqa: F811
    page = logged_in_page(phone, zerg_server)
    page.get_by_test_id("nav-timeline").click()
    page.get_by_test_id("timeline").wait_for(timeout=10000)

    # Shipped while the page is open: the list refreshes on the timeline.ingested event.
    ship_fixture(zerg_server)
    row = page.get_by_test_id("session-row").first
    row.wait_for(timeout=15000)
    assert "demo" in row.inner_text() and "master" in row.inner_text()
    page.screenshot(path=str(artifacts_dir(tmp_path) / "timeline-sessions-390x844.png"), full_page=True)

    page.get_by_test_id("filters-toggle").click()
    assert page.locator("#tl-filters").is_visible()
    page.get_by_test_id("search-input").fill(PHRASE)
    page.get_by_test_id("search-submit").click()
    hit = page.get_by_test_id("hit").first
    hit.wait_for(timeout=10000)
    marks = hit.locator("mark")
    assert marks.count() >= 1
    assert "model" in " ".join(marks.all_inner_texts()).lower() or "fake" in " ".join(marks.all_inner_texts()).lower()
    assert "<mark>" not in hit.inner_text()
    event_id = hit.get_attribute("data-event-id")
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    page.screenshot(path=str(artifacts_dir(tmp_path) / "timeline-search-390x844.png"), full_page=True)

    hit.click()
    page.get_by_test_id("session-page").wait_for(timeout=10000)
    assert page.url.endswith(f"#event-{event_id}")
    target = page.locator(f"#event-{event_id}")
    target.wait_for(timeout=10000)
    assert target.get_attribute("data-highlighted") == "true"
    assert PHRASE in target.inner_text()
    assert target.is_visible()
    box = target.bounding_box()
    assert box and 0 <= box["y"] < 844, box
    assert page.get_by_test_id("export").get_attribute("href").endswith("/export")
    # Tool calls are there, collapsed, with the tool name in view.
    call = page.locator('[data-testid="event"][data-kind="tool_call"]').first
    assert "Bash" in call.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    page.screenshot(path=str(artifacts_dir(tmp_path) / "timeline-session-390x844.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(artifacts_dir(tmp_path) / "timeline-session-dark-390x844.png"), full_page=True)
    page.emulate_media(color_scheme="light")

    # Back to the results: the query is kept in the URL.
    page.go_back()
    page.get_by_test_id("hit").first.wait_for(timeout=10000)
    assert page.get_by_test_id("search-input").input_value() == PHRASE


def test_search_snippets_and_messages_render_markup_as_text(zerg_server, phone):  # noqa: F811
    """Only the server's <mark> becomes an element: markup in a session stays text, nothing runs."""
    evil = 'zebrafinch <img src=x onerror="window.__xss=1"> <b>bold</b> &amp; <mark>fake</mark>'
    line = json.dumps(
        {
            "type": "user",
            "uuid": "u-1",
            "parentUuid": None,
            "sessionId": "xss-session",
            "cwd": "/home/owner/xss",
            "timestamp": "2026-11-26T10:00:00.000Z",
            "message": {"role": "user", "content": evil},
        }
    )
    done = run_zerg(["token", "create", "--device", "t", "--json"], zerg_server.env)
    assert done.returncode == 0, done.stderr
    token = json.loads(done.stdout)["token"]
    body = {
        "device": "t",
        "files": [
            {
                "provider": "claude",
                "path": "/home/owner/.claude/projects/-x/xss-session.jsonl",
                "generation": 0,
                "offset": 0,
                "data": line + "\n",
            }
        ],
    }
    status, reply = http_ingest(zerg_server.url + "/api/agents/ingest", token, body)
    assert status == 200 and reply["events_stored"] > 0, reply

    page = logged_in_page(phone, zerg_server)
    page.goto(zerg_server.url + "/timeline?q=zebrafinch")
    hit = page.get_by_test_id("hit").first
    hit.wait_for(timeout=10000)
    snippet = hit.get_by_test_id("snippet")
    assert snippet.locator("img, b").count() == 0
    assert snippet.locator("mark").count() >= 1
    text = snippet.inner_text()
    assert "<img" in text and "<b>bold</b>" in text, text
    hit.click()
    page.get_by_test_id("session-page").wait_for(timeout=10000)
    message = page.locator('[data-testid="event"][data-highlighted="true"]')
    message.wait_for(timeout=10000)
    assert message.locator("img, b, mark").count() == 0
    assert "<mark>fake</mark>" in message.inner_text()
    assert page.evaluate("window.__xss") is None


def test_a_long_session_pages_and_an_anchor_past_the_first_page_is_loaded(zerg_server, phone):  # noqa: F811
    lines = [
        json.dumps(
            {
                "type": "user",
                "uuid": f"u-{i}",
                "parentUuid": f"u-{i - 1}" if i else None,
                "sessionId": "long-session",
                "cwd": "/home/owner/long",
                "timestamp": f"2026-11-26T10:{i // 60:02d}:{i % 60:02d}.000Z",
                "message": {"role": "user", "content": f"message number {i}" + (" platypus" if i == 240 else "")},
            }
        )
        for i in range(250)
    ]
    done = run_zerg(["token", "create", "--device", "t", "--json"], zerg_server.env)
    assert done.returncode == 0, done.stderr
    token = json.loads(done.stdout)["token"]
    body = {
        "device": "t",
        "files": [
            {
                "provider": "claude",
                "path": "/home/owner/.claude/projects/-l/long-session.jsonl",
                "generation": 0,
                "offset": 0,
                "data": "\n".join(lines) + "\n",
            }
        ],
    }
    status, reply = http_ingest(zerg_server.url + "/api/agents/ingest", token, body)
    assert status == 200 and reply["events_stored"] >= 250, reply

    page = logged_in_page(phone, zerg_server)
    page.goto(zerg_server.url + "/timeline?q=platypus")
    hit = page.get_by_test_id("hit").first
    hit.wait_for(timeout=10000)
    event_id = hit.get_attribute("data-event-id")
    hit.click()
    target = page.locator(f'#event-{event_id}[data-highlighted="true"]')
    target.wait_for(timeout=10000)
    assert "message number 240" in target.inner_text()
    box = target.bounding_box()
    assert box and 0 <= box["y"] < 844, box

    # Without an anchor: one page, then "Load more".
    page.get_by_test_id("nav-timeline").click()
    page.get_by_test_id("session-row").first.wait_for(timeout=10000)
    page.goto(zerg_server.url + "/timeline/long-session")
    page.get_by_test_id("session-page").wait_for(timeout=10000)
    page.get_by_test_id("load-more").wait_for(timeout=10000)
    assert page.locator('[data-testid="event"]').count() == 200
    page.get_by_test_id("load-more").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=event]').length === 250", timeout=10000)
    assert page.get_by_test_id("load-more").count() == 0
    assert "message number 249" in page.locator('[data-testid="event"]').last.inner_text()


def test_it_filters_by_branch_and_dates_and_searches_by_role_in_recency_order(zerg_server, phone, tmp_path):  # noqa: F811
    def session(sid: str, branch: str, day: str, words: str) -> dict:
        lines = [
            {
                "type": "user",
                "uuid": f"{sid}-u",
                "sessionId": sid,
                "cwd": "/home/owner/zoo",
                "timestamp": f"{day}T05:00:00.000Z",
                "message": {"role": "user", "content": f"wombat {words}"},
            },
            {
                "type": "assistant",
                "uuid": f"{sid}-a",
                "parentUuid": f"{sid}-u",
                "sessionId": sid,
                "timestamp": f"{day}T05:00:05.000Z",
                "message": {
                    "id": f"msg-{sid}",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5-20250929",
                    "content": [{"type": "text", "text": f"a wombat reply about {words}"}],
                    "usage": {"input_tokens": 100000, "output_tokens": 20000},
                },
            },
        ]
        return {
            "provider": "claude",
            "path": f"/home/owner/.claude/projects/-zoo/{sid}.jsonl",
            "generation": 0,
            "offset": 0,
            "data": "".join(json.dumps(line) + "\n" for line in lines),
            "git": {"remote": "", "branch": branch, "commit": ""},
        }

    done = run_zerg(["token", "create", "--device", "t", "--json"], zerg_server.env)
    token = json.loads(done.stdout)["token"]
    # 2024-03-02 05:00 UTC is the evening of March 1 in California, where this browser is
    body = {
        "device": "t",
        "files": [
            session("zoo-old", "feature/old", "2024-03-02", "burrow"),
            session("zoo-new", "main", "2026-11-20", "tunnel"),
        ],
    }
    status, reply = http_ingest(zerg_server.url + "/api/agents/ingest", token, body)
    assert status == 200 and reply["events_stored"] == 4, reply

    context = phone.browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
        timezone_id="America/Los_Angeles",
    )
    page = logged_in_page(context, zerg_server)
    page.goto(zerg_server.url + "/timeline")
    rows = page.get_by_test_id("session-row")
    rows.first.wait_for(timeout=10000)
    assert rows.count() == 2
    assert "$0.60" in rows.first.inner_text()  # 100k in at $3 + 20k out at $15 per million
    page.get_by_test_id("filters-toggle").click()

    page.get_by_label("Branch").fill("feature/old")
    page.get_by_label("Branch").press("Tab")  # a text filter applies when it is left
    page.wait_for_function("() => document.querySelectorAll('[data-testid=session-row]').length === 1", timeout=10000)
    assert "feature/old" in rows.first.inner_text()
    assert "branch=feature%2Fold" in page.url

    page.get_by_test_id("filters-clear").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=session-row]').length === 2", timeout=10000)
    page.get_by_test_id("filter-to").fill("2024-03-01")  # inclusive, in local days: that evening's session stays
    page.wait_for_function("() => document.querySelectorAll('[data-testid=session-row]').length === 1", timeout=10000)
    assert "feature/old" in rows.first.inner_text()
    page.get_by_test_id("filters-clear").click()
    page.get_by_test_id("filter-from").fill("2025-01-01")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=session-row]').length === 1", timeout=10000)
    assert "main" in rows.first.inner_text()
    page.get_by_test_id("filters-clear").click()

    page.get_by_test_id("search-input").fill("wombat")
    page.get_by_test_id("search-submit").click()
    hits = page.get_by_test_id("hit")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=hit]').length === 4", timeout=10000)
    page.get_by_test_id("filter-role").select_option("user")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=hit]').length === 2", timeout=10000)
    assert all(t.startswith("user") for t in hits.locator("small").all_inner_texts())
    page.get_by_test_id("filter-sort").select_option("recency")
    page.wait_for_url("**sort=recency**", timeout=10000)
    page.wait_for_function("() => document.querySelectorAll('[data-testid=hit]').length === 2", timeout=10000)
    assert "tunnel" in hits.nth(0).inner_text() and "burrow" in hits.nth(1).inner_text()
    page.screenshot(path=str(artifacts_dir(tmp_path) / "timeline-filters-390x844.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0


def test_a_session_of_two_files_offers_each_for_export(zerg_server, phone):  # noqa: F811
    codex = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "codex"
    turns = [codex / "turn-1.jsonl", codex / "turn-2.jsonl"]
    done = run_zerg(["token", "create", "--device", "t", "--json"], zerg_server.env)
    token = json.loads(done.stdout)["token"]
    for path in turns:  # one Codex session, two rollout files
        body = {
            "device": "t",
            "files": [
                {
                    "provider": "codex",
                    "path": f"/home/owner/.codex/sessions/{path.name}",
                    "generation": 0,
                    "offset": 0,
                    "data": path.read_text(encoding="utf-8"),
                }
            ],
        }
        status, reply = http_ingest(zerg_server.url + "/api/agents/ingest", token, body)
        assert status == 200 and reply["files"][0]["session_id"], reply
    page = logged_in_page(phone, zerg_server)
    page.goto(zerg_server.url + f"/timeline/{reply['files'][0]['session_id']}")
    page.get_by_test_id("files").click()
    links = page.get_by_test_id("export-file")
    links.first.wait_for(timeout=10000)
    assert sorted(links.all_inner_texts()) == ["turn-1.jsonl", "turn-2.jsonl"]
    for i in range(2):
        link = links.nth(i)
        body = page.request.get(zerg_server.url + link.get_attribute("href")).body()
        assert body == next(p for p in turns if p.name == link.inner_text()).read_bytes()


def test_a_session_page_shows_its_cost_and_with_its_subagents(zerg_server, phone):  # noqa: F811
    folder = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "claude" / "real_projects"
    priced = folder / "-Users-dain-workspace-JSSoundRecorder"  # Claude Sonnet / Opus 4 / Haiku 4.5
    # a real session whose model no price list knows: its claude-opus-4-7 renamed to a made-up model
    unpriced = folder / "-experiments-worktrees"
    parent = "7acd37a8-2745-4b58-a8a9-46164b22ad9e"
    done = run_zerg(["token", "create", "--device", "t", "--json"], zerg_server.env)
    token = json.loads(done.stdout)["token"]
    files = [
        {
            "provider": "claude",
            "path": f"/home/owner/.claude/projects/{p.parent.name}/{p.name}",
            "data": p.read_text(encoding="utf-8").replace('"claude-opus-4-7"', '"claude-unlisted-9"'),
        }
        for p in [
            priced / f"{parent}.jsonl",
            *sorted(priced.glob("agent-*.jsonl")),
            unpriced / "ef958aa1-0e93-49f0-bb71-150f63befcd1.jsonl",
        ]
    ]
    status, reply = http_ingest(zerg_server.url + "/api/agents/ingest", token, {"device": "t", "files": files})
    assert status == 200, reply

    page = logged_in_page(phone, zerg_server)
    page.goto(zerg_server.url + f"/timeline/{parent}")
    page.get_by_test_id("session-page").wait_for(timeout=10000)
    detail = page.evaluate(f"fetch('/api/timeline/sessions/{parent}').then(r => r.json())")
    own = detail["session"]["cost_usd"]
    subs = detail["subagents"]
    total = own + sum(s["cost_usd"] for s in subs)
    assert subs and own > 0 and total > own
    facts = page.locator("dl.facts").inner_text()
    assert f"${own:.2f}" in facts
    assert f"Cost with {len(subs)} subagents" in facts and f"${total:.2f}" in facts, facts

    page.goto(zerg_server.url + "/timeline/ef958aa1-0e93-49f0-bb71-150f63befcd1")
    page.get_by_test_id("session-page").wait_for(timeout=10000)
    facts = page.locator("dl.facts").inner_text()
    assert "unknown" in facts and "[timeline.prices]" in facts, facts
