"""The 维修看板 is kept while the data holds (houqin.core.pagecache): once a first visit has brought the kept
figures up to date, building it writes nothing, and the kept page comes back the same."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from houqin.core import pagecache

TOKEN = re.compile(r'(csrfmiddlewaretoken" value="|X-CSRFToken": ")[^"]+"')


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["admin_a", "bureau_admin"])
def test_kept_dashboard_writes_nothing_and_comes_back_the_same(world, settings, monkeypatch, persona):
    settings.HOUQIN_PAGE_CACHE_SECONDS = 120
    monkeypatch.setattr(pagecache, "_minute", lambda: 1000)
    client = Client()
    client.force_login(world.persona(persona))
    url = reverse("repairs:dashboard")
    assert client.get(url).status_code == 200
    writes = pagecache.writes_seen()
    built = client.get(url)
    assert pagecache.writes_seen() == writes, "building the page wrote to the database"
    again = client.get(url)
    assert again[pagecache.HEADER] == "hit"
    assert TOKEN.sub("", again.content.decode()) == TOKEN.sub("", built.content.decode())
