"""Oikos: owner's message -> first streamed token on /ws/events, and the memory of an active turn.

A real ``zerg serve`` (fresh home) with ``ANTHROPIC_BASE_URL`` at the fake Anthropic server
(``tests/fakes/fake_anthropic.py``, in this process, answering each call after DELAY
seconds). One thread; for each of N turns, one after the other: ``POST
/api/oikos/threads/<id>/messages``, then the first ``oikos.delta`` of that turn on a
WebSocket subscribed to ``oikos:<id>``; the figure is that time minus DELAY (the fake
model's own think time). Deltas are batched by the server (~100 ms) and the event
tailer polls every 0.2 s, so both are part of the figure.

Memory: PSS (``/proc/PID/smaps_rollup``) of the serve process, and of serve plus all its
descendants, idle before any turn, then while a turn waits on the model (a reply held
for HOLD seconds): the first turn (which loads the anthropic SDK and langgraph) and one
after the N latency turns (steady state).

    python bench/oikos_chat.py [N] [--openai]

(Not bench/oikos.py: run.py imports benches by name, and ``oikos`` is the app package.)
``--openai`` uses the fake OpenAI-compatible server (``OPENAI_BASE_URL``) instead.
"""

from __future__ import annotations

import asyncio
import sys
import time

import targets  # noqa: E402
from _common import percentile, running_server, scratch, server_env, table
from idle_memory import kb, tree

from tests.fakes import fake_anthropic, fake_openai
from tests.procs import create_token, http_json, ws_connect, ws_subscribe, ws_wait_event

TARGET = targets.OIKOS_FIRST_TOKEN_P95_S  # seconds beyond the fake model's delay, p95
DELAY = 0.1  # the fake model's think time before it answers
HOLD = 4.0  # a held reply, to measure memory while a turn is active
KEY = "sk-ant-bench"
TEXT = (
    "Here is what your commis are doing right now: two are running the test suite, one is cloning "
    "the repository, and the last one finished a minute ago with every test passing. "
) * 3


def pss_mb(root: int) -> tuple[float, float]:
    """(serve process, serve + descendants) PSS in MB."""
    own, total = 0, 0
    for pid, depth in tree(root):
        try:
            value = kb(pid, "Pss")
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += value
        if depth == 0:
            own = value
    return own / 1024, total / 1024


async def one_turn(server, token, ws, thread_id: int, text: str) -> tuple[float, float, dict]:
    """Post a message; (when it was sent, seconds to the turn's first oikos.delta, the finished Turn)."""
    sent = time.monotonic()
    status, body = await asyncio.to_thread(
        http_json, f"{server.url}/api/oikos/threads/{thread_id}/messages", "POST", token, {"text": text}, 30
    )
    if status != 202:
        raise RuntimeError(f"POST message answered {status}: {body}")
    turn_id = body["turn"]["id"]
    await ws_wait_event(ws, lambda e: e["kind"] == "oikos.delta" and e["payload"].get("turn") == turn_id, timeout=60)
    first = time.monotonic() - sent
    done = await ws_wait_event(
        ws,
        lambda e: (
            e["kind"] == "oikos.turn"
            and (e["payload"].get("turn") or {}).get("id") == turn_id
            and e["payload"]["turn"]["status"] in ("done", "failed")
        ),
        timeout=60,
    )
    turn = done["payload"]["turn"]
    if turn["status"] != "done":
        raise RuntimeError(f"turn {turn_id} failed: {turn.get('error')}\n{server.output()[-3000:]}")
    return sent, first, turn


def text_reply(fake, text: str, delay: float):
    """A scripted text reply for either fake."""
    if isinstance(fake, fake_openai.FakeOpenAI):
        return fake_openai.Reply(text=text, delay=delay)
    return fake_anthropic.Reply(content=[{"type": "text", "text": text}], delay=delay)


async def held_turn_memory(server, token, ws, thread_id: int, fake, text: str) -> tuple[float, float]:
    """PSS while a turn waits HOLD seconds for the model."""
    fake.reply(text_reply(fake, "held reply", HOLD))
    task = asyncio.create_task(one_turn(server, token, ws, thread_id, text))
    await asyncio.sleep(HOLD * 0.6)
    memory = pss_mb(server.pid)
    await task
    return memory


