"""The Forum as plain Python: what the API, the commis hooks, the agent tools and Oikos call.

Every write is one short transaction (the post, the thread's counters and the live
event together); what follows a post -- follow-up commis, the ``@oikos`` signal -- runs
after it committed, so a slow receiver never holds the database's write lock.
Bad input raises :class:`ForumError` (a ValueError) before anything is stored.
"""

from __future__ import annotations

import logging
import re

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.text import slugify

from forum import followups, signals
from forum.models import AUTHOR_KINDS, Board, Claim, Post, Thread
from zerg_site.events import publish
from zerg_site.markdown import mentions, render

log = logging.getLogger("zerg.forum")

TOPIC = "forum"
MAX_TEXT = 100_000
MAX_TITLE = 300
MAX_RESOURCE = 500
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")
KNOWN_BOARDS = {
    "commis": ("Commis", "One thread per commis job: spawned, started, finished, and what it posts."),
    "schedules": ("Schedules", "Scheduled jobs that failed, so nothing fails silently."),
    "general": ("General", "Everything else."),
}


class ForumError(ValueError):
    """Bad input (empty text, unknown author kind, bad board name...): nothing was stored."""


class NotFound(ForumError):
    """No such thread or board."""


class ClaimConflict(ForumError):
    """The resource is claimed by someone else; the message names the holder."""


def topic(thread_id: int) -> str:
    return f"{TOPIC}:{thread_id}"


# --- shapes


def post_dict(post: Post) -> dict:
    return {
        "id": post.id,
        "thread": post.thread_id,
        "author_kind": post.author_kind,
        "author_ref": post.author_ref,
        "author": post.author,
        "text": post.text,
        "html": render(post.text),
        "created_at": post.created_at.isoformat(),
    }


def thread_dict(thread: Thread, unread: int | None = None) -> dict:
    return {
        "id": thread.id,
        "board": thread.board.slug,
        "title": thread.title,
        "author_kind": thread.author_kind,
        "author_ref": thread.author_ref,
        "job": thread.job_id,
        "created_at": thread.created_at.isoformat(),
        "last_post_at": thread.last_post_at.isoformat(),
        "post_count": thread.post_count,
        "read_upto": thread.read_upto,
        "unread": unread if unread is not None else _unread(Thread.objects.filter(id=thread.id)),
    }


def _unread_filter(prefix: str = "posts__") -> Q:
    """Posts the owner has not seen: after the thread's read marker and not the owner's own."""
    return Q(**{f"{prefix}id__gt": F("read_upto")}) & ~Q(**{f"{prefix}author_kind": "owner"})


def _unread(threads) -> int:
    row = threads.annotate(n=Count("posts", filter=_unread_filter())).values_list("n", flat=True).first()
    return row or 0


def _with_unread(threads):
    return threads.select_related("board").annotate(unread_n=Count("posts", filter=_unread_filter()))


# --- validation


def _check_author(author_kind: str, author_ref: str) -> None:
    if author_kind not in AUTHOR_KINDS:
        raise ForumError(f"unknown author kind {author_kind!r} (use one of {', '.join(AUTHOR_KINDS)})")
    if len(author_ref or "") > 200:
        raise ForumError("author_ref is longer than 200 characters")


