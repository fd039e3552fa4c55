"""Models of the assets app: stocktake (see houqin/assets/models/__init__.py)."""

__all__: list[str] = []
