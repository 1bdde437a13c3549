"""Response schemas of ``/api/oikos`` (``Thread``/``Turn``/``Message`` ``as_dict()``; see zerg_site/schemas.py)."""

from __future__ import annotations

from typing import Any, Literal

from zerg_site.schemas import Out

TurnStatus = Literal["queued", "running", "waiting", "done", "failed"]
# untrusted: a job's or agent's text that started a turn (never the owner's words)
Role = Literal["owner", "assistant", "tool_call", "tool_result", "system", "untrusted"]


class OikosUsageOut(Out):
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int


class OikosThreadOut(Out):
    """A chat thread: ``preview`` is its last words, ``running``/``interrupt`` its turn's state."""

    id: int
    title: str
    created_at: str | None
    updated_at: str | None
    preview: str
    running: bool
    interrupt: bool
    usage: OikosUsageOut
    cost_usd: float | None
    forum_thread: int | None


class OikosMessageOut(Out):
    """``data``: tool_call {name, input, tool_use_id, job_id?}; tool_result {tool_use_id, is_error, truncated, job_id?}.
    ``html``: a finished model reply rendered from its Markdown and sanitized (no raw HTML, only http(s),
    mailto and in-app links); "" for every other message and while it streams."""

    id: int
    thread: int
    turn: int | None
    role: Role
    text: str
    html: str
    data: dict[str, Any]
    streaming: bool
    created_at: str | None


class OikosTurnOut(Out):
    id: int
    thread: int
    status: TurnStatus
    error: str
    usage: dict[str, Any]
    cost_usd: float | None
    created_at: str | None
    finished_at: str | None


class OikosInterruptOut(Out):
    """The question a waiting turn asks the owner (approve or reject ``action``)."""

    turn: int
    question: str
    options: list[str]
    action: dict[str, Any]


class OikosTurnDetailOut(OikosTurnOut):
    interrupt: OikosInterruptOut | None


class OikosThreadDetailOut(Out):
    thread: OikosThreadOut
    messages: list[OikosMessageOut]
    turn: OikosTurnOut | None
    interrupt: OikosInterruptOut | None
    timeline_session: int | None  # the thread's session in the Timeline, once it has one


class OikosPostedOut(Out):
    message: OikosMessageOut
    turn: OikosTurnOut


class MessageTextOut(Out):
    id: int
    text: str
