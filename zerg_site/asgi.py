"""ASGI entry point: Django for HTTP, Channels for ``/ws/*``."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zerg_site.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from zerg_site.consumers import EventsConsumer  # noqa: E402
from zerg_site.ws_origin import SameOriginValidator  # noqa: E402

websocket_urlpatterns = [
    path("ws/events", EventsConsumer.as_asgi()),
]

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
