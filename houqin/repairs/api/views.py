"""API of the repairs app: each part's viewsets register themselves on the shared router when imported here."""

from houqin.repairs.api import dashboard, inspections, workorders  # noqa: F401
