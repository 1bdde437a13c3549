"""Delete events past their retention, old heartbeats, used login links and login failures."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db.models import Q
from django.utils import timezone

from zerg_site.auth.ratelimit import prune_failures
from zerg_site.events import prune
from zerg_site.models import LoginLink, ProcessHeartbeat


class Command(BaseCommand):
    help = "Prune events older than [server] event_retention_days, and other expired rows."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="retention in days (default: from the config)")

    def handle(self, *args, days=None, **options):
        days = days if days is not None else settings.ZERG.event_retention_days
        if days < 1:
            self.stderr.write("--days must be at least 1")
            raise SystemExit(2)
        events = prune(days)
        week_ago = timezone.now() - timedelta(days=7)
        heartbeats = ProcessHeartbeat.objects.filter(last_seen__lt=week_ago).delete()[0]
        links = (
            LoginLink.objects.filter(Q(used_at__isnull=False) | Q(expires_at__lt=timezone.now()))
            .filter(created_at__lt=week_ago)
            .delete()[0]
        )
        failures = prune_failures()
        self.stdout.write(
            f"pruned {events} events older than {days} days, {heartbeats} heartbeats, "
            f"{links} login links, {failures} login failures"
        )
