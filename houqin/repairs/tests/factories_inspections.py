"""Isolation/query-count factories of the repairs app: inspections (imported by factories.py)."""
