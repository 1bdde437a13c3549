"""Job status and run trigger as TextChoices (labels only), Schedule.updated_at as auto_now.

``auto_now`` changes nothing in the database (Django sets the value on save), but SQLite's
schema editor would rebuild the whole table for it: the change is made in the migration
state only (``SeparateDatabaseAndState``). Choices are not in the database either
(``sqlmigrate``: no-op on SQLite and Postgres).
"""

from django.db import migrations, models


def auto_now(model_name):
    field = models.DateTimeField(auto_now=True)
    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AlterField(model_name=model_name, name="updated_at", field=field)]
    )


class Migration(migrations.Migration):
    dependencies = [("commis", "0003_schedulemiss_reason")]

    operations = [
        migrations.AlterField(
            model_name="job",
            name="status",
            field=models.CharField(
                choices=[
                    ("queued", "Queued"),
                    ("running", "Running"),
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled"),
                    ("timed_out", "Timed Out"),
                ],
                default="queued",
                max_length=12,
            ),
        ),
        auto_now("schedule"),
        migrations.AlterField(
            model_name="schedulerun",
            name="trigger",
            field=models.CharField(
                choices=[("schedule", "Scheduled"), ("manual", "Manual"), ("missed", "Catch Up")],
                default="schedule",
                max_length=10,
            ),
        ),
    ]
