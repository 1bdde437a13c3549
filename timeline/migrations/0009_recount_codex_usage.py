"""Codex sessions: each response's usage counts once, at the model of its turn, instead of the
session's last running total at its last model (``timeline/recount.py``): stored sessions are
summed again from their token_count events, whose running totals are read from the archive."""

from django.db import migrations


def recount(apps, schema_editor):
    from timeline.recount import recount_codex

    recount_codex(
        apps.get_model("timeline", "Session"),
        apps.get_model("timeline", "Event"),
        apps.get_model("timeline", "SourceChunk"),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("timeline", "0008_recount_claude_usage"),
    ]

    operations = [
        migrations.RunPython(recount, migrations.RunPython.noop),
    ]