def _check_text(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ForumError("the post is empty")
    if len(text) > MAX_TEXT:
        raise ForumError(f"the post is longer than {MAX_TEXT} characters ({len(text)})")
    return text


def board_slug(board: str) -> str:
    slug = slugify(board or "")[:60].strip("-")
    if not slug or not SLUG.match(slug):
        raise ForumError(f"bad board name {board!r}: use letters, digits and dashes")
    return slug


def ensure_board(board: str) -> Board:
    slug = board_slug(board)
    name, description = KNOWN_BOARDS.get(
        slug, (board.strip()[:100] if board.strip() != slug else slug.replace("-", " ").title(), "")
    )
    found = Board.objects.filter(slug=slug).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return Board.objects.create(slug=slug, name=name, description=description)
    except IntegrityError:  # created meanwhile by another process
        return Board.objects.get(slug=slug)


def get_thread(thread_id: int) -> Thread:
    thread = Thread.objects.select_related("board").filter(id=thread_id).first()
    if thread is None:
        raise NotFound(f"no thread {thread_id}")
    return thread


# --- writing


def _publish(thread: Thread, post: Post, created: bool) -> None:
    payload = {
        "thread": thread.id,
        "board": thread.board.slug,
        "title": thread.title[:200],
        "post": post.id,
        "author": post.author,
        "author_kind": post.author_kind,
        "excerpt": post.text[:200],
        "new_thread": created,
    }
    publish(topic(thread.id), "forum.post", payload)
    publish(TOPIC, "forum.post", payload)


def _add_post(thread: Thread, text: str, author_kind: str, author_ref: str, created: bool = False) -> Post:
    """Inside the caller's transaction: the row, the thread's counters, the live event."""
    now = timezone.now()
    post = Post.objects.create(thread=thread, author_kind=author_kind, author_ref=author_ref, text=text, created_at=now)
    fields = {"last_post_at": now, "post_count": F("post_count") + 1}
    if author_kind == "owner":
        fields["read_upto"] = post.id  # the owner has read what they wrote
    Thread.objects.filter(id=thread.id).update(**fields)
    _publish(thread, post, created)
    return post


def new_thread(
    board: str,
    title: str,
    text: str,
    author_kind: str,
    author_ref: str = "",
    *,
    job=None,
    key: str = "",
    quiet: bool = False,
) -> dict:
    """A thread with its first post; the board is created if missing (``quiet``: see :func:`post`)."""
    _check_author(author_kind, author_ref)
    title = (title or "").strip()
    if not title:
        raise ForumError("the thread needs a title")
    if len(title) > MAX_TITLE:
        raise ForumError(f"the title is longer than {MAX_TITLE} characters")
    _check_text(text)
    board_row = ensure_board(board)
    with transaction.atomic():
        thread = Thread.objects.create(
            board=board_row, title=title, author_kind=author_kind, author_ref=author_ref, job=job, key=key
        )
        post = _add_post(thread, text, author_kind, author_ref, created=True)
    thread.refresh_from_db()
    result = thread_dict(thread)
    result["post"] = post_dict(post)
    if not quiet:
        _after_post(thread, post)
    return result


def post(thread_id: int, text: str, author_kind: str, author_ref: str = "", *, quiet: bool = False) -> dict:
    """A reply. For the owner it may start follow-up commis (see :mod:`forum.followups`):
    the result's ``followups`` lists ``{"job": parent, "followup": new id}`` or
    ``{"job": parent, "error": why}``. Only the owner's posts start follow-ups. ``quiet``: a
    report that quotes data (a job's task or output, posted by forum.hooks) calls no one: an
    ``@oikos`` inside it is text, not a request."""
    _check_author(author_kind, author_ref)
    _check_text(text)
    thread = get_thread(thread_id)
    targets = followups.targets(thread, text) if author_kind == "owner" else []  # may raise ForumError
    with transaction.atomic():
        row = _add_post(thread, text, author_kind, author_ref)
    result = post_dict(row)
    if not quiet:
        _after_post(thread, row)
    result["followups"] = [followups.start(job, row) for job in targets]
    return result


def _after_post(thread: Thread, row: Post) -> None:
    if row.author_kind == "oikos":
        return  # Oikos mentioning itself must not loop
    if mentions(row.text)[1]:
        for receiver, outcome in signals.oikos_mentioned.send_robust(sender=Post, post=row):
            if isinstance(outcome, Exception):
                log.error("forum post %s: %r failed: %r", row.id, receiver, outcome, exc_info=outcome)


def note(thread_id: int, text: str) -> dict:
    """Zerg's own message in a thread (author ``system``)."""
    with transaction.atomic():
        row = _add_post(get_thread(thread_id), text, "system", "")
    return post_dict(row)


def mark_read(thread_id: int, upto: int | None = None) -> dict:
    """Move the owner's read marker forward (to the newest post when ``upto`` is not given)."""
    thread = get_thread(thread_id)
    if upto is None:
        upto = Post.objects.filter(thread=thread).order_by("-id").values_list("id", flat=True).first() or 0
    Thread.objects.filter(id=thread.id, read_upto__lt=upto).update(read_upto=upto)
    thread.refresh_from_db()
    return thread_dict(thread)


# --- reading


def boards() -> list[dict]:
    """Every board with its thread count and the owner's unread count."""
    rows = Board.objects.annotate(thread_count=Count("threads"))
    unread = dict(
        Post.objects.filter(id__gt=F("thread__read_upto"))
        .exclude(author_kind="owner")
        .values("thread__board")
        .annotate(n=Count("id"))
        .values_list("thread__board", "n")
    )
    return [{**b.as_dict(), "threads": b.thread_count, "unread": unread.get(b.id, 0)} for b in rows]


def read_board(board: str, limit: int = 20, before: str | None = None) -> dict:
    """A board's threads, most recently active first (``before``: an ISO ``last_post_at`` to page on)."""
    slug = board_slug(board)
    row = Board.objects.filter(slug=slug).first()
    if row is None:
        raise NotFound(f"no board {slug!r}")
    limit = max(1, min(int(limit), 200))
    threads = _with_unread(Thread.objects.filter(board=row))
    if before:
        threads = threads.filter(last_post_at__lt=before)
    page = list(threads.order_by("-last_post_at", "-id")[: limit + 1])
    return {
        "board": row.as_dict(),
        "threads": [thread_dict(t, t.unread_n) for t in page[:limit]],
        "has_more": len(page) > limit,
    }


def read_thread(thread_id: int, limit: int = 50) -> dict:
    """A thread and its newest ``limit`` posts, oldest first."""
    thread = get_thread(thread_id)
    limit = max(1, min(int(limit), 500))
    posts = list(Post.objects.filter(thread=thread).order_by("-id")[:limit])[::-1]
    result = thread_dict(thread)
    result["posts"] = [post_dict(p) for p in posts]
    result["has_more"] = thread.post_count > len(posts)
    return result


def unread_total() -> int:
    return Post.objects.filter(id__gt=F("thread__read_upto")).exclude(author_kind="owner").count()


def job_thread(job_id: int) -> int | None:
    """The Commis-board thread of a job."""
    return Thread.objects.filter(job_id=job_id).values_list("id", flat=True).first()


def search(q: str, limit: int = 20) -> list[dict]:
    # lazy: +0.7 MB RSS / 3 modules at every django.setup() (ForumConfig.ready loads this module)
    from forum.search import search as fts

    return fts(q, limit=limit)


# --- claims


def _check_claim(resource: str, holder: str) -> tuple[str, str]:
    resource, holder = (resource or "").strip(), (holder or "").strip()
    if not resource:
        raise ForumError("name the resource to claim (a file path, a repository...)")
    if len(resource) > MAX_RESOURCE:
        raise ForumError(f"the resource name is longer than {MAX_RESOURCE} characters")
    if not holder or len(holder) > 200:
        raise ForumError("the holder must be a name of 1 to 200 characters")
    return resource, holder


def claim(resource: str, holder: str, note: str = "") -> dict:
    """Claim ``resource`` for ``holder`` (again: refreshes the note). Raises ClaimConflict if another holds it."""
    resource, holder = _check_claim(resource, holder)
    note = (note or "")[:500]
    now = timezone.now()
    for _ in range(2):
        existing = Claim.objects.filter(resource=resource).first()
        if existing is not None:
            if existing.holder != holder:
                raise ClaimConflict(
                    f"{resource} is claimed by {existing.holder} since "
                    f"{existing.created_at:%Y-%m-%d %H:%M} UTC" + (f" ({existing.note})" if existing.note else "")
                )
            Claim.objects.filter(id=existing.id, holder=holder).update(note=note or existing.note, updated_at=now)
            existing.refresh_from_db()
            return existing.as_dict()
        try:
            with transaction.atomic():
                row = Claim.objects.create(resource=resource, holder=holder, note=note, created_at=now)
        except IntegrityError:  # someone claimed it between the read and the insert: look again
            continue
        publish(TOPIC, "forum.claim", {"resource": resource, "holder": holder, "note": note})
        return row.as_dict()
    raise ClaimConflict(f"{resource} is being claimed by someone else; try again")


def release(resource: str, holder: str) -> bool:
    """Release a claim ``holder`` has; False if it is not theirs (or not claimed)."""
    resource, holder = _check_claim(resource, holder)
    gone = Claim.objects.filter(resource=resource, holder=holder).delete()[0] > 0
    if gone:
        publish(TOPIC, "forum.release", {"resource": resource, "holder": holder})
    return gone


def force_release(resource: str) -> str | None:
    """The owner breaks a claim; returns who held it."""
    row = Claim.objects.filter(resource=(resource or "").strip()).first()
    if row is None:
        return None
    if Claim.objects.filter(id=row.id).delete()[0]:
        publish(TOPIC, "forum.release", {"resource": row.resource, "holder": row.holder, "forced": True})
    return row.holder


def release_all(holder: str) -> list[str]:
    """Release every claim of ``holder`` (a commis job that finished)."""
    names = list(Claim.objects.filter(holder=holder).values_list("resource", flat=True))
    if names:
        Claim.objects.filter(holder=holder, resource__in=names).delete()
        publish(TOPIC, "forum.release", {"resources": names, "holder": holder})
    return names


def claims() -> list[dict]:
    return [c.as_dict() for c in Claim.objects.all()]
