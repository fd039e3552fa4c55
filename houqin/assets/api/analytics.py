"""API of the assets app: analytics. Imported by houqin/assets/api/views.py; AnalyticsActions is mixed into
``AssetViewSet`` (command endpoints on a card), other viewsets register themselves on the router here."""


class AnalyticsActions:
    pass
