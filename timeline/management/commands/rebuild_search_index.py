from django.core.management.base import BaseCommand

from timeline.search import rebuild_index


class Command(BaseCommand):
    help = "Rebuild the timeline's full-text search index from the stored events."

    def handle(self, *args, **options):
        self.stdout.write(rebuild_index())
