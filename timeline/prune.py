"""Deleting old sessions in short transactions: their events, files and archived chunks."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from timeline.models import Event, Session, SourceChunk, SourceFile

BATCH = 200


def prune_sessions(cutoff, dry_run: bool = False) -> dict:
    old = Session.objects.filter(Q(ended_at__lt=cutoff) | Q(ended_at__isnull=True, updated_at__lt=cutoff))
    ids = list(old.values_list("id", flat=True))
    result = {
        "sessions": len(ids),
        "events": Event.objects.filter(session_id__in=ids[:50000]).count(),
        "chunks": SourceChunk.objects.filter(file__session_id__in=ids[:50000]).count(),
    }
    if dry_run:
        return result
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        with transaction.atomic():
            Session.objects.filter(parent_id__in=batch).update(parent=None)
            Event.objects.filter(session_id__in=batch).delete()  # before the chunks they name
            SourceChunk.objects.filter(file__session_id__in=batch).delete()
            SourceFile.objects.filter(session_id__in=batch).delete()
            Session.objects.filter(id__in=batch).delete()
    return result
