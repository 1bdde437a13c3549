"""``/api/forum``: boards, threads, posts (as the owner), read markers, claims, search.

Bad input is a 400 with the reason (404 for an unknown thread or board, 409 for a
claim held by someone else), and nothing is stored then.
"""

from __future__ import annotations

from django.utils.dateparse import parse_datetime
from ninja import Router, Schema
from ninja.errors import HttpError

from forum import services
from forum.schemas import (
    BoardPageOut,
    BoardsOut,
    ClaimOut,
    ClaimsOut,
    ForumReplyOut,
    ForumThreadDetailOut,
    ForumThreadOut,
    JobThreadOut,
    NewForumThreadOut,
    PostSearchOut,
    ReleasedOut,
)
from forum.services import ClaimConflict, ForumError, NotFound
from zerg_site.params import Int64
from zerg_site.schemas import owner

router = Router(tags=["forum"])


class ThreadIn(Schema):
    title: str
    text: str


class PostIn(Schema):
    text: str


class ReadIn(Schema):
    upto: int | None = None


class ClaimIn(Schema):
    resource: str
    note: str = ""


class ReleaseIn(Schema):
    resource: str
    force: bool = False


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except NotFound as exc:
        raise HttpError(404, str(exc)) from None
    except ClaimConflict as exc:
        raise HttpError(409, str(exc)) from None
    except ForumError as exc:
        raise HttpError(400, str(exc)) from None


@router.get("/boards", response=owner(BoardsOut))
def list_boards(request):
    """Every board with thread and unread counts, and the total unread."""
    return {"boards": services.boards(), "unread": services.unread_total()}


@router.get("/boards/{slug}", response=owner(BoardPageOut, 400, 404))
def board(request, slug: str, limit: Int64 = 30, before: str | None = None):
    """A board's threads, most recently active first; ``before`` = the last ``last_post_at`` seen."""
    if before:
        if parse_datetime(before) is None:
            raise HttpError(400, "before must be an ISO date-time (a thread's last_post_at)")
    return _call(services.read_board, slug, limit, before)


@router.post("/boards/{slug}/threads", response=owner(NewForumThreadOut, 400, 422))
def create_thread(request, slug: str, body: ThreadIn):
    """A new thread by the owner (the board is created if missing)."""
    return _call(services.new_thread, slug, body.title, body.text, "owner")


@router.get("/threads/{thread_id}", response=owner(ForumThreadDetailOut, 400, 404))
def thread(request, thread_id: Int64, limit: Int64 = 100):
    return _call(services.read_thread, thread_id, limit)


@router.post("/threads/{thread_id}/posts", response=owner(ForumReplyOut, 400, 404, 422), exclude_unset=True)
def reply(request, thread_id: Int64, body: PostIn):
    """The owner's reply; may start follow-up commis (listed in ``followups``)."""
    return _call(services.post, thread_id, body.text, "owner")


@router.post("/threads/{thread_id}/read", response=owner(ForumThreadOut, 400, 404, 422))
def mark_read(request, thread_id: Int64, body: ReadIn):
    """Move the owner's read marker (to the newest post without ``upto``)."""
    if body.upto is not None and body.upto < 0:
        raise HttpError(400, "upto must be a post id")
    return _call(services.mark_read, thread_id, body.upto)


@router.get("/jobs/{job_id}/thread", response=owner(JobThreadOut, 400, 404))
def job_thread(request, job_id: Int64):
    """The Commis-board thread of a job."""
    thread_id = services.job_thread(job_id)
    if thread_id is None:
        raise HttpError(404, f"commis job {job_id} has no thread")
    return {"thread": thread_id}


@router.get("/search", response=owner(PostSearchOut, 400))
def search(request, q: str, limit: Int64 = 20):
    if not q.strip():
        raise HttpError(400, "q is empty")
    return {"hits": services.search(q, limit)}


@router.get("/claims", response=owner(ClaimsOut))
def list_claims(request):
    return {"claims": services.claims()}


@router.post("/claims", response=owner(ClaimOut, 400, 409, 422))
def claim(request, body: ClaimIn):
    """Claim a resource for the owner (409 naming the holder if someone else has it)."""
    return _call(services.claim, body.resource, "owner", body.note)


@router.post("/claims/release", response=owner(ReleasedOut, 400, 404, 409, 422))
def release(request, body: ReleaseIn):
    """Release the owner's claim, or (``force``) anyone's."""
    if body.force:
        holder = _call(services.force_release, body.resource)
        if holder is None:
            raise HttpError(404, f"{body.resource} is not claimed")
        return {"released": True, "holder": holder}
    if not _call(services.release, body.resource, "owner"):
        raise HttpError(409, f"{body.resource} is not claimed by the owner (release it with force)")
    return {"released": True, "holder": "owner"}
