"""Every bench target in one place, with the issue that set it (``issues show N``).

A figure with no target in the issues is measured and shown with "-".
"""

STARTUP_S = 2.0  # issue 2: zerg serve -> first 200 from /api/health
IDLE_PSS_MB = 150  # issue 2: summed PSS of every zerg process at idle
IDLE_PSS_CEILING_MB = 200  # issue 2: the hard ceiling
WS_LATENCY_S = 1.0  # issue 2: a worker's event reaches a WebSocket client within 1 s
INGEST_EVENTS_S = 20_000  # issue 3: ingest through the HTTP API into SQLite, >= 1 GB of JSONL
SEARCH_P95_MS = 50  # issue 3: two-word query with filters, >= 1,000,000 events
SPEND_P95_MS = 100  # issue 21: GET /api/spend over 100,000 sessions and 1,000,000 events
SHIPPER_RSS_MB = 100  # issue 3: Shipper peak RSS shipping 1 GB of history
COMMIS_PSS_MB = 500  # issue 4: zerg PSS with five active commis (aim 350)
COMMIS_PSS_AIM_MB = 350
SPAWN_RUNNING_P95_S = 1.0  # issue 4: spawn -> running with an idle worker
OIKOS_FIRST_TOKEN_P95_S = 0.3  # issue 5: message -> first streamed token beyond the fake's delay
PWA_FIRST_LOAD_KB = 80  # issue 9: JS+CSS (gzip) of the dashboard's first load
PWA_SLOW_4G_S = 2.0  # issue 9: time to a usable dashboard on slow 4G
# No target in the issues: PSS with 20 active commis, session list requests/s,
# commis throughput, ingest ratio to bare executemany (reported, issue 3/8).


def verdict(ok: bool, over: str = "MISSED") -> str:
    return "" if ok else f"  ({over})"
