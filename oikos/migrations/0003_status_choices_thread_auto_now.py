"""Turn status as TextChoices (labels only), Thread.updated_at as auto_now.

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
    dependencies = [("oikos", "0002_message_role_untrusted")]

    operations = [
        auto_now("thread"),
        migrations.AlterField(
            model_name="turn",
            name="status",
            field=models.CharField(
                choices=[
                    ("queued", "Queued"),
                    ("running", "Running"),
                    ("waiting", "Waiting"),
                    ("done", "Done"),
                    ("failed", "Failed"),
                ],
                default="queued",
                max_length=10,
            ),
        ),
    ]
