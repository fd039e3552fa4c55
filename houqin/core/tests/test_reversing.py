"""Addresses reversed once and remembered (houqin.core.reversing, and ``{% url %}`` through it)."""

from __future__ import annotations

import sys
import types

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.test import override_settings
from django.urls import NoReverseMatch, path, reverse, set_script_prefix

from houqin.core import reversing
from houqin.core.reversing import reverse_kept


@pytest.fixture(autouse=True)
def empty_memory():
    reversing.forget()
    yield
    reversing.forget()


def test_gives_what_reverse_gives_and_remembers_it():
    assert reverse_kept("job_detail", args=[7]) == reverse("job_detail", args=[7]) == "/jobs/7/"
    assert reverse_kept("job_detail", kwargs={"pk": 8}) == "/jobs/8/"
    assert reverse_kept("dashboard") == "/"
    assert len(reversing._KEPT) == 3
    assert reverse_kept("job_detail", args=[7]) == "/jobs/7/"
    assert len(reversing._KEPT) == 3


def test_a_number_and_its_text_are_kept_apart_and_a_model_is_not_kept(django_user_model):
    assert reverse_kept("job_detail", args=[7]) == reverse_kept("job_detail", args=["7"]) == "/jobs/7/"
    assert len(reversing._KEPT) == 2

    class Named:  # an object reversing through str(): it may say something else next time
        text = "1"

        def __str__(self):
            return self.text

    named = Named()
    assert reverse_kept("job_detail", args=[named]) == "/jobs/1/"
    named.text = "2"
    assert reverse_kept("job_detail", args=[named]) == "/jobs/2/"
    assert len(reversing._KEPT) == 2


def test_unknown_names_raise_as_reverse_does_and_are_not_kept():
    with pytest.raises(NoReverseMatch):
        reverse_kept("no_such_page")
    with pytest.raises(NoReverseMatch):
        reverse_kept("job_detail", args=["not-a-number"])
    assert reversing._KEPT == {}


def test_the_script_prefix_is_part_of_the_address():
    assert reverse_kept("job_list") == "/jobs/"
    set_script_prefix("/houqin/")
    try:
        assert reverse_kept("job_list") == "/houqin/jobs/"
    finally:
        set_script_prefix("/")
    assert reverse_kept("job_list") == "/jobs/"


def test_other_url_patterns_are_not_answered_from_memory():
    assert reverse_kept("job_list") == "/jobs/"
    module = types.ModuleType("houqin_test_other_urls")
    module.urlpatterns = [path("elsewhere/jobs/", lambda request: None, name="job_list")]
    sys.modules[module.__name__] = module
    try:
        with override_settings(ROOT_URLCONF=module.__name__):
            assert reverse_kept("job_list") == "/elsewhere/jobs/"
        assert reverse_kept("job_list") == "/jobs/"
    finally:
        del sys.modules[module.__name__]


def test_memory_starts_again_when_full(monkeypatch):
    monkeypatch.setattr(reversing, "KEPT_MAX", 3)
    for pk in range(1, 6):
        assert reverse_kept("job_detail", args=[pk]) == f"/jobs/{pk}/"
    assert 1 <= len(reversing._KEPT) <= 3


def test_url_tag_keeps_djangos_behaviour():
    html = Template("{% url 'job_detail' pk %}|{% url 'job_detail' pk=pk %}|{% url name %}|"
                    "{% url 'no_such_page' as missing %}[{{ missing }}]|{% url 'job_list' as jobs %}{{ jobs }}").render(
        Context({"pk": 5, "name": "dashboard"}))
    assert html == "/jobs/5/|/jobs/5/|/|[]|/jobs/"
    with pytest.raises(NoReverseMatch):
        Template("{% url 'no_such_page' %}").render(Context())
    with pytest.raises(TemplateSyntaxError):
        Template("{% url %}")
