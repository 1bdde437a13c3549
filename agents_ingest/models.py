"""What the Shipper sends besides session lines: the uncommitted changes of a session's cwd.

A session continued on the server (``commis/continuation.py``) gets a clone of its git
remote at ``base_commit`` with this patch applied, so it sees what the laptop had,
not only what was pushed. One row per (device, cwd): the latest state of that
directory replaces the previous one.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

MAX_PATCH = 16 * 1024 * 1024


class WorkspacePatch(models.Model):
    device = models.CharField(max_length=100)
    cwd = models.TextField()
    remote = models.TextField(blank=True, default="")
    branch = models.CharField(max_length=300, blank=True, default="")
    base_commit = models.CharField(max_length=64, help_text="the commit the patch applies to (pushed to the remote)")
    head_commit = models.CharField(max_length=64, blank=True, default="", help_text="HEAD on the device")
    data = models.BinaryField(help_text="git diff --binary from base_commit to the work tree, untracked files included")
    sha256 = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "cwd"], name="workspacepatch_device_cwd")]

    def __str__(self) -> str:
        return f"{self.device}:{self.cwd} @ {self.base_commit[:12]}"

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "device": self.device,
            "cwd": self.cwd,
            "remote": self.remote,
            "branch": self.branch,
            "base_commit": self.base_commit,
            "head_commit": self.head_commit,
            "size": len(self.data or b""),
            "sha256": self.sha256,
            "updated_at": self.updated_at.isoformat(),
        }


class ArchiveIdentity(models.Model):
    """Which archive this is, for the Shippers (one row, ``id`` 1; ``agents_ingest.identity``).

    A random id made at the first migrate and replaced by ``zerg restore``: a Shipper that
    recorded another id knows the server may have lost what it acknowledged, and checks
    every file it shipped.
    """

    archive_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)


class DeviceEpoch(models.Model):
    """How many ingest requests of a device this database has committed (bumped in each one's
    transaction). A restore by any means (``zerg restore``, Litestream, pg_restore) takes it back
    to an earlier value, which a Shipper that saw a later one notices."""

    device = models.CharField(max_length=100, unique=True)
    epoch = models.BigIntegerField(default=0)
