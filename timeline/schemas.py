"""Response schemas of ``/api/timeline`` (``Session.as_dict()``, ``Event.as_dict()``,
``SourceFile.as_dict()``, search hits; see zerg_site/schemas.py)."""

from __future__ import annotations

from typing import Any

from zerg_site.schemas import Out


class GitOut(Out):
    remote: str
    branch: str
    commit: str


class TokenCountsOut(Out):
    input: int
    output: int
    cache_read: int
    cache_creation: int


class SessionOut(Out):
    """``Session.as_dict()``: one agent session (``parent_id`` set for a subagent's)."""

    id: int
    provider: str
    provider_session_id: str
    parent_id: int | None
    project: str
    cwd: str
    device: str
    git: GitOut
    title: str  # what a person knows it by: ``prompt``, else ``cli_title``, else ""
    prompt: str  # the first real user prompt (timeline/titles.py)
    cli_title: str  # the CLI's own title record (Claude Code's summary / custom-title)
    model: str
    version: str
    started_at: str | None
    ended_at: str | None
    tokens: TokenCountsOut
    cost_usd: float | None
    cost_partial: bool
    event_count: int
    malformed_count: int
    unknown_count: int


class SessionRowOut(SessionOut):
    """A session in the list, with how many subagent sessions it has."""

    subagent_count: int


class SessionsOut(Out):
    sessions: list[SessionRowOut]
    total: int
    hidden_empty: int  # sessions the filters matched that hold no events, left out unless ``empty=true``
    limit: int
    offset: int


class TimelineEventOut(Out):
    """``Event.as_dict()`` and ``html``: one event of a session (``offset``: its line's byte offset in the file)."""

    id: int
    session_id: int
    ordinal: int
    kind: str
    role: str
    record_type: str
    text: str
    tool_name: str
    tool_input: str
    tool_output: str
    tool_call_id: str
    usage: dict[str, Any] | None
    model: str
    timestamp: str | None
    uuid: str
    parent_uuid: str
    is_sidechain: bool
    offset: int | None
    # a message's text rendered from its Markdown and sanitized (zerg_site/markdown.py); "" for other
    # kinds and for text over 30,000 characters (the SPA shows that as plain text)
    html: str


class SourceFileOut(Out):
    id: int
    device: str
    path: str
    provider: str
    generation: int
    size: int
    updated_at: str


class SessionDetailOut(Out):
    session: SessionOut
    parent: SessionOut | None
    subagents: list[SessionOut]
    files: list[SourceFileOut]
    events: list[TimelineEventOut]
    next_after: int | None


class HitSessionOut(Out):
    id: int
    provider: str
    provider_session_id: str
    title: str
    project: str


class EventHitOut(Out):
    """An event matching the query; ``snippet`` is HTML-escaped with ``<mark>`` around matches."""

    event_id: int
    session_id: int
    ordinal: int
    kind: str
    role: str
    tool_name: str
    timestamp: str | None
    snippet: str
    score: float
    session: HitSessionOut


class EventSearchOut(Out):
    q: str
    sort: str
    limit: int
    offset: int
    hits: list[EventHitOut]
    has_more: bool
