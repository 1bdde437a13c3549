"""Sessions' cost: list prices per model from genai-prices' bundled data (timeline/pricing.py),
computed at ingest, overridable in config.toml, recomputed by ``manage.py reprice_sessions``;
unknown models are never guessed. Expected figures are the vendors' published prices per million
tokens, written out here, not read back from the library."""

from __future__ import annotations

import dataclasses
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from agents_ingest.ingest import FileChunk, ingest_files
from timeline.models import Event, Session
from timeline.pricing import price_of, response_cost
from zerg_site.config import ConfigError, load

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"


def claude_line(mid: str, model: str, usage: dict, text: str = "ok") -> bytes:
    return (
        json.dumps(
            {
                "type": "assistant",
                "uuid": f"u-{mid}-{text}",
                "sessionId": "s-cost",
                "message": {
                    "id": mid,
                    "role": "assistant",
                    "model": model,
                    "usage": usage,
                    "content": [{"type": "text", "text": text}],
                },
            }
        ).encode()
        + b"\n"
    )


def ingest_claude(data: bytes, path: str = "/h/.claude/projects/-p/s-cost.jsonl") -> Session:
    ingest_files("laptop", [FileChunk("claude", path, data)])
    return Session.objects.get(provider="claude", provider_session_id=path.rsplit("/", 1)[-1][:-6])


@pytest.fixture
def prices(settings):
    def use(table: dict):
        settings.ZERG = dataclasses.replace(settings.ZERG, prices=table)

    return use


def test_it_prices_claude_responses_once_per_message_with_both_cache_writes(db):
    usage = {
        "input_tokens": 1000,
        "output_tokens": 2000,
        "cache_read_input_tokens": 10000,
        "cache_creation_input_tokens": 4000,
        "cache_creation": {"ephemeral_5m_input_tokens": 3000, "ephemeral_1h_input_tokens": 1000},
    }
    # one API response written as two lines (text, then tool use): its usage counts once
    data = claude_line("m1", "claude-sonnet-4-5-20250929", usage) + claude_line(
        "m1", "claude-sonnet-4-5-20250929", usage, text="more"
    )
    data += claude_line("m2", "<synthetic>", {"input_tokens": 0, "output_tokens": 0})
    session = ingest_claude(data)
    # $3 / $15 / $0.30 / $3.75 per million; the one-hour write at twice the input price
    expected = (1000 * 3 + 2000 * 15 + 10000 * 0.30 + 3000 * 3.75 + 1000 * 6) / 1e6
    assert session.cost_usd == pytest.approx(expected) and expected == pytest.approx(0.05325)
    assert session.cost_partial is False  # the synthetic message used no tokens

    # a later batch adds a response of a model without a price: counted apart, never guessed
    more = claude_line("m3", "claude-opus-9", {"input_tokens": 5, "output_tokens": 5})
    more += claude_line("m4", "claude-haiku-4-5-20251001", {"input_tokens": 1_000_000, "output_tokens": 0})
    ingest_files("laptop", [FileChunk("claude", "/h/.claude/projects/-p/s-cost.jsonl", more, offset=len(data))])
    session.refresh_from_db()
    assert session.cost_usd == pytest.approx(expected + 1.0)
    assert session.cost_partial is True
    assert session.as_dict()["cost_partial"] is True


def test_it_prices_a_resumed_codex_session_per_response(db):
    for name in ("turn-1.jsonl", "turn-2.jsonl"):  # one session in two files, o4-mini
        path = FIXTURES / "codex" / name
        ingest_files("laptop", [FileChunk("codex", f"/h/.codex/sessions/{name}", path.read_bytes())])
    session = Session.objects.get(provider="codex", model="o4-mini")
    # turn-2 replays turn-1's lines (stored once), then its own response starts the running total
    # again: 1100 input (512 cached), 20 output. Both responses were billed: 1024 + 1100 input.
    assert (session.input_tokens, session.cache_read_tokens, session.output_tokens) == (2124, 1024, 32)
    assert session.cost_usd == pytest.approx(((2124 - 1024) * 1.10 + 1024 * 0.275 + 32 * 4.40) / 1e6)
    assert session.cost_partial is False


