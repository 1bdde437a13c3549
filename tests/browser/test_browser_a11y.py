"""Every page of the SPA, one-handed on a phone: at 360x740 and 390x844, light and dark, axe-core
finds no serious or critical violation, nothing scrolls sideways, the navigation and buttons are at
least 44 px tap targets, and a screenshot of each is kept ($ZERG_TEST_ARTIFACTS, see tests/run).

It checks the UI, not the database: it runs in the SQLite pass only (like tests/system/test_wheel.py).
Reuses the seeded module server of tests/browser/test_browser_pwa.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.test_browser import artifacts_dir
from tests.browser.test_browser_pwa import (  # noqa: F401  (module fixtures)
    PHONE,
    browser,
    logged_in_context,
    no_csp_violations,
    site,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="UI only: runs in the SQLite pass"),
]

AXE = Path(__file__).resolve().parents[2] / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
SIZES = [(360, 740), (390, 844)]
AXE_SOURCE = f"() => {{ {AXE.read_text() if AXE.exists() else ''}\n}}"

# Interactive things a thumb has to hit; links inside running text are exempt (WCAG 2.5.8).
SMALL_TARGETS = """() => [...document.querySelectorAll(
    'nav a, button, .btn, summary, [role=button], a.item, a.back')]
  .filter((el) => el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden')
  .map((el) => { const r = el.getBoundingClientRect();
                 return {what: el.outerHTML.slice(0, 90), w: Math.round(r.width), h: Math.round(r.height)}; })
  .filter((t) => t.w < 44 || t.h < 44)"""

AXE_RUN = """() => axe.run(document, {resultTypes: ['violations']}).then((r) => r.violations
  .filter((v) => v.impact === 'serious' || v.impact === 'critical')
  .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map((n) =>
                  n.target.join(' ') + ' -- ' + (n.failureSummary || '').slice(0, 160))})))"""


def pages(seeded) -> list[tuple[str, str]]:
    ids = seeded.ids
    return [
        ("dashboard", "/"),
        ("chat", "/chat"),
        ("chat-thread", f"/chat/{ids['thread']}"),
        ("commis", "/commis"),
        ("job", f"/commis/{ids['job']}"),
        ("timeline", "/timeline"),
        ("session", f"/timeline/{ids['session']}"),
        ("forum", "/forum"),
        ("forum-board", "/forum/commis"),
        ("forum-thread", f"/forum/t/{ids['forum_thread']}"),
        ("schedules", "/schedules"),
        ("schedule", "/schedules/nightly"),
        ("settings", "/settings"),
        ("spend", "/spend"),
        ("more", "/more"),
        ("debug-events", "/debug/events"),
    ]


# Counts the app's fetches in flight (installed in every page of the context before the app runs).
COUNT_FETCHES = """window.__inflight = 0; const realFetch = window.fetch;
window.fetch = (...args) => {
  window.__inflight++;
  return realFetch(...args).finally(() => setTimeout(() => window.__inflight--));
};"""


def settle(page) -> None:
    """Wait until the page has its data: its effects have run (two frames: Preact runs them after
    paint), no fetch is in flight and no "Loading…" is left."""
    page.evaluate("() => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(ok))))")
    page.wait_for_function(
        "() => window.__inflight === 0 && !document.body.innerText.includes('Loading…')", timeout=15000
    )


def check(page, name: str, shots: Path, problems: list[str]) -> None:
    settle(page)
    if not page.evaluate("typeof axe !== 'undefined'"):
        # Evaluated, not added as a <script> element: the page's CSP rightly refuses inline scripts.
        page.evaluate(AXE_SOURCE)
    for v in page.evaluate(AXE_RUN):
        problems.append(f"{name}: axe {v['impact']} {v['id']} ({v['help']}): {v['nodes']}")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    if overflow > 0:
        problems.append(f"{name}: scrolls sideways by {overflow} px")
    for t in page.evaluate(SMALL_TARGETS):
        problems.append(f"{name}: tap target {t['w']}x{t['h']} px: {t['what']}")
    page.screenshot(path=str(shots / f"a11y-{name}.png"), full_page=True)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_it_has_no_serious_accessibility_problems_on_any_page(site, browser, scheme, tmp_path):  # noqa: F811
    assert AXE.exists(), "axe-core is missing: cd frontend && npm ci"
    shots = artifacts_dir(tmp_path)
    problems: list[str] = []
    for width, height in SIZES:
        # device_scale_factor 1: the screenshots stay small and cheap
        viewport = {"viewport": {"width": width, "height": height}, "color_scheme": scheme, "device_scale_factor": 1}
        context = logged_in_context(browser, site, **viewport)
        context.add_init_script(COUNT_FETCHES)
        try:
            page = context.new_page()
            page.goto(site.url + "/")
            page.get_by_test_id("dashboard").wait_for(timeout=15000)
            routes = pages(site)
            # Pages the navigation offers that the list above does not know yet (e.g. a new one).
            known = {path for _, path in routes}
            for href in page.eval_on_selector_all("nav a", "els => els.map((e) => e.getAttribute('href'))"):
                if href not in known:
                    routes.append((href.strip("/").replace("/", "-"), href))
            for name, path in routes:
                # In-app navigation (the router follows popstate): no reload, no new WebSocket per page.
                page.evaluate(
                    "(p) => { history.pushState(null, '', p); dispatchEvent(new PopStateEvent('popstate')); }", path
                )
                check(page, f"{name}-{width}x{height}-{scheme}", shots, problems)
        finally:
            context.close()
        context = browser.new_context(**{**PHONE, **viewport})  # logged out: the login page
        context.add_init_script(COUNT_FETCHES)
        try:
            page = context.new_page()
            page.goto(site.url + "/")
            page.get_by_test_id("login-form").wait_for(timeout=15000)
            check(page, f"login-{width}x{height}-{scheme}", shots, problems)
        finally:
            context.close()
    assert not problems, "\n".join(problems)
