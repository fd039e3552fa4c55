"""Static file storages whose URLs are worked out once per file and process.

Every page links the same stylesheets and scripts; ``{% static %}`` asks the storage for each one on every build
(an ``urljoin``, and with the manifest a lookup of the hashed name), about half a millisecond a page. The answer
for a name does not change while the process runs: the manifest is read at start, and tests that change the static
settings get a new storage (Django resets it when they change)."""

from __future__ import annotations

from django.contrib.staticfiles.storage import StaticFilesStorage
from whitenoise.storage import CompressedManifestStaticFilesStorage


class _KeptURLs:
    def url(self, name, *args, **kwargs):
        if args or kwargs:  # the manifest's ``force``: asked rarely, answered afresh
            return super().url(name, *args, **kwargs)
        urls = self.__dict__.setdefault("_kept_urls", {})
        url = urls.get(name)
        if url is None:
            url = urls[name] = super().url(name)
        return url


class KeptURLStaticFilesStorage(_KeptURLs, StaticFilesStorage):
    """Development and tests: files served from the apps' static folders."""


class KeptURLManifestStaticFilesStorage(_KeptURLs, CompressedManifestStaticFilesStorage):
    """Production: WhiteNoise's compressed files with hashed names."""
