"""A server process's start (houqin.core.warmup): views imported, resolvers filled, templates compiled."""

from __future__ import annotations

import contextlib
import logging

from django.template import engines
from django.urls import get_resolver

from houqin.core import warmup


def test_compiles_every_template_of_the_project_and_fills_the_resolvers():
    done = warmup.warm_up()
    names = warmup.project_templates()
    assert done["failed"] == [] and done["templates"] == len(names) > 100
    assert "core/base.html" in names and "assets/asset_detail.html" in names
    assert not any(name.startswith(("admin/", "rest_framework/")) for name in names)  # Django's and DRF's: not ours
    resolver = get_resolver()
    assert resolver._populated and all(sub._populated for _prefix, sub in resolver.namespace_dict.values())


def test_a_template_that_does_not_compile_is_reported_not_raised(monkeypatch, caplog, tmp_path):
    broken = "core/_broken_for_test.html"
    monkeypatch.setattr(warmup, "project_templates", lambda: ["core/base.html", broken])
    engine = engines["django"].engine
    original = engine.get_template

    def get_template(name):
        if name == broken:
            from django.template import TemplateSyntaxError

            raise TemplateSyntaxError("Unclosed tag on line 1: 'if'")
        return original(name)

    monkeypatch.setattr(engine, "get_template", get_template)
    with caplog.at_level(logging.WARNING, logger="houqin.core.warmup"):
        done = warmup.warm_up()
    assert done["templates"] == 1 and done["failed"] == [broken]
    assert broken in caplog.text


def test_after_the_start_a_page_reversing_into_any_namespace_builds_no_resolver(monkeypatch):
    """Reversing into a namespace under a prefix (``assets:…``) makes Django build a resolver for that prefix and
    fill its tables, once per process: the start does it, not a worker's first page."""
    from django.urls import NoReverseMatch, resolvers, reverse

    warmup.warm_up()
    built = []
    original = resolvers.URLResolver._populate

    def populate(self):
        built.append(self)
        original(self)

    monkeypatch.setattr(resolvers.URLResolver, "_populate", populate)

    def names(resolver, namespace="", depth=0):
        for name, (_prefix, sub) in resolver.namespace_dict.items():
            yield from (f"{namespace}{name}:{key}" for key in sub.reverse_dict if isinstance(key, str))
            if depth < 4:
                yield from names(sub, f"{namespace}{name}:", depth + 1)

    every = list(names(get_resolver()))
    assert len(every) > 100 and "assets:asset_detail" in every
    for name in every:
        with contextlib.suppress(NoReverseMatch):  # names that need arguments: looked up all the same
            reverse(name)
    assert built == []
