"""API of the assets app: stocktake. Imported by houqin/assets/api/views.py; StocktakeActions is mixed into
``AssetViewSet`` (command endpoints on a card), other viewsets register themselves on the router here."""


class StocktakeActions:
    pass
