"""Test helpers for kept pages (houqin.core.pagecache): turning the cache on in a test, and the two rules every
page that may be kept is held to (docs/testing.md, "Kept pages")."""

from __future__ import annotations

import re

from houqin.core import pagecache

# The CSRF token in a page (a form's hidden input, the HTMX header): group 2 is the token.
TOKEN = re.compile(r'(csrfmiddlewaretoken" value="|X-CSRFToken": ")([^"]+)"')


def keep_pages(settings, monkeypatch) -> None:
    """Turn kept pages on for this test (off in tests by default), with no minute boundary between requests."""
    settings.HOUQIN_PAGE_CACHE_SECONDS = 120
    monkeypatch.setattr(pagecache, "_minute", lambda: 1000)


# A hard reload: the page is built afresh rather than served kept.
FRESH = {"Cache-Control": "no-cache"}


def without_tokens(response) -> str:
    return TOKEN.sub("", response.content.decode())


def built_afresh(client, urls) -> list[str]:
    """Each page of ``urls`` built afresh (a hard reload; 200 asserted), without its CSRF tokens."""
    pages = []
    for url in urls:
        response = client.get(url, headers=FRESH)
        assert response.status_code == 200, url
        pages.append(without_tokens(response))
    return pages


def assert_kept_safely(client, url: str) -> None:
    """Once a first visit has set up what it sets up, building ``url`` writes nothing, and the kept page served
    next is the page built before."""
    assert client.get(url).status_code == 200, url
    writes = pagecache.writes_seen()
    built = client.get(url)
    assert pagecache.writes_seen() == writes, f"{url}: building the page wrote to the database"
    again = client.get(url)
    assert again[pagecache.HEADER] == "hit", url
    assert without_tokens(again) == without_tokens(built), url
