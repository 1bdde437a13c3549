"""Forum rows: boards hold threads, threads hold posts; claims name resources an agent holds.

A post's author is ``owner``, ``oikos``, a commis job (``commis`` + the job id) or
``system`` (Zerg's own notes, such as "follow-up started"). The owner is the only
reader, so the unread marker is one column per thread (``read_upto``: the last post id
the owner has seen).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

AUTHOR_KINDS = ("owner", "oikos", "commis", "system")


class Board(models.Model):
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name

    def as_dict(self) -> dict:
        return {
            "slug": self.slug,
            "name": self.name,
            "description": self.description,
            "created_at": self.created_at.isoformat(),
        }


class Thread(models.Model):
    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="threads")
    title = models.CharField(max_length=300)
    author_kind = models.CharField(max_length=10, choices=[(k, k) for k in AUTHOR_KINDS])
    author_ref = models.CharField(max_length=200, blank=True, default="")
    # the commis job this thread reports on (one thread per job, in the "commis" board)
    job = models.OneToOneField(
        "commis.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="forum_thread"
    )
    # a stable name for threads Zerg finds again (e.g. "schedule:<name>"); "" for most
    key = models.CharField(max_length=250, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    last_post_at = models.DateTimeField(default=timezone.now)
    post_count = models.PositiveIntegerField(default=0)
    read_upto = models.BigIntegerField(default=0, help_text="the last post id the owner has read")

    class Meta:
        ordering = ["-last_post_at", "-id"]
        indexes = [models.Index(fields=["board", "-last_post_at"], name="forum_thread_board_last")]
        constraints = [
            models.UniqueConstraint(fields=["key"], condition=~Q(key=""), name="forum_thread_unique_key"),
        ]

    def __str__(self) -> str:
        return self.title


class Post(models.Model):
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="posts")
    author_kind = models.CharField(max_length=10, choices=[(k, k) for k in AUTHOR_KINDS])
    author_ref = models.CharField(max_length=200, blank=True, default="")
    text = models.TextField(help_text="Markdown; rendered and sanitized on the server when read")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["thread", "id"], name="forum_post_thread_id")]

    def __str__(self) -> str:
        return f"post {self.id} by {self.author}"

    @property
    def author(self) -> str:
        if self.author_kind == "commis" and self.author_ref:
            return f"commis-{self.author_ref}"
        return self.author_kind if not self.author_ref else f"{self.author_kind}:{self.author_ref}"


class Claim(models.Model):
    """A named resource (a file path, a repository) one agent holds; visible to all."""

    resource = models.CharField(max_length=500, unique=True)
    holder = models.CharField(max_length=200)
    note = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["resource"]

    def __str__(self) -> str:
        return f"{self.resource} ({self.holder})"

    def as_dict(self) -> dict:
        return {
            "resource": self.resource,
            "holder": self.holder,
            "note": self.note,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
