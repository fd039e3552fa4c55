"""API of the assets app: scan. Imported by houqin/assets/api/views.py; ScanActions is mixed into
``AssetViewSet`` (command endpoints on a card), other viewsets register themselves on the router here."""


class ScanActions:
    pass