def codex_line(rtype: str, payload: dict, second: int = 0) -> bytes:
    return (
        json.dumps({"timestamp": f"2026-05-12T10:00:{second:02d}.000Z", "type": rtype, "payload": payload}).encode()
        + b"\n"
    )


def token_count(last: dict, total: dict, second: int) -> bytes:
    return codex_line(
        "event_msg", {"type": "token_count", "info": {"total_token_usage": total, "last_token_usage": last}}, second
    )


def test_it_prices_each_codex_turn_at_its_model_and_counts_a_repeated_token_count_once(db):
    sid = "0199aaaa-bbbb-7ccc-8ddd-eeeeffff0001"
    first = {"input_tokens": 10_000, "cached_input_tokens": 4_000, "output_tokens": 500, "total_tokens": 10_500}
    second = {"input_tokens": 20_000, "cached_input_tokens": 15_000, "output_tokens": 1_000, "total_tokens": 21_000}
    both = {k: first[k] + second[k] for k in first}
    head = (
        codex_line("session_meta", {"id": sid, "cwd": "/w"})
        + codex_line("turn_context", {"model": "gpt-5", "cwd": "/w"}, 1)
        + token_count(first, first, 2)
        + token_count(first, first, 3)  # written again without a new response (a rate-limit update)
        + codex_line("turn_context", {"model": "gpt-5-mini", "cwd": "/w"}, 4)  # the owner's /model
        + token_count(second, both, 5)
    )
    tail = token_count(second, both, 6) + codex_line("event_msg", {"type": "task_complete"}, 7)
    path = f"/h/.codex/sessions/2026/05/12/rollout-2026-05-12T10-00-00-{sid}.jsonl"
    ingest_files("laptop", [FileChunk("codex", path, head)])
    ingest_files("laptop", [FileChunk("codex", path, tail, offset=len(head))])  # the repeat in the next request

    session = Session.objects.get(provider="codex", provider_session_id=sid)
    assert (session.input_tokens, session.cache_read_tokens, session.output_tokens) == (30_000, 19_000, 1_500)
    gpt5 = (6_000 * 1.25 + 4_000 * 0.125 + 500 * 10.0) / 1e6
    mini = (5_000 * 0.25 + 15_000 * 0.025 + 1_000 * 2.0) / 1e6
    assert session.cost_usd == pytest.approx(gpt5 + mini) and session.cost_partial is False
    held = list(
        Event.objects.filter(session=session, usage__isnull=False).order_by("ordinal").values_list("model", "usage")
    )
    assert held == [("gpt-5", first), ("gpt-5-mini", second)]
    assert Event.objects.filter(session=session, record_type="event_msg/token_count").count() == 4
    # reprice agrees with the ingest: it sums the same events at their own models
    assert call_command("reprice_sessions", stdout=StringIO()) is None
    session.refresh_from_db()
    assert session.cost_usd == pytest.approx(gpt5 + mini)


def test_migration_0009_recounts_codex_sessions_stored_as_running_totals(db):
    from timeline.models import SourceChunk
    from timeline.recount import recount_codex

    for name in ("turn-1.jsonl", "turn-2.jsonl"):
        path = FIXTURES / "codex" / name
        ingest_files("laptop", [FileChunk("codex", f"/h/.codex/sessions/{name}", path.read_bytes())])
    test_it_prices_each_codex_turn_at_its_model_and_counts_a_repeated_token_count_once(db)
    figures = ("input_tokens", "cache_read_tokens", "output_tokens", "cost_usd", "cost_partial")

    def stored():
        return {pk: (*row[:3], round(row[3], 9), row[4]) for pk, *row in Session.objects.values_list("id", *figures)}

    right = stored()
    held = set(Event.objects.filter(usage__isnull=False).values_list("id", "message_id", "model"))
    assert len(right) == 2 and len(held) == 4
    # as the code before stored them: every token_count holds its last usage, no identity, no model;
    # a session's figures are its last running total at its last model
    for event in Event.objects.filter(record_type="event_msg/token_count"):
        info = json.loads(event.source_line())["payload"]["info"]
        if info:
            event.usage, event.message_id, event.model = info["last_token_usage"], "", ""
            event.save(update_fields=["usage", "message_id", "model"])
    Session.objects.filter(provider_session_id__startswith="a1b2").update(
        input_tokens=1100, cache_read_tokens=512, output_tokens=20, cost_usd=0.0008
    )
    Session.objects.filter(provider_session_id__startswith="0199").update(input_tokens=30_000, cost_usd=0.01)

    assert recount_codex(Session, Event, SourceChunk) == 2
    assert stored() == right
    assert set(Event.objects.filter(usage__isnull=False).values_list("id", "message_id", "model")) == held
    assert recount_codex(Session, Event, SourceChunk) == 0


