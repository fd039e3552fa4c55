"""API of the repairs app: inspections (viewsets registered on houqin.core.api.router)."""
