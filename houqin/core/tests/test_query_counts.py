"""Query budgets for every ModelUI: a page costs the same number of queries with a handful of rows in the database
as with hundreds, and at 10 rows per page as at 100. A regression (an N+1 over rows, over the choices of a filter
or form, or over a related list on the detail page) fails with the repeated query shown.

The same holds for every API endpoint with a model (list and detail, ``page_size`` 10 and 100).

The data is built once for the module (inside a transaction that is rolled back at the end): first the world,
whose pages are measured as the baseline, then ≥110 rows of every registered model in school A through the
factories' ``bulk`` functions (houqin.core.testing.registry).

Every page's query count is also **recorded** in ``query_budgets.json`` beside this file: a page that needs more
queries than recorded fails (a regression), and so does one that needs fewer (record the improvement). After an
intended change, re-record with ``HOUQIN_RECORD_QUERY_BUDGETS=1 pytest houqin/core/tests/test_query_counts.py``
and commit the file with the change; the diff shows which pages changed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from houqin.core.auth import clear_access_cache, user_can
from houqin.core.testing.isolation import ui_actions
from houqin.core.testing.queries import captured_queries, describe_difference
from houqin.core.testing.registry import factory_for
from houqin.core.testing.routes import ui_route_names
from houqin.core.testing.world import build_world
from houqin.core.ui import REGISTRY

BULK_ROWS = 110
BUDGETS_FILE = Path(__file__).with_name("query_budgets.json")
RECORD = os.environ.get("HOUQIN_RECORD_QUERY_BUDGETS") == "1"
# Also tells pytest-django to create the test database before the module-scoped fixture below uses it. The fixture
# measures every page twice (tens of seconds); the Makefile's ``--dist loadscope`` runs the whole module in one
# xdist worker, so it is measured once, not once per worker.
pytestmark = pytest.mark.django_db


class Measurements(dict):
    """{model label: {page: (baseline SQL, SQL with bulk rows, url, data)}}, with a short repr for tracebacks."""

    def __repr__(self):
        return f"<query measurements of {len(self)} models>"


def _labels() -> list[str]:
    ui_route_names()
    return sorted(REGISTRY)


def _api_endpoints() -> list[tuple[str, object]]:
    """(URL prefix, model) of every API endpoint that lists and shows rows of a model."""
    import houqin.api_urls  # noqa: F401 — registers every app's viewsets
    from houqin.core.api.router import router

    found = []
    for prefix, viewset, _ in router.registry:
        queryset = getattr(viewset, "queryset", None)
        if queryset is not None and hasattr(viewset, "list"):
            found.append((prefix, queryset.model))
    return sorted(found, key=lambda item: item[0])


def _api_labels() -> list[str]:
    return [f"api {prefix}" for prefix, _ in _api_endpoints()]


def _api_pages(prefix: str, pk) -> dict[str, tuple[str, dict]]:
    pages = {"list": (f"/api/{prefix}/", {"page_size": 10})}
    if pk is not None:
        pages["detail"] = (f"/api/{prefix}/{pk}/", {})
    return pages


def _pages(ui, user, obj) -> dict[str, tuple[str, dict]]:
    """The pages of one UI that ``user`` may open: name → (url, query string). The export and the edit form are
    left out: they run the same querysets as the list and the add form."""
    actions = ui_actions(ui)
    pages = {"list": (reverse(ui.url_name("list")), {"per_page": 10})}
    if "print_list" in actions:
        pages["print_list"] = (reverse(ui.url_name("print_list")), {})
    if "add" in actions and user_can(user, "add", ui.model, org_id=user.default_org_id):
        pages["add"] = (reverse(ui.url_name("add")), {})
    if obj is not None:
        pages["detail"] = (reverse(ui.url_name("detail"), args=[obj.pk]), {})
    return pages


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _measure(client, url, data) -> list[str] | str:
    """The page's SQL, or what went wrong (reported by the test of that model, not by the whole module)."""
    try:
        return captured_queries(client, url, data)
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"


