"""Isolation/query-count factories of the assets app: disposal (imported by factories.py)."""
