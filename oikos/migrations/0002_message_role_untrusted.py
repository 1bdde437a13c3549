# The role "untrusted": text that is not the owner's (a job's or agent's Forum mention), see oikos/untrusted.py.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("oikos", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="message",
            name="role",
            field=models.CharField(
                choices=[
                    ("owner", "owner"),
                    ("assistant", "assistant"),
                    ("tool_call", "tool_call"),
                    ("tool_result", "tool_result"),
                    ("system", "system"),
                    ("untrusted", "untrusted"),
                ],
                max_length=12,
            ),
        ),
    ]
