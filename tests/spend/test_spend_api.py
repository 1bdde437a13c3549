"""``GET /api/spend``: real shipped sessions through the real ingest, Oikos turns through its services and
commis jobs with known usage, added up to the cent; each source counted once; bad input refused."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from agents_ingest.ingest import FileChunk, ingest_files
from commis.models import Job
from oikos import services as oikos
from oikos.models import Turn
from spend import query
from timeline.models import Session
from zerg_site.devices import COMMIS_DEVICE

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
CLAUDE_DIR = FIXTURES / "claude" / "real_projects" / "-Users-dain-workspace-danieldemmel-me-next"
CODEX = FIXTURES / "codex" / "rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799.jsonl"
DAY = date(2026, 5, 11)


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.fixture
def spent(db):
    """Shipped sessions of a laptop (the real fixtures, through the real ingest), put on known days;
    a commis job whose CLI session is also in the Timeline; an Oikos thread with two priced turns
    (mirrored into the Timeline, as every thread is) and a commis job with known usage."""
    files = sorted(CLAUDE_DIR.glob("*.jsonl"))[:4]
    ingest_files(
        "laptop", [FileChunk("claude", f"/home/o/.claude/projects/-p/{f.name}", f.read_bytes()) for f in files]
    )
    ingest_files("laptop", [FileChunk("codex", f"/home/o/.codex/sessions/2026/05/11/{CODEX.name}", CODEX.read_bytes())])
    shipped = list(Session.objects.filter(device="laptop"))
    assert len(shipped) >= 3 and any(s.cost_usd for s in shipped)
    for i, session in enumerate(shipped):  # spread over three days of the range, whatever the fixtures' dates
        Session.objects.filter(id=session.id).update(ended_at=at(DAY + timedelta(days=i % 3)))

    # a claude job: its session file is ingested under the server's own device, and the job has its usage
    for own in sorted(CLAUDE_DIR.glob("*.jsonl"))[4:]:  # the first with a priced response
        ingest_files(COMMIS_DEVICE, [FileChunk("claude", f"/srv/zerg/claude/projects/-w/{own.name}", own.read_bytes())])
        job_session = Session.objects.filter(device=COMMIS_DEVICE, provider_session_id=own.stem).first()
        if job_session and job_session.cost_usd:
            break
    assert job_session.cost_usd
    Session.objects.filter(device=COMMIS_DEVICE).update(ended_at=at(DAY))
    Job.objects.create(
        task="fix it",
        backend="claude",
        status=Job.SUCCEEDED,
        session_id=job_session.provider_session_id,
        repo_url="https://example.com/acme/widget.git",
        options={"model": "claude-sonnet-4-5"},
        usage={"input_tokens": 1200, "output_tokens": 340, "cache_read_input_tokens": 5000},
        cost_usd=0.4321,
        created_at=at(DAY, 9),
        finished_at=at(DAY, 10),
    )
    Job.objects.create(
        task="ls",
        backend="codex",
        status=Job.SUCCEEDED,
        workdir="/srv/src/gadget",
        usage={"input_tokens": 800, "cached_input_tokens": 300, "output_tokens": 50},
        cost_usd=0.0123,
        created_at=at(DAY + timedelta(days=1)),
        finished_at=at(DAY + timedelta(days=1)),
    )
    # a continuation of the laptop's session: its turns land in that session, which counts them
    Job.objects.create(
        task="go on",
        backend="claude",
        status=Job.SUCCEEDED,
        usage={"input_tokens": 9, "output_tokens": 9},
        cost_usd=7.0,
        options={"continues_session": shipped[0].id},
        finished_at=at(DAY),
    )

    thread = oikos.create_thread("plan")
    oikos.add_message(thread.id, "owner", "what next?")
    for cost in (0.015, 0.0275):
        turn = Turn.objects.create(thread=thread, status=Turn.DONE, created_at=at(DAY, 8), finished_at=at(DAY, 8))
        oikos.add_usage(turn.id, {"input_tokens": 1000, "output_tokens": 200, "cache_read_input_tokens": 50}, cost)
    mirror = Session.objects.get(provider=oikos.TIMELINE_PROVIDER)
    assert mirror.cost_usd == pytest.approx(0.0425)  # the mirror has the thread's cost too: not counted again
    Session.objects.filter(id=mirror.id).update(ended_at=at(DAY))
    return shipped


def expected_total(shipped) -> float:
    return (
        sum(s.cost_usd or 0 for s in Session.objects.filter(id__in=[s.id for s in shipped]))
        + 0.4321
        + 0.0123
        + 0.015
        + 0.0275
    )


def test_it_adds_sessions_turns_and_jobs_up_to_the_cent_counting_each_once(owner_client, spent):
    want = expected_total(spent)
    for by in query.BYS:
        got = owner_client.get(f"/api/spend?from=2026-05-11&to=2026-05-13&by={by}")
        assert got.status_code == 200, got.content
        body = got.json()
        assert set(body) == {"currency", "total", "partial", "rows"} and body["currency"] == "USD"
        assert round(body["total"], 2) == round(want, 2)
        assert round(sum(r["cost"] for r in body["rows"]), 2) == round(want, 2)
        assert sum(r["sessions"] for r in body["rows"]) == len(spent) + 2 + 2  # sessions, jobs, turns
    by_source = {
        r["key"]: r for r in owner_client.get("/api/spend?from=2026-05-11&to=2026-05-13&by=source").json()["rows"]
    }
    assert set(by_source) == {"claude-code", "codex", "oikos", "commis"}
    assert by_source["commis"]["cost"] == pytest.approx(0.4444) and by_source["commis"]["sessions"] == 2
    assert by_source["commis"]["input_tokens"] == 2000 and by_source["commis"]["cache_read_tokens"] == 5300
    assert by_source["oikos"]["cost"] == pytest.approx(0.0425) and by_source["oikos"]["input_tokens"] == 2000
    codex = Session.objects.get(device="laptop", provider="codex")
    assert by_source["codex"]["cost"] == pytest.approx(codex.cost_usd)
    for name, row in by_source.items():  # one source alone: the same figures, by day
        alone = owner_client.get(f"/api/spend?from=2026-05-11&to=2026-05-13&source={name}").json()
        assert (
            alone["total"] == pytest.approx(row["cost"])
            and sum(r["sessions"] for r in alone["rows"]) == row["sessions"]
        )
    by_project = {
        r["key"] for r in owner_client.get("/api/spend?from=2026-05-11&to=2026-05-13&by=project").json()["rows"]
    }
    assert {"widget", "gadget", "oikos"} <= by_project
    days = owner_client.get("/api/spend?from=2026-05-11&to=2026-05-13&by=day").json()["rows"]
    assert [r["key"] for r in days] == ["2026-05-11", "2026-05-12", "2026-05-13"]
    assert query.total(DAY, DAY + timedelta(days=2)) == (
        pytest.approx(want, abs=5e-7),
        days[0]["partial"] or any(r["partial"] for r in days),
    )


def test_it_counts_a_session_on_the_owners_day_of_its_last_activity(owner_client, settings, spent):
    one = spent[0]
    Session.objects.filter(id=one.id).update(ended_at=datetime(2026, 5, 20, 23, 30, tzinfo=UTC))
    rows = owner_client.get("/api/spend?from=2026-05-20&to=2026-05-21").json()["rows"]
    assert [r["key"] for r in rows] == ["2026-05-20"]
    # in Tokyo (UTC+9) half past eleven at night UTC is the next morning
    settings.ZERG = dataclasses.replace(settings.ZERG, time_zone="Asia/Tokyo")
    rows = owner_client.get("/api/spend?from=2026-05-20&to=2026-05-21").json()["rows"]
    assert [r["key"] for r in rows] == ["2026-05-21"] and rows[0]["cost"] == pytest.approx(one.cost_usd or 0)
    report = query.spend(date(2026, 5, 20), date(2026, 5, 21), "day", ZoneInfo("Asia/Tokyo"))
    assert [r.key for r in report.rows.values()] == ["2026-05-21"]
    assert report.rows["2026-05-21"].cost == pytest.approx(one.cost_usd or 0)


def test_it_cuts_the_owners_days_at_daylight_saving_changes():
    paris = ZoneInfo("Europe/Paris")
    parts = query.pieces(date(2026, 3, 28), date(2026, 3, 30), paris)
    assert [(a.isoformat(), b.isoformat(), o) for a, b, o in parts] == [
        ("2026-03-27T23:00:00+00:00", "2026-03-29T01:00:00+00:00", timedelta(hours=1)),
        ("2026-03-29T01:00:00+00:00", "2026-03-30T22:00:00+00:00", timedelta(hours=2)),
    ]


def test_it_serves_the_same_rows_as_csv_for_a_spreadsheet(owner_client, spent):
    Session.objects.filter(id=spent[0].id).update(project='=HYPERLINK("http://evil")')
    body = owner_client.get("/api/spend?from=2026-05-11&to=2026-05-13&by=project").json()
    for url, headers in (
        ("/api/spend?from=2026-05-11&to=2026-05-13&by=project&format=csv", {}),
        ("/api/spend?from=2026-05-11&to=2026-05-13&by=project", {"HTTP_ACCEPT": "text/csv"}),
    ):
        got = owner_client.get(url, **headers)
        assert got.status_code == 200 and got["Content-Type"].startswith("text/csv")
        assert got["Content-Disposition"] == 'attachment; filename="spend-2026-05-11-2026-05-13-by-project.csv"'
        table = list(csv.reader(io.StringIO(got.content.decode())))
        assert table[0] == [
            "project",
            "cost",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "sessions",
            "partial",
        ]
        assert [r[0] for r in table[1:-1]] == [
            ("'" + r["key"]) if r["key"].startswith("=") else r["key"] for r in body["rows"]
        ]
        assert [float(r[1]) for r in table[1:-1]] == pytest.approx([r["cost"] for r in body["rows"]])
        assert table[-1][:2] == ["total", f"{body['total']:.6f}"]


@pytest.mark.parametrize(
    ("qs", "detail"),
    [
        ("from=2026-13-01&to=2026-05-13", "from must be a day as YYYY-MM-DD"),
        ("from=2026-05-11&to=yesterday", "to must be a day as YYYY-MM-DD"),
        ("from=2026-05-13&to=2026-05-11", "is before from"),
        ("from=1900-01-01&to=2026-05-11", "longer than"),
        ("by=week", "by must be one of day, model, project, source, device"),
        ("format=xlsx", "format must be json or csv"),
        ("source=openai", "source must be one of claude-code, codex, gemini, oikos, commis"),
    ],
)
def test_it_refuses_a_bad_range_or_grouping_with_a_sentence_and_changes_nothing(owner_client, spent, qs, detail):
    before = list(Session.objects.order_by("id").values_list("id", "cost_usd", "ended_at"))
    got = owner_client.get(f"/api/spend?{qs}")
    assert got.status_code == 400 and detail in got.json()["detail"]
    assert list(Session.objects.order_by("id").values_list("id", "cost_usd", "ended_at")) == before


def test_it_answers_a_stranger_401_without_figures(client, spent):
    got = client.get("/api/spend")
    assert got.status_code == 401 and "total" not in got.json()


def test_it_marks_spend_with_an_unknown_price_as_partial(owner_client, db):
    thread = oikos.create_thread("x")
    turn = Turn.objects.create(thread=thread, status=Turn.DONE, finished_at=timezone.now())
    oikos.add_usage(turn.id, {"input_tokens": 10, "output_tokens": 10}, None)
    body = owner_client.get("/api/spend?by=source").json()
    assert body["partial"] is True and body["rows"] == [
        {
            "key": "oikos",
            "cost": 0.0,
            "input_tokens": 10,
            "output_tokens": 10,
            "cache_read_tokens": 0,
            "sessions": 1,
            "partial": True,
        }
    ]
