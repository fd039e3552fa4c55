"""The county-scale benchmark behind ``houqin bench`` (docs/performance.md)."""
