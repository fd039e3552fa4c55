from houqin.core.ui import urls_for
from houqin.core.views import imports
from houqin.core.views import models as _models  # noqa: F401  (registers the core model UIs)

app_name = "core"

urlpatterns = urls_for("core")
urlpatterns += imports.urlpatterns
