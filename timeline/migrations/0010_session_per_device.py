"""Sessions are kept apart per device: (provider, provider session id, device) is unique, no longer
(provider, provider session id). A device token could otherwise add lines to, and set the cwd and git
remote/commit of, another device's session by shipping its session id. Existing rows already satisfy the
narrower constraint; the new index's prefix still serves lookups by (provider, session id)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("timeline", "0009_recount_codex_usage")]

    operations = [
        migrations.AddConstraint(
            model_name="session",
            constraint=models.UniqueConstraint(
                fields=("provider", "provider_session_id", "device"), name="session_provider_sid_device"
            ),
        ),
        migrations.RemoveConstraint(model_name="session", name="session_provider_sid"),
    ]
