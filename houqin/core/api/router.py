"""The one API router. Every app registers its viewsets here from its ``api/views.py``:

    from houqin.core.api.router import router

    router.register("assets/assets", AssetViewSet)      # → /api/assets/assets/ and /api/assets/assets/<id>/

``houqin.api_urls`` imports every installed app's ``api.views`` module before it builds the URLs. URL names are
``api:<app_label>-<model_name>-list`` / ``-detail``.
"""

from __future__ import annotations

from rest_framework.routers import APIRootView, DefaultRouter


class ApiRootView(APIRootView):
    """智慧后勤 API：各接口的入口。接口文档见 /api/docs/。"""

    def get_view_name(self):
        return "智慧后勤 API"


class HouqinRouter(DefaultRouter):
    include_format_suffixes = False  # one URL per resource; the format comes from the Accept header
    APIRootView = ApiRootView

    def get_default_basename(self, viewset):
        model = viewset.queryset.model
        return f"{model._meta.app_label}-{model._meta.model_name}"

    def register(self, prefix, viewset, basename=None):
        if any(p == prefix for p, _, _ in self.registry):
            raise ValueError(f"API prefix {prefix!r} is registered twice")
        super().register(prefix, viewset, basename)


router = HouqinRouter()
