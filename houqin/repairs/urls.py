# Each part registers its ModelUIs on import, before urls_for() collects them.
from houqin.core.ui import urls_for
from houqin.repairs import dashboard_views, inspection_views, settings_views, workorder_views

app_name = "repairs"

urlpatterns = [
    *workorder_views.urlpatterns,
    *settings_views.urlpatterns,
    *inspection_views.urlpatterns,
    *dashboard_views.urlpatterns,
    *urls_for("repairs"),
]
