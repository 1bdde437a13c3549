from django.contrib import admin
from django.urls import path, re_path

from frontend.views import index
from zerg_site.api import api
from zerg_site.auth.views import login_link

urlpatterns = [
    path("api/", api.urls),
    path("admin/", admin.site.urls),
    path("auth/link/<str:token>", login_link, name="login-link"),
    # Last: every other path is a page of the SPA, so deep links work.
    re_path(r"^(?!api/|admin/|ws/|static/|auth/).*$", index, name="spa"),
]
