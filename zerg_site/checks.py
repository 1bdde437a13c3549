"""Configuration mistakes reported as Django system checks with stable ids."""

from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def check_public_url(app_configs, **kwargs):
    messages = []
    zerg = settings.ZERG
    if zerg.public_url.startswith("http://") and zerg.host not in ("127.0.0.1", "localhost", "::1"):
        messages.append(
            Warning(
                "public_url is plain http://; session cookies travel unencrypted.",
                hint='Put Zerg behind an HTTPS reverse proxy and set [server] public_url = "https://...".',
                id="zerg.W001",
            )
        )
    return messages


@register()
def check_spa_built(app_configs, **kwargs):
    if not (Path(settings.WHITENOISE_ROOT) / "index.html").exists():
        return [
            Warning(
                "The web app is not built (frontend/build/index.html is missing).",
                hint="Run `npm ci && npm run build` in frontend/.",
                id="zerg.W002",
            )
        ]
    return []


@register()
def check_secret_key_file(app_configs, **kwargs):
    """An empty or unreadable $ZERG_HOME/secret_key (settings left SECRET_KEY empty)."""
    problem = getattr(settings, "ZERG_KEY_PROBLEM", "")
    return [Error(problem, id="zerg.E001")] if problem else []
