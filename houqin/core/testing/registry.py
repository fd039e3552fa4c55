"""Object factories for the tenant-isolation matrix and the query-count tests.

Every model with a registered UI (``houqin.core.ui.REGISTRY``) or an API viewset needs one factory here, or the
isolation matrix fails for it (fail closed). A domain app registers its factories in ``<app>/tests/factories.py``,
which ``autodiscover()`` imports:

    from houqin.core.testing import register_factory

    @register_factory(Asset, bulk=bulk_assets)
    def asset(school, label):
        return make_asset(school.org, name=label, ...)

``make(school, label)`` builds one object owned by ``school`` (a ``SchoolWorld``) whose list row, export row and
detail page show ``label``. ``bulk(school, n)`` creates ``n`` more rows of the model in ``school`` quickly
(``bulk_create`` after ``refresh_search_index()``) with their foreign keys filled in, so that an N+1 query shows
up in the query-count tests; without it ``make`` is called ``n`` times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.module_loading import autodiscover_modules


@dataclass(frozen=True)
class ObjectFactory:
    model: type
    make: Callable
    bulk: Callable | None = None
    # Who lists the bulk rows in the query-count tests (a persona of houqin.core.testing.world.World).
    list_persona: str = "admin_a"

    def make_many(self, school, n: int) -> None:
        if self.bulk is not None:
            self.bulk(school, n)
            return
        for i in range(n):
            self.make(school, f"批量{self.model._meta.model_name}{i:04d}")


FACTORIES: dict[str, ObjectFactory] = {}
_discovered = False


def register_factory(model, *, bulk: Callable | None = None, list_persona: str = "admin_a"):
    """Decorator registering ``make(school, label)`` as the factory of ``model``."""

    def decorator(make: Callable) -> Callable:
        FACTORIES[model._meta.label_lower] = ObjectFactory(model, make, bulk, list_persona)
        return make

    return decorator


def autodiscover() -> None:
    """Import core's factories and every installed app's ``tests.factories`` module (once)."""
    global _discovered
    if _discovered:
        return
    from houqin.core.testing import factories  # noqa: F401  (registers core's factories)

    autodiscover_modules("tests.factories")
    _discovered = True


class MissingFactory(LookupError):
    pass


def factory_for(model) -> ObjectFactory:
    autodiscover()
    try:
        return FACTORIES[model._meta.label_lower]
    except KeyError:
        raise MissingFactory(
            f"No test factory for {model._meta.label}: the isolation matrix cannot prove that school B never sees "
            f"school A's {model._meta.verbose_name}. Register one with @register_factory({model.__name__}) in "
            f"{model._meta.app_config.name}/tests/factories.py (see docs/testing.md)."
        ) from None