def test_it_prices_gpt_5_5_from_the_library_and_the_owners_price_wins(db, prices):
    rollout = next((FIXTURES / "codex").glob("rollout-*.jsonl"))
    ingest_files("laptop", [FileChunk("codex", f"/h/.codex/sessions/{rollout.name}", rollout.read_bytes())])
    session = Session.objects.get(provider="codex")
    # the fixture's last totals: input 6,055,836 (4,929,536 cached), output 9,118; no response's prompt
    # passes 272k tokens, so GPT-5.5's base rates: $5 / $30 / $0.50 cached (unknown to the old table)
    assert session.model == "gpt-5.5" and session.cost_partial is False
    assert session.cost_usd == pytest.approx(((6055836 - 4929536) * 5.0 + 4929536 * 0.5 + 9118 * 30.0) / 1e6)

    prices({"gpt-5.5": (2.0, 16.0, 0.2, 2.0)})
    out = StringIO()
    call_command("reprice_sessions", stdout=out)
    assert "1 changed" in out.getvalue()
    session.refresh_from_db()
    assert session.cost_usd == pytest.approx(((6055836 - 4929536) * 2.0 + 4929536 * 0.2 + 9118 * 16.0) / 1e6)
    assert session.cost_partial is False


def test_it_leaves_a_model_nobody_knows_unpriced_until_the_owner_adds_a_price(db, prices):
    ingest_claude(
        claude_line("m1", "my-local-model", {"input_tokens": 1000, "output_tokens": 10})
        + claude_line("m2", "claude-haiku-4-5", {"input_tokens": 1000, "output_tokens": 0})
    )
    session = Session.objects.get(provider_session_id="s-cost")
    assert session.cost_usd == pytest.approx(1000 * 1.0 / 1e6) and session.cost_partial is True  # "≥ $0.001"
    prices({"my-local-model": (0.0, 0.0, 0.0, 0.0)})
    call_command("reprice_sessions", stdout=StringIO())
    session.refresh_from_db()
    assert session.cost_usd == pytest.approx(0.001) and session.cost_partial is False


def test_it_reprices_claude_fixture_sessions_as_ingest_priced_them(db, prices):
    folder = FIXTURES / "claude" / "real_projects"
    for path in sorted(folder.rglob("*.jsonl")):
        ingest_files("laptop", [FileChunk("claude", str(path), path.read_bytes())])
    at_ingest = dict(Session.objects.values_list("id", "cost_usd"))
    assert any(at_ingest.values())
    # which sessions lack a price: exactly those with a response of a model nobody knows
    unpriced, models = set(), set()
    for sid, model, usage in Event.objects.filter(usage__isnull=False).values_list("session_id", "model", "usage"):
        models.add(model)
        if price_of(model) is None and any(v for k, v in usage.items() if k.endswith("tokens") and type(v) is int):
            unpriced.add(sid)
    assert "claude-opus-4-7" in models and not unpriced  # "unknown" to the old hand-written table
    assert set(Session.objects.filter(cost_partial=True).values_list("id", flat=True)) == unpriced
    call_command("reprice_sessions", stdout=StringIO())
    assert dict(Session.objects.values_list("id", "cost_usd")) == pytest.approx(at_ingest)


def test_it_shows_the_cost_in_the_api(db, token_client):
    ingest_claude(claude_line("m1", "claude-opus-4-5-20251101", {"input_tokens": 2_000_000, "output_tokens": 0}))
    body = token_client.get("/api/timeline/sessions/s-cost").json()
    session = body.get("session", body)
    assert session["cost_usd"] == pytest.approx(10.0) and session["cost_partial"] is False


