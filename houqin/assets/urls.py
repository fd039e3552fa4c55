from django.urls import path

from houqin.assets import views
from houqin.assets.importers import AssetImporter
from houqin.core.ui import urls_for
from houqin.core.views.imports import import_urls

app_name = "assets"

urlpatterns = [
    *urls_for("assets"),
    path("depreciation/", views.DepreciationView.as_view(), name="depreciation"),
    *import_urls(AssetImporter, "import", "import_assets"),
]
