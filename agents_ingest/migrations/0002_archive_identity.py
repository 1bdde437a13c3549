import uuid

import django.utils.timezone
from django.db import migrations, models


def create_identity(apps, schema_editor):
    """The archive's first identity: a fresh random id (``zerg restore`` replaces it)."""
    ArchiveIdentity = apps.get_model("agents_ingest", "ArchiveIdentity")
    ArchiveIdentity.objects.get_or_create(id=1, defaults={"archive_id": uuid.uuid4().hex})


class Migration(migrations.Migration):
    dependencies = [
        ("agents_ingest", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="ArchiveIdentity",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("archive_id", models.CharField(max_length=64)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
        migrations.CreateModel(
            name="DeviceEpoch",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("device", models.CharField(max_length=100, unique=True)),
                ("epoch", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(create_identity, migrations.RunPython.noop),
    ]
