"""The one NinjaAPI at ``/api``; each app contributes its router here."""

import json

from django.shortcuts import render
from ninja import NinjaAPI, Swagger

from agents_ingest.api import router as agents_router
from commis.api import router as commis_router
from timeline.api import router as timeline_router

from zerg_site import __version__
from zerg_site.auth.api import router as auth_router
from zerg_site.auth.api import tokens_router
from zerg_site.auth.api_auth import OWNER_AUTH, owner_required_401
from zerg_site.system_api import router as system_router


class LocalSwagger(Swagger):
    """Swagger UI from the package's own assets (ninja uses a CDN unless it is an installed app)."""

    def render_page(self, request, api, **kwargs):
        from ninja.openapi.docs import _csrf_needed

        self.settings["url"] = self.get_openapi_url(api, kwargs)
        context = {"swagger_settings": json.dumps(self.settings, indent=1), "api": api, "add_csrf": _csrf_needed(api)}
        return render(request, self.template, context)


api = NinjaAPI(
    title="Zerg",
    version=__version__,
    description="The Zerg API. Authenticate with the owner's session or `Authorization: Bearer <token>`.",
    auth=OWNER_AUTH,
    docs=LocalSwagger(),
    docs_decorator=owner_required_401,
    urls_namespace="api",
)

api.add_router("/", system_router)
api.add_router("/auth", auth_router)
api.add_router("/tokens", tokens_router)
api.add_router("/agents", agents_router)
api.add_router("/timeline", timeline_router)
api.add_router("/commis", commis_router)

from forum.api import router as forum_router  # noqa: E402

api.add_router("/forum", forum_router)

from agents_ingest.migrate_api import router as migrate_router  # noqa: E402

api.add_router("/migrate", migrate_router)

from commis.schedules_api import router as schedules_router  # noqa: E402

api.add_router("/schedules", schedules_router)

from oikos.api import router as oikos_router  # noqa: E402

api.add_router("/oikos", oikos_router)
