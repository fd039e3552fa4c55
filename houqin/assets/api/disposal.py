"""API of the assets app: disposal. Imported by houqin/assets/api/views.py; DisposalActions is mixed into
``AssetViewSet`` (command endpoints on a card), other viewsets register themselves on the router here."""


class DisposalActions:
    pass
