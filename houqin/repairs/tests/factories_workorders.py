"""Isolation/query-count factories of the repairs app: workorders (imported by factories.py)."""
