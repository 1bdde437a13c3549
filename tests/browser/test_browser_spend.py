"""The Spend page at 360x780 in real headless Chromium against a real ``zerg serve``: two Claude Code
sessions shipped through the ingest API today and yesterday (one of a model with no price), reached
from "More"; the chart is drawn (bars with titles), the table names the models with their figures,
a partial figure reads "≥ $x", and the CSV link downloads the same rows. Screenshot:
docs/screenshots/spend.png."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.test_browser import open_tab, phone  # noqa: F401  (the Chromium fixture)
from tests.browser.test_browser_cockpit import SIZE, shot
from tests.ingest_batch import http_ingest
from tests.procs import create_token, http_json, run_zerg

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def claude_lines(session: str, model: str, usage: dict, when: datetime) -> str:
    line = {
        "type": "assistant",
        "uuid": f"u-{session}",
        "sessionId": session,
        "cwd": "/home/o/work/widget",
        "timestamp": when.isoformat().replace("+00:00", "Z"),
        "message": {
            "id": f"m-{session}",
            "role": "assistant",
            "model": model,
            "usage": usage,
            "content": [{"type": "text", "text": "done"}],
        },
    }
    return json.dumps(line) + "\n"


def ship(server) -> list[dict]:
    done = run_zerg(["token", "create", "--device", "laptop", "--json"], server.env)
    assert done.returncode == 0, done.stderr
    device_token = json.loads(done.stdout)["token"]
    # noon UTC: today's and yesterday's day in the browser's zone and the server's (UTC) alike
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    sessions = [
        ("s-sonnet", "claude-sonnet-4-5-20250929", {"input_tokens": 100_000, "output_tokens": 20_000}, now),
        ("s-mystery", "claude-mystery-9", {"input_tokens": 5_000, "output_tokens": 700}, now - timedelta(days=1)),
    ]
    files = [
        {
            "provider": "claude",
            "path": f"/home/o/.claude/projects/-home-o-work-widget/{sid}.jsonl",
            "generation": 0,
            "offset": 0,
            "data": claude_lines(sid, model, usage, when),
        }
        for sid, model, usage, when in sessions
    ]
    status, reply = http_ingest(server.url + "/api/agents/ingest", device_token, {"device": "laptop", "files": files})
    assert status == 200, reply
    token = create_token(server.env)
    status, listing = http_json(server.url + "/api/timeline/sessions", token=token)
    assert status == 200
    return listing["sessions"]


def test_it_draws_a_days_spend_lists_the_models_and_downloads_the_csv(zerg_server, phone):  # noqa: F811
    sessions = ship(zerg_server)
    priced = next(s for s in sessions if s["model"].startswith("claude-sonnet"))
    assert priced["cost_usd"] and not priced["cost_partial"]
    context = phone.browser.new_context(**SIZE, accept_downloads=True)
    page = context.new_page()
    page.goto(zerg_server.login_link)
    page.get_by_test_id("nav-more").wait_for(timeout=30000)
    open_tab(page, "spend")
    page.get_by_test_id("spend").wait_for(timeout=10000)

    chart = page.get_by_test_id("spend-chart")
    chart.wait_for(timeout=10000)
    assert "Spend per day over the last 30 days" in chart.locator("title").first.text_content()
    bars = page.get_by_test_id("spend-bar")
    assert bars.count() == 2  # one per day with spend, each of one source here
    labels = [bars.nth(i).get_attribute("aria-label") for i in range(2)]
    assert any(f"Claude Code: ${priced['cost_usd']:.2f}" in label for label in labels), labels
    assert any("Claude Code: ≥ $" in label for label in labels), labels  # the model with no price
    assert "Claude Code" in page.locator(".legend").inner_text()
    total = page.get_by_test_id("spend-total").inner_text()
    assert f"≥ ${priced['cost_usd']:.2f}" in total

    table = page.get_by_test_id("spend-table")
    table.wait_for()
    assert page.get_by_role("columnheader", name="Model").is_visible()
    row = page.get_by_role("row", name="claude-sonnet-4-5-20250929")
    assert f"${priced['cost_usd']:.2f}" in row.inner_text() and "100k / 20k" in row.inner_text()
    assert "≥ $0.00" in page.get_by_role("row", name="claude-mystery-9").inner_text()
    page.get_by_test_id("spend-by-project").click()
    page.get_by_role("columnheader", name="Project").wait_for()
    assert page.get_by_role("row", name="widget").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    page.get_by_test_id("spend-by-model").click()
    page.get_by_role("row", name="claude-mystery-9").wait_for()
    shot(page, "spend")

    link = page.get_by_role("link", name="Download CSV (by model, last 30 days)")
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename.startswith("spend-") and download.suggested_filename.endswith("-by-model.csv")
    with open(download.path(), encoding="utf-8") as file:
        rows = list(csv.reader(io.StringIO(file.read())))
    assert rows[0] == ["model", "cost", "input_tokens", "output_tokens", "cache_read_tokens", "sessions", "partial"]
    by_model = {r[0]: r for r in rows[1:]}
    assert float(by_model["claude-sonnet-4-5-20250929"][1]) == pytest.approx(priced["cost_usd"])
    assert by_model["claude-sonnet-4-5-20250929"][2:] == ["100000", "20000", "0", "1", "false"]
    assert by_model["claude-mystery-9"][-1] == "true" and by_model["total"][-1] == "true"
    context.close()
