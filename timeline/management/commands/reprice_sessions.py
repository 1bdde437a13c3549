from django.core.management.base import BaseCommand

from timeline.models import Event, Session
from timeline.pricing import reprice


class Command(BaseCommand):
    help = (
        "Recompute every session's cost from its stored token usage at the current prices "
        "(after adding or changing [timeline] prices in config.toml)."
    )

    def handle(self, *args, **options):
        changed = reprice(Session, Event)
        self.stdout.write(f"repriced {Session.objects.count()} sessions: {changed} changed")
