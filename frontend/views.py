"""Serves the SPA's index.html for every page path (assets come from whitenoise)."""

from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie

MISSING = (
    "<!doctype html><title>Zerg</title><p>The web app is not built. "
    "Run <code>npm ci && npm run build</code> in <code>frontend/</code>.</p>"
)


@lru_cache(maxsize=1)
def _index_html() -> str | None:
    path = Path(settings.WHITENOISE_ROOT) / "index.html"
    return path.read_text(encoding="utf-8") if path.exists() else None


@never_cache
@ensure_csrf_cookie
def index(request, *args, **kwargs):
    html = _index_html()
    return HttpResponse(html or MISSING, status=200 if html else 503)
