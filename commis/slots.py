"""How many commis may run at once and how many do."""

from django.conf import settings


def slot_usage() -> dict:
    """``{"max": N, "running": M}`` for the health document.

    Until commis jobs exist (the commis issue adds the job table) nothing can hold a slot.
    """
    return {"max": settings.ZERG.max_concurrent, "running": 0}