def base(rates):
    """The rates of a short prompt: (input, output, cache read, cache write 5m, cache write 1h)."""
    return rates[-1][1]


def test_it_matches_a_model_by_its_name_or_its_dated_release_and_never_borrows_a_price():
    assert base(price_of("claude-opus-4-5-20251101")) == (5.0, 25.0, 0.5, 6.25, 10.0)
    assert base(price_of("claude-opus-4-20250514"))[0] == 15.0 and base(price_of("claude-opus-4-1-20250805"))[0] == 15
    assert base(price_of("claude-sonnet-4-5[1m]"))[0] == 3.0 and base(price_of("claude-3-7-sonnet-latest"))[0] == 3.0
    assert base(price_of("openai/gpt-5"))[1] == 10.0 and base(price_of("gpt-5-2025-08-07"))[1] == 10.0
    assert base(price_of("gpt-4.1-nano-2025-04-14"))[:3] == (0.10, 0.40, 0.025)
    for other in ("gpt-5.10", "claude-opus-9", "gpt-5-codex-mini", "my-local-model", "qwen3-coder", "", "<synthetic>"):
        assert price_of(other) is None, other
    # the owner's prices come first, under the same rule (names normalised alike); 1h write: twice the input
    assert base(price_of("claude-opus-4-7", {"claude-opus-4-7": (1, 2, 3, 4)})) == (1, 2, 3, 4, 2)
    assert price_of("claude-opus-9", {"claude-opus-4": (1, 2, 3, 4)}) is None
    assert base(price_of("gpt-5-2025-08-07", {"gpt-5": (9, 9, 9, 9)})) == (9, 9, 9, 9, 18)


def test_it_knows_the_models_the_old_table_did_not(db):
    usage = {
        "input_tokens": 1000,
        "output_tokens": 2000,
        "cache_read_input_tokens": 10000,
        "cache_creation_input_tokens": 4000,
        "cache_creation": {"ephemeral_5m_input_tokens": 3000, "ephemeral_1h_input_tokens": 1000},
    }
    # Claude Opus 4.7 and 4.8: $5 input, $25 output, $0.50 cache read, $6.25 5-minute / $10 1-hour write
    opus = (1000 * 5 + 2000 * 25 + 10000 * 0.5 + 3000 * 6.25 + 1000 * 10) / 1e6
    assert response_cost("claude", "claude-opus-4-7", usage) == pytest.approx(opus) == 0.08875
    assert response_cost("claude", "claude-opus-4-8[1m]", usage) == pytest.approx(opus)
    # GPT-5.5: $5 input, $0.50 cached, $30 output; above 272k prompt tokens $10 / $1 / $45 for all of them
    assert response_cost(
        "codex", "gpt-5.5", {"input_tokens": 100_000, "cached_input_tokens": 40_000, "output_tokens": 1000}
    ) == pytest.approx((60_000 * 5 + 40_000 * 0.5 + 1000 * 30) / 1e6)
    assert response_cost(
        "codex", "gpt-5.5", {"input_tokens": 300_000, "cached_input_tokens": 100_000, "output_tokens": 1000}
    ) == pytest.approx((200_000 * 10 + 100_000 * 1.0 + 1000 * 45) / 1e6)
    # Oikos and the agent backend report Anthropic keys whatever the vendor: found by model name
    assert response_cost("zerg-agent", "gpt-5", {"input_tokens": 1000, "output_tokens": 100}) == pytest.approx(
        (1000 * 1.25 + 100 * 10) / 1e6
    )


