"""URLs of the JSON API, mounted at ``/api/`` by houqin.urls (see docs/api.md).

Each installed app's ``api/views.py`` registers its viewsets on the shared router; they are all imported here
before the router builds its URLs.
"""

from django.urls import path
from django.utils.module_loading import autodiscover_modules

from houqin.core.api import views as core_api
from houqin.core.api.router import router

autodiscover_modules("api.views")

app_name = "api"

urlpatterns = [
    path("auth/token/", core_api.TokenView.as_view(), name="token"),
    path("me/", core_api.MeView.as_view(), name="me"),
    path("schema/", core_api.SchemaView.as_view(), name="schema"),
    path("docs/", core_api.DocsView.as_view(), name="docs"),
    *router.urls,
]
