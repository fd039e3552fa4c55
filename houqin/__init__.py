"""智慧后勤 — school logistics management."""

__version__ = "0.1.0"
