from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from agents_ingest.importer import find_files, import_file


class Command(BaseCommand):
    help = (
        "Import a directory of Claude Code (*.jsonl), Codex (rollout-*.jsonl) and Gemini (chats/*.json) "
        "session files on the server into the timeline. Safe to run again: nothing is stored twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--device", default="server", help="the device name to file them under")
        parser.add_argument(
            "--provider",
            choices=["claude", "codex", "gemini"],
            help="force one provider instead of guessing from the path",
        )

    def handle(self, *args, directory, device, provider, **options):
        root = Path(directory).expanduser()
        if not root.is_dir():
            raise CommandError(f"{root} is not a directory")
        files = 0
        totals = {"lines_stored": 0, "lines_duplicate": 0, "events_stored": 0, "lines_malformed": 0}
        for guessed, path in find_files(root):
            result = import_file(provider or guessed, path, device)
            files += 1
            for key in totals:
                totals[key] += result[key]
        self.stdout.write(
            f"{files} files: {totals['lines_stored']} lines stored, {totals['lines_duplicate']} already there, "
            f"{totals['events_stored']} events, {totals['lines_malformed']} malformed lines"
        )
