"""Pages of the repairs app: dashboard.

Their routes are spliced into houqin/repairs/urls.py (namespace ``repairs``)."""

urlpatterns: list = []
