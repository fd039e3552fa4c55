"""Isolation/query-count factories of the assets app: custody (imported by factories.py)."""