async def session(server, token, fake, count: int) -> dict:
    status, thread = await asyncio.to_thread(
        http_json, server.url + "/api/oikos/threads", "POST", token, {"title": "bench"}
    )
    if status not in (200, 201):
        raise RuntimeError(f"POST thread answered {status}: {thread}")
    ws = await ws_connect(server, token)
    try:
        await ws_subscribe(ws, topics=[f"oikos:{thread['id']}"], after=0)
        idle = pss_mb(server.pid)
        first_active = await held_turn_memory(server, token, ws, thread["id"], fake, "warm up")
        after_first = pss_mb(server.pid)
        latencies, to_model = [], []
        for i in range(count):
            arrived = []
            fake.reply(lambda body, arrived=arrived: arrived.append(time.monotonic()) or text_reply(fake, TEXT, DELAY))
            sent, seconds, _ = await one_turn(server, token, ws, thread["id"], f"what are my commis doing? ({i})")
            latencies.append(seconds - DELAY)
            to_model.append(arrived[0] - sent)
        idle_later = pss_mb(server.pid)
        active_later = await held_turn_memory(server, token, ws, thread["id"], fake, "one more")
    finally:
        await ws.close()
    return {
        "latencies": latencies,
        "to_model": to_model,
        "idle": idle,
        "first_active": first_active,
        "after_first": after_first,
        "idle_later": idle_later,
        "active_later": active_later,
    }


def measure(count: int = 30, verbose: bool = True, provider: str = "anthropic") -> dict:
    """``provider``: "anthropic" (the fake Anthropic API through the SDK) or "openai" (the fake
    OpenAI-compatible server, as a local Ollama would be)."""
    openai = provider == "openai"
    with fake_openai.FakeOpenAI() if openai else fake_anthropic.FakeAnthropic(api_key=KEY) as fake:
        llm = (
            {"OPENAI_BASE_URL": fake.url + "/v1"}
            if openai
            else {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": fake.url}
        )
        with scratch() as root, server_env(root, ZERG_MODEL="fake-model", **llm) as env:
            env.pop("ANTHROPIC_API_KEY" if openai else "OPENAI_BASE_URL", None)
            token = create_token(env)
            with running_server(root, env) as server:
                server.wait_healthy(timeout=60)
                server.wait_worker(timeout=60)
                time.sleep(2)  # let startup settle before the idle reading
                result = asyncio.run(session(server, token, fake, count))
    result["provider"] = provider
    lat, to_model = result["latencies"], result["to_model"]
    back = [a - b for a, b in zip(lat, to_model, strict=True)]
    result.update(
        count=count,
        p50=percentile(lat, 50),
        p95=percentile(lat, 95),
        max=max(lat),
        to_model_p50=percentile(to_model, 50),
        back_p50=percentile(back, 50),
    )
    if verbose:
        print("  " + " ".join(f"{v * 1000:.0f}" for v in lat) + " (ms, fake delay subtracted)")
        print(
            f"  of which POST -> the model request reaching the fake: p50 {result['to_model_p50'] * 1000:.0f} ms; "
            f"the fake's first bytes -> oikos.delta on the WebSocket: p50 {result['back_p50'] * 1000:.0f} ms"
        )
        for key in ("idle", "first_active", "after_first", "idle_later", "active_later"):
            print(f"  {key:>12}: serve {result[key][0]:6.1f} MB, serve + descendants {result[key][1]:6.1f} MB")
    return result


def rows(result: dict) -> list[tuple]:
    def verdict(value):
        return f"{value * 1000:.0f} ms" + ("" if value < TARGET else "  (MISSED)")

    n, mb = result["count"], lambda key, i=0: f"{result[key][i]:.0f}"
    first = f"Oikos message -> first oikos.delta on WebSocket beyond the fake's {DELAY * 1000:.0f} ms" + (
        " (OpenAI-compatible provider)" if result["provider"] == "openai" else ""
    )
    return [
        (f"{first}, p50 of {n}", "-", f"{result['p50'] * 1000:.0f} ms"),
        (f"{first}, p95 of {n}", f"< {TARGET * 1000:.0f} ms", verdict(result["p95"])),
        (
            "  of which POST -> model request at the fake, p50 / fake's answer -> WebSocket, p50",
            "-",
            f"{result['to_model_p50'] * 1000:.0f} ms / {result['back_p50'] * 1000:.0f} ms",
        ),
        (
            "zerg serve PSS: idle / during the first Oikos turn / after it (SDK + langgraph stay loaded)",
            "-",
            f"{mb('idle')} / {mb('first_active')} / {mb('after_first')} MB",
        ),
        (
            f"PSS added by an active Oikos turn (after {n} turns), serve / all zerg processes",
            "-",
            f"{round(result['active_later'][0] - result['idle_later'][0]):+d} MB / "
            f"{round(result['active_later'][1] - result['idle_later'][1]):+d} MB",
        ),
    ]


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    count = int(args[0]) if args else 30
    provider = "openai" if "--openai" in sys.argv else "anthropic"
    print(f"Oikos first-token latency ({count} turns, fake {provider} model) and active-turn memory")
    print(table(rows(measure(count, provider=provider)), ("figure", "target", "result")))


if __name__ == "__main__":
    main()
