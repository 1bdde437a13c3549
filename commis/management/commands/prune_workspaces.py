"""Delete the workspaces (work tree, artifacts, backend state) of jobs finished long ago."""

from django.core.management.base import BaseCommand

from commis.workspaces import prune


class Command(BaseCommand):
    help = "Delete $ZERG_HOME/workspaces/<job> of jobs finished more than --days days ago (default 14)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=float, default=14.0, help="retention in days (default 14)")
        parser.add_argument("--dry-run", action="store_true", help="only list what would go")

    def handle(self, *args, days=14.0, dry_run=False, **options):
        if days < 0:
            self.stderr.write("--days must not be negative")
            raise SystemExit(2)
        removed = prune(days, dry_run=dry_run)
        verb = "would prune" if dry_run else "pruned"
        self.stdout.write(f"{verb} {len(removed)} workspaces of jobs finished more than {days:g} days ago")
