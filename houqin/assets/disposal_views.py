"""Pages of the assets app: disposal. Their routes are spliced into houqin/assets/urls.py (namespace ``assets``)."""

urlpatterns: list = []
