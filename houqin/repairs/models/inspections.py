"""Models of the repairs app: inspections (see houqin/repairs/models/__init__.py)."""

__all__: list[str] = []
