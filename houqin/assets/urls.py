from django.urls import path

# Each part registers its ModelUIs on import, before urls_for() collects them.
from houqin.assets import analytics_views, custody_views, disposal_views, scan_views, stocktake_views, views
from houqin.assets.importers import AssetImporter
from houqin.core.ui import urls_for
from houqin.core.views.imports import import_urls

app_name = "assets"

urlpatterns = [
    *custody_views.urlpatterns,
    *disposal_views.urlpatterns,
    *stocktake_views.urlpatterns,
    *scan_views.urlpatterns,
    *analytics_views.urlpatterns,
    *urls_for("assets"),
    path("assets/<int:pk>/history/", views.AssetHistoryView.as_view(), name="asset_history"),
    path("depreciation/", views.DepreciationView.as_view(), name="depreciation"),
    *import_urls(AssetImporter, "import", "import_assets"),
]
