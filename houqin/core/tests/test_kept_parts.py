"""The layout's menu and header (``{% keptpart %}`` in core/base.html) are rendered once per user, school and data
version while pages are built to be kept: every page still comes out exactly as when they are rendered afresh —
the menu entry of the page highlighted, the school switch returning to the page it was used on, an unread
notification counted as soon as it is written — and a page rendered with the session's real CSRF token keeps
nothing.

The test of a change commits (``transaction=True``): PostgreSQL raises the data version after a commit."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from houqin.core import pagecache
from houqin.core.models import Notification
from houqin.core.testing.factories import grant, make_user
from houqin.core.testing.pages import built_afresh, keep_pages

NEXT = re.compile(r'<input type="hidden" name="next" value="([^"]*)" form="org-switch-form">')


def _parts() -> set:
    return {key[1] for key in pagecache._VALUES if key[0] == "part"}


@pytest.fixture
def two_school_user(world):
    user = make_user("kept_parts_two", full_name="两校管理员", org=world.a.org, roles=("school_admin",))
    grant(user, world.b.org, "school_admin")
    return user


@pytest.mark.django_db
def test_pages_with_kept_parts_are_the_pages_rendered_afresh(world, settings, monkeypatch, two_school_user):
    urls = [reverse("core:room_list"), reverse("core:room_detail", args=[world.a.rooms[0].pk]),
            reverse("core:room_list") + "?q=%E6%95%99", reverse("dashboard")]
    client = Client()
    client.force_login(two_school_user)
    afresh = built_afresh(client, urls)  # keeping off (the tests' default): every part rendered for its page
    keep_pages(settings, monkeypatch)
    pagecache._VALUES.clear()
    built_afresh(client, urls)  # renders the parts once…
    assert _parts() == {"menu", "header"}
    kept = built_afresh(client, urls)  # …and builds every page with them
    assert kept == afresh
    # The school switch returns to the page it was used on, though the header around it is kept.
    assert [NEXT.search(page).group(1).replace("&amp;", "&") for page in kept] == urls


@pytest.mark.django_db(transaction=True)
def test_a_new_notification_shows_in_the_kept_header_at_once(world, settings, monkeypatch):
    keep_pages(settings, monkeypatch)
    client = Client()
    client.force_login(world.admin_a)
    url = reverse("core:room_list")
    before = built_afresh(client, [url])[0]
    assert 'data-testid="unread-count"' not in before
    Notification.objects.create(recipient=world.admin_a, org=world.a.org, title="新的报修单")
    after = built_afresh(client, [url])[0]
    assert 'data-testid="unread-count">1<' in after


@pytest.mark.django_db
def test_a_page_with_the_sessions_own_token_keeps_no_part(world, settings, monkeypatch):
    """Keeping off (or a page that may not be kept): the parts hold the session's real CSRF token and are never
    kept for another page."""
    pagecache._VALUES.clear()
    client = Client()
    client.force_login(world.admin_a)
    assert client.get(reverse("core:room_list")).status_code == 200
    assert _parts() == set()
