"""Session.provider: ``zerg-agent``, the transcripts of the built-in agent backend.

Choices are not in the database (``sqlmigrate``: no-op on SQLite and Postgres); the change
is made in the migration state only, as 0011 does, so SQLite does not rebuild the table.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("timeline", "0011_updated_at_auto_now")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="session",
                    name="provider",
                    field=models.CharField(
                        choices=[
                            ("claude", "Claude Code"),
                            ("codex", "Codex"),
                            ("gemini", "Gemini CLI"),
                            ("zerg-agent", "Zerg agent"),
                        ],
                        max_length=16,
                    ),
                )
            ]
        ),
    ]
