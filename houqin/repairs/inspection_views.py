"""Pages of the repairs app: inspection.

Their routes are spliced into houqin/repairs/urls.py (namespace ``repairs``)."""

urlpatterns: list = []
