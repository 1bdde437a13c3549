"""``/api/timeline/``: sessions, one session with its events, search and export (owner auth).

``{id}`` is Zerg's session id (digits) or the provider's session id.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from django.db.models import Count
from django.http import Http404, StreamingHttpResponse
from django.utils import timezone as dj_tz
from django.utils.dateparse import parse_date, parse_datetime
from ninja import Router
from ninja.errors import HttpError

from timeline.export import iter_file_bytes, main_file
from timeline.models import Event, Session
from timeline.schemas import EventSearchOut, SessionDetailOut, SessionsOut
from timeline.search import Filters, search
from zerg_site.downloads import attachment
from zerg_site.markdown import render_message
from zerg_site.params import Int64
from zerg_site.schemas import TEXT, owner, text_body

router = Router(tags=["timeline"])
MAX_PAGE = 200
WARMUP = "Warmup"


def _when(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise HttpError(400, f"{name} must be an ISO date or date-time, such as 2025-06-01")
        parsed = datetime(day.year, day.month, day.day)
    if dj_tz.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def get_session(session_id: str, device: str | None = None) -> Session:
    """A session by Zerg's id or by the provider's. Two devices may have shipped the same provider id
    (each has its own session of it): ``device`` picks that device's; otherwise such an id is
    ambiguous (409) rather than silently one of them."""
    qs = Session.objects.select_related("parent")
    if session_id.isascii() and session_id.isdigit():  # not "²": int() refuses it
        session = qs.filter(pk=int(session_id)).first()
        if session is not None:
            return session
    matches = list(qs.filter(provider_session_id=session_id).order_by("id")[:20])
    own = [s for s in matches if device and s.device == device]
    if own:
        return own[0]
    if not matches:
        raise Http404("no such session")
    if len({s.device for s in matches}) > 1:
        listed = ", ".join(f"{s.id} (device {s.device})" for s in matches)
        raise HttpError(
            409, f"sessions of several devices have the id {session_id}: name one by Zerg's session id: {listed}"
        )
    return matches[0]


@router.get("/sessions", response=owner(SessionsOut, 400))
def list_sessions(
    request,
    provider: str | None = None,
    project: str | None = None,
    device: str | None = None,
    branch: str | None = None,
    since: str | None = None,
    until: str | None = None,
    subagents: bool = False,
    empty: bool = False,
    limit: Int64 = 50,
    offset: Int64 = 0,
):
    """Sessions, newest activity first. Subagent sessions are left out unless ``subagents=true``; sessions
    that hold no events (a parent file left empty whose subagents hold the work) unless ``empty=true``:
    ``hidden_empty`` says how many the filters matched but left out."""
    qs = Session.objects.all()
    if not subagents:
        qs = qs.filter(parent__isnull=True)
    for field, value in (("provider", provider), ("project", project), ("device", device), ("git_branch", branch)):
        if value:
            qs = qs.filter(**{field: value})
    start, end = _when(since, "since"), _when(until, "until")
    if start:
        qs = qs.filter(ended_at__gte=start)
    if end:
        qs = qs.filter(started_at__lt=end)
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    hidden = 0 if empty else qs.filter(event_count=0).count()
    if not empty:
        qs = qs.filter(event_count__gt=0)
    total = qs.count()
    rows = list(qs.order_by("-ended_at", "-id")[offset : offset + limit])
    counts = dict(
        Session.objects.filter(parent__in=[s.id for s in rows])
        .values("parent")
        .annotate(n=Count("id"))
        .values_list("parent", "n")
    )
    titles = _titles_from_subagents([s for s in rows if not s.display_title and counts.get(s.id)])
    sessions = [{**s.as_dict(), "subagent_count": counts.get(s.id, 0)} for s in rows]
    for row in sessions:
        row["title"] = row["title"] or titles.get(row["id"], "")
    return {"sessions": sessions, "total": total, "hidden_empty": hidden, "limit": limit, "offset": offset}


def _titles_from_subagents(parents: list[Session]) -> dict[int, str]:
    """A parent with no name of its own (its file left empty) is named by its first subagent that
    has one: one query for the page."""
    if not parents:
        return {}
    titles: dict[int, str] = {}
    for child in (
        Session.objects.filter(parent__in=parents)
        .exclude(prompt="", title="")
        .order_by("started_at", "id")
        .only("parent_id", "prompt", "title")
    ):
        if titles.get(child.parent_id, WARMUP) == WARMUP:  # Claude Code's "Warmup" pings name nothing
            titles[child.parent_id] = child.display_title
    return titles


@router.get("/sessions/{session_id}", response=owner(SessionDetailOut, 400, 404, 409))
def session_detail(request, session_id: str, after: Int64 = -1, limit: Int64 = 200, kind: str | None = None):
    """A session, its subagents, and a page of its events (``after`` = the last ordinal seen)."""
    session = get_session(session_id)
    limit = max(1, min(limit, 1000))
    events = Event.objects.filter(session=session, ordinal__gt=after)
    if kind:
        events = events.filter(kind=kind)
    page = list(events.order_by("ordinal")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return {
        "session": session.as_dict(),
        "parent": session.parent.as_dict() if session.parent else None,
        "subagents": [s.as_dict() for s in session.subagents.order_by("started_at", "id")],
        # a session can span files (Codex turns, a rollout moved to archived_sessions/): each exports apart
        "files": [f.as_dict() for f in session.files.order_by("-updated_at", "-id")],
        "events": [{**e.as_dict(), "html": render_message(e.text) if e.kind == "message" else ""} for e in page],
        "next_after": page[-1].ordinal if more and page else None,
    }


@router.get("/search", response=owner(EventSearchOut, 400, 404, 409))
def search_view(
    request,
    q: str,
    provider: str | None = None,
    project: str | None = None,
    device: str | None = None,
    branch: str | None = None,
    since: str | None = None,
    until: str | None = None,
    role: str | None = None,
    tool: str | None = None,
    kind: str | None = None,
    session: str | None = None,
    sort: str = "relevance",
    limit: Int64 = 20,
    offset: Int64 = 0,
):
    """Events matching ``q`` (all words; "quoted phrases"), with a highlighted snippet each."""
    if sort not in ("relevance", "recency"):
        raise HttpError(400, "sort must be relevance or recency")
    filters = Filters(
        provider=provider,
        project=project,
        device=device,
        branch=branch,
        since=_when(since, "since"),
        until=_when(until, "until"),
        role=role,
        tool=tool,
        kind=kind,
        session_id=get_session(session).id if session else None,
    )
    result = search(q, filters, sort=sort, limit=limit, offset=offset)
    return {"q": q, "sort": sort, "limit": max(1, min(limit, 200)), "offset": max(0, offset), **result}


@router.get(
    "/sessions/{session_id}/export",
    response=owner(TEXT, 400, 404, 409),
    openapi_extra=text_body("application/x-ndjson", "application/json", binary=True),
)
def export_view(request, session_id: str, file: Int64 | None = None):
    """The original session file, byte for byte (its current generation): the one most recently
    shipped, or ``file`` (an id from the session's ``files``) for a session that spans several."""
    session = get_session(session_id)
    source = main_file(session) if file is None else session.files.filter(id=file).first()
    if source is None:
        raise HttpError(404, "this session has no stored file" if file is None else "no such file in this session")
    name = os.path.basename(source.path) or f"session-{session.id}.jsonl"
    content_type = "application/json" if source.provider == "gemini" else "application/x-ndjson"
    response = StreamingHttpResponse(iter_file_bytes(source), content_type=content_type)
    response["Content-Disposition"] = attachment(name, fallback=f"session-{session.id}.jsonl")
    return response
