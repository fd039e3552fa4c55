"""The isolation table of the routes that are neither a ModelUI's nor an API viewset's (test_isolation.py).

Core's own entries are in that test module. An app adds its pages in ``houqin/<app>/tests/isolation_routes*.py``:
each such module defines ``ROUTES = {url_name: (Check(...), ...)}``; ``app_route_checks()`` collects them all, so
several parts of an app can keep their entries in files of their own. A route in no table fails
``test_every_route_is_covered`` (fail closed).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field

from django.apps import apps

from houqin.core.testing.isolation import LOGIN

ANON = "anonymous"
SIGNED_IN = ("admin_a", "teacher_a", "admin_b", "bureau_admin", "superuser", "outsider")
# Everyone signed in but school A's system administrator.
OTHERS = ("admin_b", "outsider", "teacher_a", "head_a", "bureau_admin", "superuser")
JSON_ACCEPT = {"HTTP_ACCEPT": "application/json"}


@dataclass(frozen=True)
class Check:
    """One request to a route, made by each persona of ``expect`` (persona → expected status) in that order.

    ``setup(world)`` creates the object of school A the route is about (its ``pk`` fills the URL); a refused
    request must leave it unchanged. ``no_leak``: the answer to a persona outside school A must not name any of
    school A's rows (nor the object).
    """

    method: str
    expect: dict
    data: object = None  # callable(world) -> dict
    no_leak: bool = False
    json: bool = False
    extra: dict = field(default_factory=dict)
    setup: object = None  # callable(world) -> object of school A
    kwargs: object = None  # callable(obj) -> URL kwargs (default: {"pk": obj.pk} when the route takes it)
    # Whose answers must not show school A's names or the object (``no_leak``) ...
    leak_personas: tuple = ("admin_b", "outsider")
    # ... and whose requests must leave the object as it was, whatever the status.
    unchanged_for: tuple = ()


def everyone(status, anonymous=LOGIN) -> dict:
    """The same expected status for every signed-in persona (anonymous: a redirect to sign in)."""
    return {ANON: anonymous, **dict.fromkeys(SIGNED_IN, status)}


def app_route_checks() -> dict[str, tuple[Check, ...]]:
    """``ROUTES`` of every ``houqin.<app>.tests.isolation_routes*`` module of the installed apps."""
    found: dict[str, tuple[Check, ...]] = {}
    for config in apps.get_app_configs():
        if not config.name.startswith("houqin."):
            continue
        try:
            tests = importlib.import_module(f"{config.name}.tests")
        except ModuleNotFoundError:
            continue
        for info in pkgutil.iter_modules(getattr(tests, "__path__", [])):
            if not info.name.startswith("isolation_routes"):
                continue
            module = importlib.import_module(f"{tests.__name__}.{info.name}")
            for name, checks in module.ROUTES.items():
                if name in found:
                    raise ValueError(f"isolation checks for {name!r} are declared twice ({module.__name__})")
                found[name] = tuple(checks)
    return found
