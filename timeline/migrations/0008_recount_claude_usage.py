"""Claude Code sessions: a response's tokens are its final snapshot, not its first line's
(``timeline/recount.py``): stored sessions whose responses span lines are recounted from their
archived lines, and their cost with them. Sessions without such responses are not touched."""

from django.db import migrations


def recount(apps, schema_editor):
    from timeline.recount import recount_claude

    recount_claude(
        apps.get_model("timeline", "Session"),
        apps.get_model("timeline", "Event"),
        apps.get_model("timeline", "SourceChunk"),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("timeline", "0007_session_cost"),
    ]

    operations = [
        migrations.RunPython(recount, migrations.RunPython.noop),
    ]
