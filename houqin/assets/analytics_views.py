"""Pages of the assets app: analytics. Their routes are spliced into houqin/assets/urls.py (namespace ``assets``)."""

urlpatterns: list = []
