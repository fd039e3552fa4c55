"""Checks of the demo data, declared by each app and run after one whole demo (houqin/core/tests/test_demo.py).

The whole demo takes a while (thousands of cards and work orders through the real commands), so the suite runs it
once: an app declares what its steps must have produced in ``houqin/<app>/tests/demo_checks*.py``, as functions
named ``check_*`` without arguments (they find the demo school themselves, e.g. by ``ORG_CODES[PRIMARY]``). A check
may create rows (a card registered after the demo continues the number sequence); the test's second demo run then
proves that the demo writes nothing more.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

from django.apps import apps


def demo_checks() -> list[tuple[str, Callable]]:
    """(``module.function``, function) of every installed houqin app's demo checks, in a stable order."""
    found = []
    for config in apps.get_app_configs():
        if not config.name.startswith("houqin."):
            continue
        try:
            tests = importlib.import_module(f"{config.name}.tests")
        except ModuleNotFoundError:
            continue
        for info in sorted(pkgutil.iter_modules(getattr(tests, "__path__", [])), key=lambda i: i.name):
            if not info.name.startswith("demo_checks"):
                continue
            module = importlib.import_module(f"{tests.__name__}.{info.name}")
            for name in sorted(vars(module)):
                func = getattr(module, name)
                if name.startswith("check_") and callable(func) and func.__module__ == module.__name__:
                    found.append((f"{module.__name__}.{name}", func))
    return found
