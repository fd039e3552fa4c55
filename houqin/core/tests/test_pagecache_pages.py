"""Every list and record page that may be kept (houqin.core.pagecache) is safe to keep: once a first visit has
set up what it sets up (a school's default repair categories), building it writes nothing (a page that wrote
each time would hide that write whenever it is served kept), and the kept page served the next time is the page
built before."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from houqin.core.testing.pages import assert_kept_safely, keep_pages
from houqin.core.testing.registry import factory_for
from houqin.core.testing.routes import ui_route_names
from houqin.core.ui import REGISTRY
from houqin.core.views.generic import ObjectDetailView, ObjectListView


def _labels() -> list[str]:
    ui_route_names()
    return sorted(REGISTRY)  # every UI's list and detail views are ObjectListView / ObjectDetailView, kept


@pytest.mark.django_db
@pytest.mark.parametrize("label", _labels())
def test_kept_pages_write_nothing_and_come_back_the_same(world, settings, monkeypatch, label):
    keep_pages(settings, monkeypatch)
    ui = REGISTRY[label]
    factory = factory_for(ui.model)
    factory.make_many(world.a, 2)
    user = world.persona(factory.list_persona)
    client = Client()
    client.force_login(user)
    assert (ui.list_view or ObjectListView).page_cache and (ui.detail_view or ObjectDetailView).page_cache
    assert_kept_safely(client, reverse(ui.url_name("list")))
    first = ui.base_queryset(user).order_by("pk").first()
    if first is not None:
        assert_kept_safely(client, reverse(ui.url_name("detail"), args=[first.pk]))