def test_it_prices_as_the_library_does_for_every_token_priced_model():
    """The fast path (float rates per model) against genai-prices' own calc_price, for every model of
    the three vendors that prices tokens, at a short and a long prompt with every kind of token."""
    from decimal import Decimal

    from genai_prices import Usage, calc_price, data_snapshot

    from timeline.pricing import cost_of, library_rates

    checked = 0
    for vendor in data_snapshot.get_snapshot().providers:
        if vendor.id not in ("anthropic", "openai", "google"):
            continue
        for model in vendor.models:
            rates = library_rates({"anthropic": "claude", "openai": "codex", "google": "gemini"}[vendor.id], model.id)
            if rates is None:
                continue
            for fresh in (1000, 400_000):
                counts = (fresh, 2000, 30_000, 5000, 700)
                usage = Usage(
                    input_tokens=sum(counts) - 2000,
                    output_tokens=2000,
                    cache_read_tokens=30_000,
                    cache_write_tokens=5700,
                    cache_write_1h_tokens=700,
                )
                expected = calc_price(usage, model.id, provider_id=vendor.id).total_price
                assert Decimal(repr(cost_of(rates, counts))).quantize(Decimal("1e-9")) == expected.quantize(
                    Decimal("1e-9")
                ), (vendor.id, model.id, fresh)
                checked += 1
    assert checked > 100


def test_it_prices_from_the_bundled_data_without_the_network(monkeypatch):
    import socket

    from timeline import pricing

    def refuse(*args, **kwargs):
        raise AssertionError("genai-prices reached for the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    pricing._memo.update(day=None)  # look it up afresh
    assert response_cost("claude", "claude-haiku-4-5", {"input_tokens": 1_000_000}) == pytest.approx(1.0)


def test_it_prices_long_prompts_and_premium_tiers_only_where_it_knows_the_rate(db):
    long = {"input_tokens": 1000, "cache_read_input_tokens": 250_000, "output_tokens": 1000}
    # Sonnet 4.5 above 200k prompt tokens: $6 / $22.50 / $0.60 per million
    assert response_cost("claude", "claude-sonnet-4-5", long) == pytest.approx(
        (1000 * 6 + 250_000 * 0.60 + 1000 * 22.5) / 1e6
    )
    # Opus 4.6: one rate for its whole 1M context
    assert response_cost("claude", "claude-opus-4-6", long) == pytest.approx(
        (1000 * 5 + 250_000 * 0.5 + 1000 * 25) / 1e6
    )
    short = {"input_tokens": 1000, "output_tokens": 1000}
    # Opus 4.8's fast mode: $10 / $50 (listed); Opus 4.6's fast mode and a priority tier are not: unknown
    assert response_cost("claude", "claude-opus-4-8", {**short, "speed": "fast"}) == pytest.approx(0.06)
    assert response_cost("claude", "claude-opus-4-6", {**short, "speed": "fast"}) is None
    assert response_cost("claude", "claude-opus-4-6", {**short, "service_tier": "priority"}) is None
    assert response_cost("claude", "claude-opus-4-6", {**short, "speed": {"odd": 1}}) is None
    assert response_cost(
        "claude", "claude-opus-4-6", {**short, "speed": "standard", "service_tier": "standard"}
    ) == pytest.approx(0.03)
    assert response_cost(
        "gemini", "gemini-2.5-pro", {"input": 300_000, "cached": 100_000, "output": 10}
    ) == pytest.approx((200_000 * 2.5 + 100_000 * 0.25 + 10 * 15) / 1e6)


def test_it_reads_prices_from_config_and_explains_bad_ones(tmp_path):
    (tmp_path / "config.toml").write_text(
        '[timeline.prices]\n"my-local-model" = [0, 0]\n"claude-opus-4-7" = [5, 25, 0.5, 6.25]\n'
    )
    cfg = load({"ZERG_HOME": str(tmp_path)})
    assert cfg.prices == {"my-local-model": (0.0, 0.0, 0.0, 0.0), "claude-opus-4-7": (5.0, 25.0, 0.5, 6.25)}
    env = load({"ZERG_HOME": str(tmp_path), "ZERG_PRICES": '{"x": [1, 2]}'})
    assert env.prices == {"x": (1.0, 2.0, 1.0, 1.0)}
    with pytest.raises(ConfigError, match=r"'x': expected \[input, output\]"):
        load({"ZERG_HOME": str(tmp_path), "ZERG_PRICES": '{"x": [1, -2]}'})
    with pytest.raises(ConfigError, match="ZERG_PRICES: expected a JSON object"):
        load({"ZERG_HOME": str(tmp_path), "ZERG_PRICES": "gpt=1"})
