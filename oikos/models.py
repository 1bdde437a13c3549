"""Oikos threads, their messages and turns (one owner message -> one turn of the graph).

The conversation the model sees lives in the langgraph checkpoint; these rows are what
the owner sees (and searches), written in short transactions while a turn runs.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from zerg_site.markdown import render_message


def _iso(value):
    return value.isoformat() if value else None


class Thread(models.Model):
    title = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    # the last activity: saves set it; QuerySet.update() does not, so a new message sets it by hand
    updated_at = models.DateTimeField(auto_now=True)
    usage = models.JSONField(default=dict, blank=True, help_text="token totals over all turns")
    cost_usd = models.FloatField(null=True, blank=True, help_text="None while any model's price is unknown")
    forum_thread = models.IntegerField(
        null=True, blank=True, unique=True, help_text="the Forum thread whose @oikos mentions it answers"
    )

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return f"thread {self.id}: {self.title}"

    def as_dict(self, preview: str = "", running: bool = False, interrupt: bool = False) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "preview": preview,
            "running": running,
            "interrupt": interrupt,
            "usage": {
                "input_tokens": int(self.usage.get("input_tokens", 0)),
                "output_tokens": int(self.usage.get("output_tokens", 0)),
                "cache_read_input_tokens": int(self.usage.get("cache_read_input_tokens", 0)),
                "cache_creation_input_tokens": int(self.usage.get("cache_creation_input_tokens", 0)),
            },
            "cost_usd": self.cost_usd,
            "forum_thread": self.forum_thread,
        }


class Turn(models.Model):
    class Status(models.TextChoices):
        """The values are the API's and the SPA's: never rename one."""

        QUEUED = "queued"
        RUNNING = "running"
        WAITING = "waiting"  # for the owner's answer to an interrupt; holds no lease
        DONE = "done"
        FAILED = "failed"

    # Short names for the members, as the code base has always spelled them (Turn.QUEUED).
    QUEUED, RUNNING, WAITING = Status.QUEUED, Status.RUNNING, Status.WAITING
    DONE, FAILED = Status.DONE, Status.FAILED
    ACTIVE = (QUEUED, RUNNING)

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="turns")
    message = models.ForeignKey(
        "Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="the owner message that started it",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True, default="")
    usage = models.JSONField(default=dict, blank=True)
    cost_usd = models.FloatField(null=True, blank=True)
    # claim (see oikos/turns.py): one runner at a time, found dead by its heartbeat or pid
    lease = models.CharField(max_length=64, blank=True, default="")
    runner = models.CharField(max_length=200, blank=True, default="", help_text="host:pid of the runner")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # human in the loop: the pending question, and the owner's answer until the graph takes it
    interrupt = models.JSONField(null=True, blank=True)
    answer = models.CharField(max_length=20, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="oikos_turn_status_hb")]

    def __str__(self) -> str:
        return f"turn {self.id} of thread {self.thread_id}: {self.status}"

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "thread": self.thread_id,
            "status": self.status,
            "error": self.error,
            "usage": self.usage,
            "cost_usd": self.cost_usd,
            "created_at": _iso(self.created_at),
            "finished_at": _iso(self.finished_at),
        }

    def interrupt_dict(self) -> dict | None:
        if self.status != self.WAITING or not self.interrupt:
            return None
        return {
            "turn": self.id,
            "question": self.interrupt.get("question", ""),
            "options": ["approve", "reject"],
            "action": self.interrupt.get("action") or {},
        }


class Message(models.Model):
    # "untrusted": text that starts a turn or rides along but is not the owner's (oikos/untrusted.py)
    ROLES = [(r, r) for r in ("owner", "assistant", "tool_call", "tool_result", "system", "untrusted")]

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    turn = models.ForeignKey(Turn, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    role = models.CharField(max_length=12, choices=ROLES)
    text = models.TextField(blank=True, default="")
    full_text = models.TextField(blank=True, default="", help_text="a large tool output in full (text is cut)")
    data = models.JSONField(default=dict, blank=True)
    streaming = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["thread", "id"], name="oikos_msg_thread")]

    def __str__(self) -> str:
        return f"{self.role} message {self.id} in thread {self.thread_id}"

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "thread": self.thread_id,
            "turn": self.turn_id,
            "role": self.role,
            "text": self.text,
            "html": self.html(),
            "data": self.data,
            "streaming": self.streaming,
            "created_at": _iso(self.created_at),
        }

    def html(self) -> str:
        """A finished model reply as sanitized HTML (zerg_site/markdown.py), so the SPA ships no Markdown
        library; "" for everything else (the SPA shows that text as it is: a slash command's answer is
        laid out in lines, not Markdown)."""
        if self.role != "assistant" or self.streaming or (self.data or {}).get("slash"):
            return ""

        return render_message(self.text)
