"""API of the repairs app: workorders (viewsets registered on houqin.core.api.router)."""
