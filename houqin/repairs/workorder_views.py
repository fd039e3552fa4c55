"""Pages of the repairs app: workorder.

Their routes are spliced into houqin/repairs/urls.py (namespace ``repairs``)."""

urlpatterns: list = []
