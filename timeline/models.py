"""The session archive: sessions, their events, and the lossless source-line archive.

The archive keeps each shipped file's bytes as it was written, in ``SourceChunk`` rows:
runs of complete lines (at most ``CHUNK_BYTES`` each) of one file generation, starting
at a byte offset, zstd-compressed. Exporting a session concatenates its file's chunks,
byte for byte. Each event names the chunk of the line it came from (and the line's
offset); nothing is copied per line.

Why chunks rather than a row per line: JSONL compresses ~5x in runs of lines and barely
2x line by line, and one row per line (plus its content digest index) was half of what
an ingest wrote (timeline migration 0005).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from timeline.chunks import decompress, line_at


class Session(models.Model):
    CLAUDE, CODEX, GEMINI, ZERG_AGENT = "claude", "codex", "gemini", "zerg-agent"
    PROVIDERS = [(CLAUDE, "Claude Code"), (CODEX, "Codex"), (GEMINI, "Gemini CLI"), (ZERG_AGENT, "Zerg agent")]

    provider = models.CharField(max_length=16, choices=PROVIDERS)
    provider_session_id = models.CharField(max_length=200)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="subagents")
    project = models.CharField(max_length=300, blank=True, default="")
    cwd = models.TextField(blank=True, default="")
    device = models.CharField(max_length=100, blank=True, default="")
    git_remote = models.TextField(blank=True, default="")
    git_branch = models.CharField(max_length=300, blank=True, default="")
    git_commit = models.CharField(max_length=64, blank=True, default="")
    title = models.TextField(blank=True, default="")  # the CLI's own title (summary, custom-title)
    prompt = models.TextField(blank=True, default="", help_text="the first real user prompt (timeline/titles.py)")
    model = models.CharField(max_length=100, blank=True, default="")
    version = models.CharField(max_length=50, blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_creation_tokens = models.BigIntegerField(default=0)
    cost_usd = models.FloatField(
        null=True, blank=True, help_text="null: no token has a known price (timeline/pricing.py)"
    )
    cost_partial = models.BooleanField(default=False, help_text="some tokens are of a model with no known price")
    event_count = models.IntegerField(default=0)
    malformed_count = models.IntegerField(default=0)
    unknown_count = models.IntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)  # ingest's SQL sets it too (timeline storage)

    class Meta:
        # A device's session id names a session of that device only: another device shipping the same id
        # gets a session of its own, never lines in this one (timeline migration 0010).
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_session_id", "device"], name="session_provider_sid_device"
            )
        ]
        indexes = [
            models.Index(fields=["-ended_at"], name="session_ended"),
            models.Index(fields=["project", "-ended_at"], name="session_project"),
            models.Index(fields=["device", "-ended_at"], name="session_device"),
            models.Index(fields=["git_branch"], name="session_branch"),
            # Covers exactly what spend reads of a session (spend/query.py: the range on ended_at, the
            # sources it leaves out, the keys it groups by, the sums and the count), so a year's ~100,000
            # sessions are added up from the index alone instead of one table lookup each (timeline
            # migration 0014, bench/README.md "Spend"). id: Postgres counts it (SQLite has it anyway).
            models.Index(
                fields=[
                    "ended_at",
                    "provider",
                    "device",
                    "model",
                    "project",
                    "cost_usd",
                    "cost_partial",
                    "input_tokens",
                    "output_tokens",
                    "cache_read_tokens",
                    "cache_creation_tokens",
                    "id",
                ],
                name="session_spend",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.provider_session_id}"

    @property
    def display_title(self) -> str:
        """What a person knows the session by: the prompt they typed first, else the CLI's title; ""
        when it has neither (the SPA then names it by its project and day, never its UUID)."""
        return self.prompt or self.title

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "provider": self.provider,
            "provider_session_id": self.provider_session_id,
            "parent_id": self.parent_id,
            "project": self.project,
            "cwd": self.cwd,
            "device": self.device,
            "git": {"remote": self.git_remote, "branch": self.git_branch, "commit": self.git_commit},
            "title": self.display_title,
            "prompt": self.prompt,
            "cli_title": self.title,
            "model": self.model,
            "version": self.version,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "tokens": {
                "input": self.input_tokens,
                "output": self.output_tokens,
                "cache_read": self.cache_read_tokens,
                "cache_creation": self.cache_creation_tokens,
            },
            "cost_usd": self.cost_usd,
            "cost_partial": self.cost_partial,
            "event_count": self.event_count,
            "malformed_count": self.malformed_count,
            "unknown_count": self.unknown_count,
        }


class SourceFile(models.Model):
    """A session file on a device, as the Shipper tails it."""

    device = models.CharField(max_length=100)
    path = models.TextField()
    provider = models.CharField(max_length=16)
    session = models.ForeignKey(Session, null=True, blank=True, on_delete=models.CASCADE, related_name="files")
    generation = models.IntegerField(default=0)
    size = models.BigIntegerField(default=0, help_text="bytes stored contiguously from offset 0 in this generation")
    updated_at = models.DateTimeField(auto_now=True)  # ingest's SQL sets it too (timeline storage)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "path"], name="sourcefile_device_path")]

    def __str__(self) -> str:
        return f"{self.device}:{self.path}"

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "device": self.device,
            "path": self.path,
            "provider": self.provider,
            "generation": self.generation,
            "size": self.size,
            "updated_at": self.updated_at.isoformat(),
        }


class SourceChunk(models.Model):
    """Complete lines ``[offset, offset + length)`` of one file generation (or one whole Gemini
    document), zstd-compressed (``timeline.chunks``)."""

    # no index of its own: the chunk_pos unique index starts with file_id
    file = models.ForeignKey(SourceFile, on_delete=models.CASCADE, related_name="chunks", db_index=False)
    generation = models.IntegerField()
    offset = models.BigIntegerField()
    length = models.BigIntegerField(help_text="uncompressed bytes")
    lines = models.IntegerField()
    # A Gemini document's sha256 (first 128 bits, hex): the same document sent again is recognised.
    # Empty for JSONL lines (the file offset says what is stored; zstd frames carry a checksum).
    digest = models.CharField(max_length=32, blank=True)
    # A Gemini document rewritten in place (same generation) is superseded by the new one: kept,
    # so the events parsed from it still have their source, but no longer exported.
    superseded = models.BooleanField(default=False)
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["file", "generation", "offset"], name="chunk_pos", condition=models.Q(superseded=False)
            )
        ]

    def __str__(self) -> str:
        return f"{self.file_id}@{self.generation}:{self.offset}+{self.length}"

    def raw(self) -> bytes:
        return decompress(bytes(self.data))


class Event(models.Model):
    # no index of its own: the two unique indexes below start with session_id
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="events", db_index=False)
    ordinal = models.IntegerField()
    key = models.CharField(max_length=100)  # identity within the session (raw line digest : block index)
    kind = models.CharField(max_length=20)
    role = models.CharField(max_length=20, blank=True, default="")
    record_type = models.CharField(max_length=100, blank=True, default="")
    text = models.TextField(blank=True, default="")
    tool_name = models.CharField(max_length=200, blank=True, default="")
    tool_input = models.TextField(blank=True, default="")
    tool_output = models.TextField(blank=True, default="")
    tool_call_id = models.CharField(max_length=200, blank=True, default="")
    message_id = models.CharField(max_length=200, blank=True, default="")
    usage = models.JSONField(null=True, blank=True)
    model = models.CharField(max_length=100, blank=True, default="")
    timestamp = models.DateTimeField(null=True, blank=True)
    uuid = models.CharField(max_length=100, blank=True, default="")
    parent_uuid = models.CharField(max_length=100, blank=True, default="")
    is_sidechain = models.BooleanField(default=False)
    # The chunk holding the event's source line. No database constraint or index: chunks are only
    # deleted with their file's session (prune deletes the events first), and nothing looks events
    # up by chunk.
    chunk = models.ForeignKey(
        SourceChunk,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    offset = models.BigIntegerField(null=True, blank=True)  # of the source line in its file

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "key"], name="event_session_key"),
            models.UniqueConstraint(fields=["session", "ordinal"], name="event_session_ordinal"),
        ]
        # No single-column indexes on timestamp or tool_name: search filters those columns per match
        # (SQLite: through the covering index timeline_event_filter, migration 0003), and nothing
        # else reads events by them; they only cost writes.

    def __str__(self) -> str:
        return f"{self.session_id}#{self.ordinal} {self.kind}"

    def source_line(self) -> bytes:
        """The raw line this event was parsed from (a Gemini event: its whole document), or b""."""
        chunk = SourceChunk.objects.filter(id=self.chunk_id).first() if self.chunk_id else None
        if chunk is None:
            return b""
        data = chunk.raw()
        return data if self.offset is None else line_at(chunk.offset, data, self.offset)

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "session_id": self.session_id,
            "ordinal": self.ordinal,
            "kind": self.kind,
            "role": self.role,
            "record_type": self.record_type,
            "text": self.text,
            "tool_name": self.tool_name,
            "tool_input": self.tool_input,
            "tool_output": self.tool_output,
            "tool_call_id": self.tool_call_id,
            "usage": self.usage,
            "model": self.model,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "uuid": self.uuid,
            "parent_uuid": self.parent_uuid,
            "is_sidechain": self.is_sidechain,
            "offset": self.offset,
        }
