"""Pages of the assets app: scan. Their routes are spliced into houqin/assets/urls.py (namespace ``assets``)."""

urlpatterns: list = []
