"""The Timeline list at 360x780 in real headless Chromium, against a real ``zerg serve`` holding real
session files (imported with ``manage.py import_sessions``): each session is named by its first real
prompt, never its UUID; the list and a search say how many they show; a parent whose subagents hold
the work (its own file absent) is hidden behind a count, and opened it offers no Export or Continue."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.test_browser import logged_in_page, phone  # noqa: F401  (the Chromium fixture)
from tests.browser.test_browser_a11y import AXE_RUN, AXE_SOURCE

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures"
ROLLOUT = FIXTURES / "codex/rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799.jsonl"
CLEARED = (
    FIXTURES
    / "claude/real_projects/-Users-dain-workspace-claude-code-log-sample/12a546d1-83a7-49a6-abba-5400db340b43.jsonl"
)
HELPER = FIXTURES / "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper"
EMPTY_PARENT = "741790a4-4fe2-4644-9a51-fb4482074060"  # its file is absent; nine agent-*.jsonl beside it name it
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SHOTS = ROOT / "docs" / "screenshots"


def import_sessions(server, tmp_path: Path) -> None:
    root = tmp_path / "sessions"
    (root / "claude" / HELPER.name).mkdir(parents=True)
    (root / "claude" / CLEARED.parent.name).mkdir(parents=True)
    shutil.copy(CLEARED, root / "claude" / CLEARED.parent.name)
    for path in HELPER.glob("agent-*.jsonl"):
        if EMPTY_PARENT.encode() in path.read_bytes()[:4000]:
            shutil.copy(path, root / "claude" / HELPER.name)
    shutil.copy(ROLLOUT, root / ROLLOUT.name)
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "import_sessions", str(root), "--device", "laptop"],
        env=server.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def axe_clean(page) -> None:
    page.evaluate(AXE_SOURCE)
    assert page.evaluate(AXE_RUN) == []


def test_it_lists_sessions_by_their_prompts_with_counts_and_hides_the_empty_parent(
    zerg_server,
    phone,  # noqa: F811
    tmp_path,
):
    import_sessions(zerg_server, tmp_path)
    page = logged_in_page(phone, zerg_server)
    page.set_viewport_size({"width": 360, "height": 780})
    page.goto(f"{zerg_server.url}/timeline")
    count = page.get_by_test_id("result-count")
    count.wait_for(timeout=15000)
    assert count.inner_text() == "2 sessions · 1 empty session hidden: show"
    titles = page.get_by_test_id("session-title").all_inner_texts()
    assert "show tools" in titles  # Codex: after its AGENTS.md preamble
    assert any(t.startswith("We've just done a big refactoring") for t in titles), titles  # after a /clear
    assert not any(UUID.search(t) for t in titles), titles
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    axe_clean(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "timeline.png"), scale="css")  # 360x780 at 1x: a small PNG
    assert (SHOTS / "timeline.png").stat().st_size < 100_000

    # The hidden one, on request: named by the subagent that did the work, with no events of its own.
    page.get_by_role("link", name="1 empty session hidden: show").click()
    page.wait_for_function("() => location.search.includes('empty=1')", timeout=10000)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=result-count]')?.textContent === '3 sessions match these filters'",
        timeout=10000,
    )
    row = page.locator('[data-testid="session-row"]:has-text("no events of its own")')
    assert row.count() == 1 and "9 subagents" in row.inner_text()
    assert not UUID.search(row.get_by_test_id("session-title").inner_text())
    row.click()
    page.get_by_test_id("session-page").wait_for(timeout=10000)
    assert "its 9 subagents below hold the work" in page.get_by_test_id("empty-session").inner_text()
    assert page.get_by_test_id("export").count() == 0 and page.get_by_test_id("continue").count() == 0
    assert page.get_by_test_id("subagent").count() == 9
    axe_clean(page)

    # A search says how many hits it shows.
    page.goto(f"{zerg_server.url}/timeline?q=show%20tools&provider=codex")
    count.wait_for(timeout=15000)
    assert re.fullmatch(r"(More than )?\d+ results?(: the best first)?", count.inner_text()), count.inner_text()
    assert page.get_by_test_id("hit").first.locator("b").inner_text() == "show tools"
