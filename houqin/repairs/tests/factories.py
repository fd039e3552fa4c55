"""Factories of the repairs app for the isolation matrix and query-count tests (houqin.core.testing.registry)."""

from houqin.repairs.tests import factories_inspections, factories_workorders  # noqa: F401
