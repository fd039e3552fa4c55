"""Test helpers shared by every app (see docs/testing.md).

* ``world`` — bureau, schools A and B, and the named personas (houqin.core.testing.world);
* ``fixtures`` — the pytest fixtures (``world``, ``client_for``, personas) to import into an app's conftest;
* ``factories`` — plain ``make_*`` functions for core rows;
* ``registry`` — ``register_factory``: one factory per model for the isolation matrix and query budgets;
* ``isolation`` / ``routes`` — the tenant-isolation matrix over every route of the URL resolver;
* ``queries`` — query counting for page budgets.

Importing this package needs a configured Django (it is imported from conftest files, after pytest-django has
set Django up).
"""

from houqin.core.testing.registry import FACTORIES, ObjectFactory, factory_for, register_factory
from houqin.core.testing.world import PERSONAS, SchoolWorld, World, build_world

__all__ = [
    "FACTORIES",
    "PERSONAS",
    "ObjectFactory",
    "SchoolWorld",
    "World",
    "build_world",
    "factory_for",
    "register_factory",
]
