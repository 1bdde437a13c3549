"""A Content-Security-Policy (and the other browser safety headers) on every response.

The Forum inserts HTML the server rendered from text that agents, jobs and the owner wrote
(post bodies and search snippets; ``zerg_site/markdown.py`` sanitises it with nh3). The policy is the
second layer: should a sanitiser bug ever let markup through, the browser still runs only the
SPA's own script files and applies only its own style sheets -- no inline ``<script>``, no
``on*=`` handlers, no ``javascript:`` URLs, no ``<style>`` or ``style=""`` from markup, no
``<base>`` that re-points relative URLs, no plugins, no form posted elsewhere and no page of Zerg
inside a frame elsewhere (``frame-ancestors``, with ``X-Frame-Options`` for old browsers).

Why each source is there: ``img-src data:`` for the inline SVG icons of the API docs page's
style sheet (Swagger UI); ``connect-src 'self'`` also covers the same-origin WebSocket (``/ws/``)
in CSP 3 browsers; ``worker-src`` and ``manifest-src`` are the service worker (``/sw.js``) and
the web app manifest. Style *properties* set from script (Preact's ``style=`` goes through the
CSSOM) are not inline styles and stay allowed.

Django 5.2 has no CSP support of its own (it arrives in 6.0), and django-csp would add a
dependency and settings for what is one fixed header here (no nonces: nothing is inline).

The middleware sits above WhiteNoise in ``MIDDLEWARE`` so the static files (the SPA's
``index.html`` at ``/index.html``, ``/sw.js``) carry the headers too; a header a view already
set is kept.
"""

from __future__ import annotations

from django.utils.deprecation import MiddlewareMixin

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; "
    "script-src 'self'; "
    "style-src 'self'; "
    "img-src 'self' data:; "
    "connect-src 'self'; "
    "worker-src 'self'; "
    "manifest-src 'self'; "
    "object-src 'none'; "
    "base-uri 'none'; "
    "form-action 'self'; "
    "frame-ancestors 'none'"
)

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class SecurityHeadersMiddleware(MiddlewareMixin):
    """Adds :data:`HEADERS` to every HTTP response that does not already have them (sync and
    async alike, through the mixin: no thread hop under daphne)."""

    def process_response(self, request, response):
        for name, value in HEADERS.items():
            if name not in response:
                response[name] = value
        return response