@pytest.fixture(scope="module")
def measured(django_db_setup, django_db_blocker):
    """{model label: {page: (baseline SQL, SQL with bulk rows, url, data)}} plus list at 100 rows per page."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            world = build_world()
            plans = {}
            for label in _labels():
                ui = REGISTRY[label]
                factory = factory_for(ui.model)
                user = world.persona(factory.list_persona)
                first = ui.base_queryset(user).order_by("pk").first()
                plans[label] = (ui, factory, _client(user), _pages(ui, user, first))
            for prefix, model in _api_endpoints():
                factory = factory_for(model)
                client = _client(world.persona(factory.list_persona))
                plans[f"api {prefix}"] = (None, factory, client, {})
            for _, _, client, pages in plans.values():  # fill the caches (content types, templates) first
                for url, data in pages.values():
                    _measure(client, url, data)
            baseline = {label: {page: _measure(client, url, data) for page, (url, data) in pages.items()}
                        for label, (_, _, client, pages) in plans.items()}
            for factory in {id(plan[1]): plan[1] for plan in plans.values()}.values():  # each model once
                factory.make_many(world.a, BULK_ROWS)
            # API endpoints are measured with the bulk rows only (their baseline lists may be empty, and a list
            # of none runs no prefetch queries): at 10 rows per page and at 100, and one row's detail.
            for label, (ui, _factory, client, pages) in plans.items():
                if ui is None:
                    prefix = label.removeprefix("api ")
                    listed = client.get(f"/api/{prefix}/", {"page_size": 1}, HTTP_ACCEPT="application/json")
                    rows = listed.json().get("results", []) if listed.status_code == 200 else []
                    pages.update(_api_pages(prefix, rows[0]["id"] if rows else None))
                    for page, (url, data) in pages.items():
                        _measure(client, url, data)  # warm
                        baseline[label][page] = _measure(client, url, data)
            # The detail page of a model the world has no row of before the bulk rows: measured on the first of them.
            for label, (ui, factory, client, pages) in plans.items():
                if ui is not None and "detail" not in pages:
                    first = ui.base_queryset(world.persona(factory.list_persona)).order_by("pk").first()
                    if first is not None:
                        url = reverse(ui.url_name("detail"), args=[first.pk])
                        pages["detail"] = (url, {})
                        _measure(client, url, {})  # warm
                        baseline[label]["detail"] = _measure(client, url, {})
            results = Measurements()
            for label, (ui, factory, client, pages) in plans.items():
                results[label] = {}
                for page, (url, data) in pages.items():
                    results[label][page] = (baseline[label][page], _measure(client, url, data), url, data)
                url, _ = pages["list"]
                user = world.persona(factory.list_persona)
                clear_access_cache(user)
                if ui is None:  # an API endpoint
                    visible = factory.model.objects.restrict(user, "view").count()
                    bigger = {"page_size": 100}
                else:
                    visible = ui.base_queryset(user).count()
                    bigger = {"per_page": 100}
                results[label]["list at 100 per page"] = (results[label]["list"][1],
                                                          _measure(client, url, bigger), url, visible)
            yield results
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.mark.parametrize("label", _labels() + _api_labels())
def test_query_count_does_not_grow_with_rows(measured, label):
    failures = []
    for page, (small, big, url, data) in measured[label].items():
        if page == "list at 100 per page":
            assert data > 100, f"{label}: only {data} rows visible, the 100-per-page list proves nothing"
        if isinstance(small, str) or isinstance(big, str):
            failures.append(f"{page} {url}: {small if isinstance(small, str) else big}")
        elif len(small) != len(big):
            failures.append(f"{page} {url}: {len(small)} queries → {len(big)}; repeated:\n    "
                            f"{describe_difference(small, big)}")
    assert not failures, f"{label}:\n" + "\n".join(failures)


def test_query_counts_are_the_recorded_budgets(measured):
    """Every page's count (with the bulk rows) equals the one recorded in query_budgets.json."""
    counts = {f"{label} · {page}": len(big) for label, pages in measured.items()
              for page, (_small, big, _url, _data) in pages.items() if not isinstance(big, str)}
    if RECORD:
        recorded = json.loads(BUDGETS_FILE.read_text(encoding="utf-8")) if BUDGETS_FILE.exists() else {}
        recorded[connection.vendor] = dict(sorted(counts.items()))
        BUDGETS_FILE.write_text(json.dumps(recorded, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        return
    recorded = json.loads(BUDGETS_FILE.read_text(encoding="utf-8"))[connection.vendor]
    changed = []
    for page in sorted(set(counts) | set(recorded)):
        now, then = counts.get(page), recorded.get(page)
        if now != then:
            what = "new page" if then is None else "gone" if now is None else (
                "MORE queries (a regression)" if now > then else "fewer queries: record the improvement")
            changed.append(f"{page}: recorded {then}, now {now} — {what}")
    assert not changed, ("query counts differ from houqin/core/tests/query_budgets.json "
                         "(re-record after an intended change: HOUQIN_RECORD_QUERY_BUDGETS=1):\n" + "\n".join(changed))
