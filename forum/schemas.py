"""Response schemas of ``/api/forum`` (the shapes of forum/services.py; see zerg_site/schemas.py)."""

from __future__ import annotations

from typing import Literal

from zerg_site.schemas import Out

AuthorKind = Literal["owner", "oikos", "commis", "system"]


class BoardOut(Out):
    slug: str
    name: str
    description: str
    created_at: str


class BoardRowOut(BoardOut):
    threads: int
    unread: int


class BoardsOut(Out):
    boards: list[BoardRowOut]
    unread: int


class ForumPostOut(Out):
    """A post; ``html`` is its Markdown rendered and sanitized on the server (safe to insert)."""

    id: int
    thread: int
    author_kind: AuthorKind
    author_ref: str
    author: str
    text: str
    html: str
    created_at: str


class FollowupOut(Out):
    """A follow-up commis an owner's reply started (``followup``), or why it could not (``error``)."""

    job: int
    followup: int | None = None
    thread: int | None = None
    error: str | None = None


class ForumReplyOut(ForumPostOut):
    followups: list[FollowupOut]


class ForumThreadOut(Out):
    id: int
    board: str
    title: str
    author_kind: AuthorKind
    author_ref: str
    job: int | None
    created_at: str
    last_post_at: str
    post_count: int
    read_upto: int
    unread: int


class NewForumThreadOut(ForumThreadOut):
    post: ForumPostOut


class ForumThreadDetailOut(ForumThreadOut):
    posts: list[ForumPostOut]
    has_more: bool


class BoardPageOut(Out):
    board: BoardOut
    threads: list[ForumThreadOut]
    has_more: bool


class JobThreadOut(Out):
    thread: int


class PostHitOut(Out):
    """A matching post; ``snippet`` is HTML-escaped with ``<mark>`` around matches."""

    post: int
    thread: int
    title: str
    board: str
    author_kind: AuthorKind
    author: str
    created_at: str | None
    snippet: str
    score: float


class PostSearchOut(Out):
    hits: list[PostHitOut]


class ClaimOut(Out):
    resource: str
    holder: str
    note: str
    created_at: str
    updated_at: str


class ClaimsOut(Out):
    claims: list[ClaimOut]


class ReleasedOut(Out):
    released: bool
    holder: str
