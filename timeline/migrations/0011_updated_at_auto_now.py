"""Session.updated_at and SourceFile.updated_at as auto_now.

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
    dependencies = [("timeline", "0010_session_per_device")]

    operations = [
        auto_now("session"),
        auto_now("sourcefile"),
    ]
