"""Session.prompt: the first real user prompt, the name the Timeline list shows (timeline/titles.py).

The column is added with plain ``ALTER TABLE ... ADD COLUMN ... DEFAULT ''`` on SQLite and
Postgres alike: Django's SQLite schema editor would rebuild the whole sessions table for a
NOT NULL column with a default. Then the sessions stored before are filled in from their own
stored events: per session, its user messages in order, only until one is a real prompt (a
session's first few user messages, not its whole history), in batches of sessions.
"""

from django.db import migrations, models

BATCH = 500
LOOK_AT = 50  # user messages per session: a session whose first 50 are all CLI bookkeeping keeps ""


def backfill(apps, schema_editor):
    from timeline.titles import prompt_title

    Session = apps.get_model("timeline", "Session")
    Event = apps.get_model("timeline", "Event")
    last = 0
    while True:
        ids = list(Session.objects.filter(id__gt=last, prompt="").order_by("id").values_list("id", flat=True)[:BATCH])
        if not ids:
            return
        last = ids[-1]
        for session_id in ids:
            texts = (
                Event.objects.filter(session_id=session_id, kind="message", role="user")
                .order_by("ordinal")
                .values_list("text", flat=True)[:LOOK_AT]
            )
            prompt = next((p for p in map(prompt_title, texts) if p), "")
            if prompt:
                Session.objects.filter(id=session_id).update(prompt=prompt)


class Migration(migrations.Migration):
    dependencies = [("timeline", "0012_session_provider_zerg_agent")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE timeline_session ADD COLUMN prompt text NOT NULL DEFAULT ''",
                    "ALTER TABLE timeline_session DROP COLUMN prompt",
                )
            ],
            state_operations=[
                migrations.AddField(
                    model_name="session",
                    name="prompt",
                    field=models.TextField(
                        blank=True, default="", help_text="the first real user prompt (timeline/titles.py)"
                    ),
                )
            ],
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
