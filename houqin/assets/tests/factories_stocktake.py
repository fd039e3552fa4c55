"""Isolation/query-count factories of the assets app: stocktake (imported by factories.py)."""
