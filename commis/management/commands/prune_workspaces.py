"""Delete the workspaces (work tree, artifacts, backend state) of jobs finished long ago.

Retention: ``--days``, else ``[commis] workspace_retention_days`` (ZERG_WORKSPACE_RETENTION_DAYS,
default 14) -- so the daily maintenance schedule, which passes no option, follows the setting.
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from commis.workspaces import prune


class Command(BaseCommand):
    help = (
        "Delete $ZERG_HOME/workspaces/<job> of jobs finished more than --days days ago "
        "(default: [commis] workspace_retention_days, 14)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=float, default=None, help="retention in days (default: [commis] workspace_retention_days)"
        )
        parser.add_argument("--dry-run", action="store_true", help="only list what would go")

    def handle(self, *args, days=None, dry_run=False, **options):
        if days is None:
            days = float(settings.ZERG.workspace_retention_days)
        if days < 0:
            self.stderr.write("--days must not be negative")
            raise SystemExit(2)
        removed = prune(days, dry_run=dry_run)
        verb = "would prune" if dry_run else "pruned"
        self.stdout.write(f"{verb} {len(removed)} workspaces of jobs finished more than {days:g} days ago")
