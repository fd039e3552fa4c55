"""Models of the repairs app: workorders (see houqin/repairs/models/__init__.py)."""

__all__: list[str] = []
