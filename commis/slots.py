"""How many commis may run at once and how many do."""

from django.conf import settings
from django.db.models import Count

from commis.models import Job


def slot_usage() -> dict:
    """``{"max": N, "running": M, "queued": Q}`` for the health document and the Commis page."""
    counts = dict.fromkeys((Job.RUNNING, Job.QUEUED), 0)
    rows = Job.objects.filter(status__in=Job.ACTIVE).order_by().values_list("status").annotate(n=Count("id"))
    counts.update(dict(rows))
    return {"max": settings.ZERG.max_concurrent, "running": counts[Job.RUNNING], "queued": counts[Job.QUEUED]}
