"""Pages of the assets app: custody. Their routes are spliced into houqin/assets/urls.py (namespace ``assets``)."""

urlpatterns: list = []
