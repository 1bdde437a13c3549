"""Sessions' cost in USD, computed from their tokens at list prices (timeline/pricing.py).

``cost_usd`` existed but nothing filled it; ``cost_partial`` says some tokens are of a model
without a known price. Existing sessions are priced from the usage their events hold (one
query per session; ``manage.py reprice_sessions`` does the same after a price change).
"""

from django.db import migrations, models


def price_sessions(apps, schema_editor):
    from timeline.pricing import reprice

    reprice(apps.get_model("timeline", "Session"), apps.get_model("timeline", "Event"))


class Migration(migrations.Migration):
    dependencies = [
        ("timeline", "0006_postgres_search_sessions"),
    ]

    operations = [
        migrations.AddField(
            model_name="session",
            name="cost_partial",
            field=models.BooleanField(default=False, help_text="some tokens are of a model with no known price"),
        ),
        migrations.AlterField(
            model_name="session",
            name="cost_usd",
            field=models.FloatField(
                blank=True, help_text="null: no token has a known price (timeline/pricing.py)", null=True
            ),
        ),
        migrations.RunPython(price_sessions, migrations.RunPython.noop),
    ]
