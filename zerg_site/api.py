"""The one NinjaAPI at ``/api``; each app contributes its router here."""

from ninja import NinjaAPI

from zerg_site import __version__
from zerg_site.auth.api import router as auth_router
from zerg_site.auth.api import tokens_router
from zerg_site.auth.api_auth import OWNER_AUTH, owner_required_401
from zerg_site.system_api import router as system_router

api = NinjaAPI(
    title="Zerg",
    version=__version__,
    description="The Zerg API. Authenticate with the owner's session or `Authorization: Bearer <token>`.",
    auth=OWNER_AUTH,
    docs_decorator=owner_required_401,
    urls_namespace="api",
)

api.add_router("/", system_router)
api.add_router("/auth", auth_router)
api.add_router("/tokens", tokens_router)
