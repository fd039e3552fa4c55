"""The 维修看板 is kept while the data holds (houqin.core.pagecache): once a first visit has brought the kept
figures up to date, building it writes nothing, and the kept page comes back the same."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from houqin.core.testing.pages import assert_kept_safely, keep_pages


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["admin_a", "bureau_admin"])
def test_kept_dashboard_writes_nothing_and_comes_back_the_same(world, settings, monkeypatch, persona):
    keep_pages(settings, monkeypatch)
    client = Client()
    client.force_login(world.persona(persona))
    assert_kept_safely(client, reverse("repairs:dashboard"))
