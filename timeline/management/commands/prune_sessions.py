from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from timeline.prune import prune_sessions


class Command(BaseCommand):
    help = "Delete sessions (events, file layout, orphaned raw lines) whose last activity is older than N days."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, required=True, help="keep sessions active within this many days")
        parser.add_argument("--dry-run", action="store_true", help="only say how many sessions would go")

    def handle(self, *args, days, dry_run, **options):
        if days < 1:
            raise CommandError("--days must be at least 1")
        cutoff = timezone.now() - timedelta(days=days)
        result = prune_sessions(cutoff, dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(
            f"{verb} {result['sessions']} sessions, {result['events']} events, "
            f"{result['chunks']} archive chunks (older than {cutoff:%Y-%m-%d %H:%M} UTC)"
        )
