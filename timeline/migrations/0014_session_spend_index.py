"""The covering index spend adds sessions up from (timeline/models.py ``session_spend``).

Spend (spend/query.py) reads a range of sessions by ``ended_at`` and sums their cost and tokens by
model, project, device or provider. Through the ``ended_at`` index alone each session of the range
was then read from the table: ~97,000 random reads for a year of 100,000 sessions, 345-424 ms on
SQLite. With every column it reads in one index, the database answers from the index alone.

``AddIndex`` is a plain ``CREATE INDEX`` on SQLite and Postgres alike (no table rebuild on SQLite,
a single pass over the table; bench/README.md "Spend" has its time on 100,000 sessions).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("timeline", "0013_session_prompt")]

    operations = [
        migrations.AddIndex(
            model_name="session",
            index=models.Index(
                fields=[
                    "ended_at",
                    "provider",
                    "device",
                    "model",
                    "project",
                    "cost_usd",
                    "cost_partial",
                    "input_tokens",
                    "output_tokens",
                    "cache_read_tokens",
                    "cache_creation_tokens",
                    "id",
                ],
                name="session_spend",
            ),
        ),
    ]
