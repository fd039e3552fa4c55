"""Demo data of the repairs app (houqin.core.demo loads this module; each part has its own module)."""

from houqin.repairs import demo_inspections, demo_workorders  # noqa: F401
