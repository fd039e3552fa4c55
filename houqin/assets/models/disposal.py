"""Models of the assets app: disposal (see houqin/assets/models/__init__.py)."""

__all__: list[str] = []
