"""Deleting old sessions in short transactions, raw lines included once nothing refers to them."""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import Q

from timeline.models import Event, FileLine, RawLine, Session, SourceFile

BATCH = 200


def prune_sessions(cutoff, dry_run: bool = False) -> dict:
    old = Session.objects.filter(Q(ended_at__lt=cutoff) | Q(ended_at__isnull=True, updated_at__lt=cutoff))
    ids = list(old.values_list("id", flat=True))
    result = {"sessions": len(ids), "events": Event.objects.filter(session_id__in=ids[:50000]).count(),
              "raw_lines": 0}
    if dry_run:
        return result
    for start in range(0, len(ids), BATCH):
        batch = ids[start:start + BATCH]
        with transaction.atomic():
            Session.objects.filter(parent_id__in=batch).update(parent=None)
            FileLine.objects.filter(file__session_id__in=batch).delete()
            SourceFile.objects.filter(session_id__in=batch).delete()
            Event.objects.filter(session_id__in=batch).delete()
            Session.objects.filter(id__in=batch).delete()
    result["raw_lines"] = delete_orphan_lines()
    return result


def delete_orphan_lines() -> int:
    """Raw lines no file position and no event refers to any more."""
    deleted = 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    """SELECT r.id FROM timeline_rawline r
                       WHERE NOT EXISTS (SELECT 1 FROM timeline_fileline f WHERE f.line_id = r.id)
                         AND NOT EXISTS (SELECT 1 FROM timeline_event e WHERE e.line_id = r.id)
                       LIMIT 1000""")
                ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                return deleted
            deleted += RawLine.objects.filter(id__in=ids).delete()[0]
