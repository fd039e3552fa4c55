"""Models of the assets app: custody (see houqin/assets/models/__init__.py)."""

__all__: list[str] = []
