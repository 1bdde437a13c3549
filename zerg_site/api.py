"""The one NinjaAPI at ``/api``; each app contributes its router here."""

import json

from django.db import DataError, OperationalError
from django.shortcuts import render
from ninja import NinjaAPI, Swagger
from ninja.errors import HttpError as _HttpError
from ninja.errors import ValidationError as _InvalidParams
from ninja.openapi.docs import _csrf_needed

from agents_ingest.api import router as agents_router
from agents_ingest.migrate_api import router as migrate_router
from commis.api import router as commis_router
from commis.continuation_api import router as continuation_router
from commis.schedules_api import router as schedules_router
from forum.api import router as forum_router
from oikos.api import router as oikos_router
from spend.api import router as spend_router
from spend.budget import router as budget_router
from timeline.api import router as timeline_router
from zerg_site import __version__
from zerg_site.attention import router as attention_router
from zerg_site.auth.api import router as auth_router
from zerg_site.auth.api import tokens_router
from zerg_site.auth.api_auth import OWNER_AUTH, owner_required_401
from zerg_site.dashboard import router as dashboard_router
from zerg_site.jsonbody import JsonParser
from zerg_site.model_api import router as model_router
from zerg_site.params import param_errors_detail
from zerg_site.push.api import router as push_router
from zerg_site.setup_api import router as setup_router
from zerg_site.system_api import router as system_router


class LocalSwagger(Swagger):
    """Swagger UI from the package's own assets (ninja uses a CDN unless it is an installed app)."""

    def render_page(self, request, api, **kwargs):
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
    parser=JsonParser(),  # bodies nested past MAX_DEPTH: 400 (zerg_site/jsonbody.py)
)

api.add_router("/", system_router)
api.add_router("/auth", auth_router)
api.add_router("/tokens", tokens_router)
api.add_router("/agents", agents_router)
api.add_router("/timeline", timeline_router)
api.add_router("/commis", commis_router)


api.add_router("/forum", forum_router)


api.add_router("/migrate", migrate_router)  # the ingest side: /patch, /ingest
api.add_router("/migrate", continuation_router)  # commis's: /sessions/{id}, /continue, /source


api.add_router("/schedules", schedules_router)


api.add_router("/oikos", oikos_router)


api.add_router("/spend", spend_router)


api.add_router("/budget", budget_router)


# --- faults: errors that are the client's, not the server's (tests/system/test_api_schema.py found them)


@api.exception_handler(OverflowError)
@api.exception_handler(DataError)
def _out_of_range(request, exc):
    """An id or number beyond the database's 64-bit integers (SQLite raises OverflowError,
    Postgres DataError): the request is wrong, so 400 rather than a 500 traceback."""
    return api.create_response(request, {"detail": f"a value is out of range for the database: {exc}"}, status=400)


@api.exception_handler(_InvalidParams)
def _invalid_params(request, exc):
    """A bad query or path parameter (``offset=1e20``, an id past 2**63 - 1: zerg_site/params.py) is a
    400 that names it; a body that does not fit its schema keeps ninja's 422 with the list."""
    detail = param_errors_detail(exc.errors)
    if detail is None:
        return api.create_response(request, {"detail": exc.errors}, status=422)
    return api.create_response(request, {"detail": detail, "errors": exc.errors}, status=400)


@api.exception_handler(_HttpError)
def _http_error(request, exc):
    """As ninja's, except that a body its parser refused says why ("Cannot parse request body" hides
    the reason: zerg_site/jsonbody.py raised it, and it is the cause)."""
    cause = exc.__cause__
    detail = str(cause) if isinstance(cause, _HttpError) and cause.status_code == exc.status_code else str(exc)
    return api.create_response(request, {"detail": detail}, status=exc.status_code)


api.add_router("/push", push_router)
api.add_router("/attention", attention_router)


api.add_router("/setup", setup_router)


api.add_router("/dashboard", dashboard_router)
api.add_router("/model", model_router)


# --- faults: a full disk or an unavailable database is a 507/503 with a message, not a 500
# traceback (tests/system/test_faults_disk.py). The server stays up and answers again once space returns.
import errno as _errno  # noqa: E402

_DISK_FULL = ("disk is full", "no space left", "could not extend file", "diskfull")


def _disk_full(request):
    return api.create_response(
        request, {"detail": "the server's disk is full: nothing was stored. Free some space and try again."}, status=507
    )


@api.exception_handler(OperationalError)
def _database_unavailable(request, exc):
    if any(marker in str(exc).lower() for marker in _DISK_FULL) or type(exc.__cause__).__name__ == "DiskFull":
        return _disk_full(request)
    return api.create_response(
        request, {"detail": f"the database is unavailable, nothing was stored; try again: {exc}"}, status=503
    )


@api.exception_handler(OSError)
def _os_error(request, exc):
    if exc.errno == _errno.ENOSPC:
        return _disk_full(request)
    raise exc
