"""API of the assets app: custody. Imported by houqin/assets/api/views.py; CustodyActions is mixed into
``AssetViewSet`` (command endpoints on a card), other viewsets register themselves on the router here."""


class CustodyActions:
    pass
