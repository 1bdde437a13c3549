"""The phone's first load of the dashboard, in headless Chromium against a real ``zerg serve``.

1. Bytes of JS+CSS the first load transfers, as sent (whitenoise serves the build's .gz files)
   and what gzip makes of them (target: under 80 KB).
2. Time to a usable dashboard on Chrome DevTools' "Slow 4G" profile (CDP
   Network.emulateNetworkConditions: 562.5 ms latency, 1.44 Mbit/s down, 675 kbit/s up):
   from navigation start to the server status shown (the dashboard's data has arrived), for a
   cold visit (empty cache) and a repeat visit (assets in the HTTP cache). The service worker is
   blocked: CDP throttles the page's requests, not the worker's, so with it the figure would lie.
   Median of N runs each. Logged in first (the session cookie is reused): the login page is
   not the dashboard.

    python bench/pwa.py [N]      # default 5
"""

from __future__ import annotations

import gzip
import os
import statistics
import sys

import targets
from _common import running_server, scratch, server_env

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SLOW_4G = {"offline": False, "latency": 562.5, "downloadThroughput": 1.44e6 / 8, "uploadThroughput": 675e3 / 8}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}
# Set the moment the dashboard shows the server's status (its first API data).
MARK_USABLE = """new MutationObserver((_, obs) => {
  if (document.querySelector('[data-testid=worker-alive]')) { window.__usable = performance.now(); obs.disconnect(); }
}).observe(document, {subtree: true, childList: true});"""


def first_load_bytes(context, url: str) -> dict:
    """JS and CSS of one cold load: bytes on the wire (CDP encodedDataLength) and gzip -9 of the bodies."""
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    wire: dict[str, int] = {}
    kinds: dict[str, str] = {}
    cdp.on("Network.responseReceived", lambda e: kinds.__setitem__(e["requestId"], e["type"]))
    cdp.on("Network.loadingFinished", lambda e: wire.__setitem__(e["requestId"], e["encodedDataLength"]))
    bodies: list[bytes] = []
    page.on(
        "response", lambda r: bodies.append(r.body()) if r.request.resource_type in ("script", "stylesheet") else None
    )
    page.goto(url + "/", wait_until="networkidle")
    page.wait_for_selector("[data-testid=worker-alive]", timeout=30000)
    sent = sum(n for rid, n in wire.items() if kinds.get(rid) in ("Script", "Stylesheet"))
    page.close()
    return {
        "files": len(bodies),
        "raw": sum(map(len, bodies)),
        "wire": sent,
        "gzip": sum(len(gzip.compress(b, 9)) for b in bodies),
    }


def usable_time(context, url: str) -> float:
    page = context.new_page()
    asked = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith("/api/auth/me") else None)
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", SLOW_4G)
    page.goto(url + "/", wait_until="commit")
    # a function, not an expression: Playwright polls an expression with eval, which the CSP refuses
    page.wait_for_function("() => window.__usable !== undefined", timeout=60000, polling=50)
    seconds = page.evaluate("window.__usable") / 1000  # performance.now() counts from navigation start
    if len(asked) != 1:
        print(f"  note: /api/auth/me was requested {len(asked)} times (the preload was not reused)", flush=True)
    page.close()
    return seconds


def measure(runs: int = 5, verbose: bool = True) -> dict:
    from playwright.sync_api import sync_playwright

    with scratch() as root, server_env(root) as env, running_server(root, env) as server:
        server.wait_healthy(60)
        server.wait_worker()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            login = browser.new_context(**PHONE)
            login.new_page().goto(server.login_link)
            login.pages[0].wait_for_selector("[data-testid=dashboard]", timeout=30000)
            state = login.storage_state()
            login.close()

            context = browser.new_context(**PHONE, storage_state=state, service_workers="block")
            size = first_load_bytes(context, server.url)
            context.close()
            if verbose:
                print(
                    f"  first load: {size['files']} JS/CSS files, {size['raw']} B raw, {size['wire']} B on the wire, "
                    f"{size['gzip']} B gzip -9",
                    flush=True,
                )
            cold, warm = [], []
            for _ in range(runs):
                context = browser.new_context(**PHONE, storage_state=state, service_workers="block")
                context.add_init_script(MARK_USABLE)
                cold.append(usable_time(context, server.url))
                context.close()
            # Repeat visits in one context: the hashed assets come from the HTTP cache. (The service
            # worker is blocked here: CDP throttles the page, not the worker's own fetches.)
            context = browser.new_context(**PHONE, storage_state=state, service_workers="block")
            context.add_init_script(MARK_USABLE)
            usable_time(context, server.url)
            for _ in range(runs):
                warm.append(usable_time(context, server.url))
            context.close()
            browser.close()
    if verbose:
        print("  slow 4G, cold: " + ", ".join(f"{s:.2f}" for s in cold) + " s", flush=True)
        print("  slow 4G, repeat visit (HTTP cache): " + ", ".join(f"{s:.2f}" for s in warm) + " s", flush=True)
    return {"size": size, "cold": statistics.median(cold), "warm": statistics.median(warm), "runs": runs}


def rows(result: dict) -> list[tuple]:
    size = result["size"]
    kb = size["gzip"] / 1024
    n = result["runs"]
    return [
        (
            "dashboard first load: JS+CSS gzip",
            f"< {targets.PWA_FIRST_LOAD_KB} KB",
            f"{kb:.1f} KB ({size['wire'] / 1024:.1f} KB on the wire, {size['raw'] / 1024:.1f} KB raw)"
            + targets.verdict(kb < targets.PWA_FIRST_LOAD_KB),
        ),
        (
            f"usable dashboard on slow 4G, cold, median of {n}",
            f"< {targets.PWA_SLOW_4G_S:.0f} s",
            f"{result['cold']:.2f} s" + targets.verdict(result["cold"] < targets.PWA_SLOW_4G_S),
        ),
        (f"usable dashboard on slow 4G, repeat visit (HTTP cache), median of {n}", "-", f"{result['warm']:.2f} s"),
    ]


if __name__ == "__main__":
    from _common import table

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    if not os.path.exists(CHROMIUM):
        sys.exit(f"{CHROMIUM} is missing")
    print(table(rows(measure(count)), ("figure", "target", "result")))
