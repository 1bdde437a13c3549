"""ScheduleMiss.reason: why the due times of a record did not run on their own.

Records written before it are all "no worker was running" ones; their reason follows
from the policy and whether a run is linked (plain UPDATEs: SQLite and Postgres alike).
"""

import django.db.models.deletion
from django.db import migrations, models

SKIPPED = "skipped: no worker was running (--missed skip)"
RAN_ONCE = "no worker was running: ran once on start (--missed run_once)"
MISSED_FOLDED = (
    "no worker was running: folded into another due time of this schedule run at the same tick (--missed run_once)"
)


def fill_reasons(apps, schema_editor):
    Miss = apps.get_model("commis", "ScheduleMiss")
    Miss.objects.filter(reason="", policy="skip").update(reason=SKIPPED)
    Miss.objects.filter(reason="", run__isnull=False).update(reason=RAN_ONCE)
    Miss.objects.filter(reason="").update(reason=MISSED_FOLDED)  # run_once, and an on-time run that tick


class Migration(migrations.Migration):
    dependencies = [  # noqa: RUF012 - Django reads these class attributes
        ("commis", "0002_schedules"),
    ]

    operations = [  # noqa: RUF012
        migrations.AddField(
            model_name="schedulemiss",
            name="reason",
            field=models.CharField(
                blank=True, default="", help_text="why they did not run on their own", max_length=200
            ),
        ),
        migrations.AlterField(
            model_name="schedulemiss",
            name="run",
            field=models.ForeignKey(
                blank=True,
                help_text="the catch-up run (run_once policy), or the run they were folded into",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="commis.schedulerun",
            ),
        ),
        migrations.RunPython(fill_reasons, migrations.RunPython.noop),
    ]
