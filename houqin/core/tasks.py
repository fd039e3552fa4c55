"""Imported by the worker at start: registers core's background and periodic jobs."""

from houqin.core import notifications  # noqa: F401  (the notification, reminder and digest jobs)
