"""``reverse``, remembering what it reversed.

Reversing a URL name costs about 40 µs of Python, and every page names the same addresses again and again: the
layout's links, a card's buttons, one ``get_absolute_url`` per row of a list. The URL patterns do not change in a
running process, so an address reversed from text and numbers is kept (per process, up to ``KEPT_MAX``, then the
memory starts again). Tests that swap the patterns (``ROOT_URLCONF``, ``FORCE_SCRIPT_NAME``) empty it.

``{% url %}`` in the project's templates uses it too (houqin.core.templatetags.houqin, a builtin library).
"""

from __future__ import annotations

from django.core.signals import setting_changed
from django.urls import get_script_prefix, get_urlconf, reverse

_KEPT: dict = {}
KEPT_MAX = 20_000


def reverse_kept(view_name: str, args=(), kwargs=None, current_app: str | None = None) -> str:
    """``reverse(view_name, args=args, kwargs=kwargs, current_app=current_app)``; kept when every argument is text
    or a whole number (any other object, a model instance say, could reverse differently later: reversed each
    time). Raises ``NoReverseMatch`` as ``reverse`` does."""
    kwargs = kwargs or {}
    if not all(type(v) in (str, int) for v in (*args, *kwargs.values())):
        return reverse(view_name, args=args, kwargs=kwargs, current_app=current_app)
    key = (view_name, tuple((type(a), a) for a in args), tuple(sorted((k, type(v), v) for k, v in kwargs.items())),
           current_app, get_script_prefix(), get_urlconf())
    url = _KEPT.get(key)
    if url is None:
        url = reverse(view_name, args=args, kwargs=kwargs, current_app=current_app)
        if len(_KEPT) >= KEPT_MAX:
            _KEPT.clear()
        _KEPT[key] = url
    return url


def forget() -> None:
    _KEPT.clear()


def _on_setting_changed(**kwargs):
    if kwargs.get("setting") in ("ROOT_URLCONF", "FORCE_SCRIPT_NAME"):
        forget()


setting_changed.connect(_on_setting_changed)
