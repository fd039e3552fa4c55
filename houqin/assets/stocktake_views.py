"""Pages of the assets app: stocktake. Their routes are spliced into houqin/assets/urls.py (namespace ``assets``)."""

urlpatterns: list = []
