"""Drop-down lists (``<select>``) written fast: a list page's filter form offers rooms, departments, categories,
people… and Django renders every ``<option>`` through a template of its own and builds a model instance for each
row on every request — half the time of a list page. Here the options are written in one pass, and the choices
of a related-object field are kept for a short while per process.

Freshness: a save or delete of the chosen model (or of a model it refers to, e.g. a building when the rooms'
names show it) clears the kept lists in the process that made it at once; other server processes see the change
within ``TTL_SECONDS`` — and bulk writes, which send no signals, too. Only choice lists are kept, never the rows
of a list or a record's figures.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

from django import forms
from django.db.models.signals import post_delete, post_save
from django.forms.utils import flatatt
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

TTL_SECONDS = 30.0

_lock = threading.Lock()
_kept: dict[tuple, tuple[float, tuple[int, ...], list[tuple[str, str]]]] = {}
_generation: defaultdict[str, int] = defaultdict(int)
_watched: dict[str, tuple[str, ...]] = {}


def _changed(sender, **kwargs) -> None:
    _generation[sender._meta.label_lower] += 1


post_save.connect(_changed, dispatch_uid="houqin.core.selects.saved")
post_delete.connect(_changed, dispatch_uid="houqin.core.selects.deleted")


def clear() -> None:
    """Forget every kept list (tests call this between tests: rolled-back rows may reuse primary keys)."""
    with _lock:
        _kept.clear()


def _models_of(model) -> tuple[str, ...]:
    """The model and the models its forward relations point at (their names may appear in the labels)."""
    label = model._meta.label_lower
    if label not in _watched:
        related = {f.related_model._meta.label_lower for f in model._meta.get_fields()
                   if f.is_relation and f.concrete and f.related_model is not None}
        _watched[label] = (label, *sorted(related - {label}))
    return _watched[label]


def model_choices(field: forms.ModelChoiceField) -> list[tuple[str, str]]:
    """(value, label) pairs of a model choice field's queryset, without the empty choice."""
    queryset = field.queryset
    if queryset is None:
        return []
    label_func = getattr(field.label_from_instance, "__func__", field.label_from_instance)
    key = (queryset.db, _fingerprint(queryset.query), field.to_field_name, id(label_func))
    watched = _models_of(queryset.model)
    generation = tuple(_generation[label] for label in watched)
    now = time.monotonic()
    kept = _kept.get(key)
    if kept is not None and kept[0] > now and kept[1] == generation:
        return kept[2]
    choices = [(str(field.prepare_value(obj)), str(field.label_from_instance(obj))) for obj in queryset]
    with _lock:
        if len(_kept) > 2000:  # many schools × many lists: start again rather than grow without end
            _kept.clear()
        _kept[key] = (now + TTL_SECONDS, generation, choices)
    return choices


def _fingerprint(query) -> tuple:
    """What decides a query's rows and their order, without compiling its SQL (compiling a query that joins
    five tables costs milliseconds; the text of its conditions costs microseconds)."""
    return (query.model._meta.label_lower, str(query.where), tuple(map(str, query.order_by)),
            query.default_ordering, tuple(query.extra_order_by), query.distinct, tuple(query.distinct_fields),
            query.low_mark, query.high_mark, tuple((k, str(v)) for k, v in query.annotations.items()),
            str(query.extra), query.combinator, query.is_empty())


def _options(choices, selected: set[str]) -> list[str]:
    parts = []
    for value, label in choices:
        if isinstance(label, list | tuple):  # an option group
            parts.append(format_html('<optgroup label="{}">', value))
            parts.extend(_options(label, selected))
            parts.append("</optgroup>")
            continue
        text = "" if value is None else str(value)
        mark = " selected" if text in selected else ""
        parts.append(f'<option value="{conditional_escape(text)}"{mark}>{conditional_escape(label)}</option>')
    return parts


def fast_select_supported(bound_field) -> bool:
    """A plain single-choice drop-down (not a multiple choice, not a custom widget or null choice)."""
    field = bound_field.field
    widget = field.widget
    return (type(widget) is forms.Select and isinstance(field, forms.ChoiceField | forms.ModelChoiceField)
            and getattr(field, "null_label", None) is None)


def render_select(bound_field, attrs: dict) -> str:
    """The field's ``<select>`` with its options, as Django would write it (same names, ids, attributes)."""
    field = bound_field.field
    widget = field.widget
    final = widget.build_attrs(widget.attrs, bound_field.build_widget_attrs(dict(attrs), widget))
    if bound_field.auto_id:
        final.setdefault("id", bound_field.auto_id)
    final["name"] = bound_field.html_name
    value = widget.format_value(bound_field.value())
    selected = {str(v) for v in value}
    if isinstance(field, forms.ModelChoiceField):
        choices = model_choices(field)
        if field.empty_label is not None:
            choices = [("", str(field.empty_label)), *choices]
    else:
        choices = list(field.choices)
    if len(selected) > 1:
        selected = {next(iter(selected))}
    return mark_safe(f"<select{flatatt(final)}>" + "".join(_options(choices, selected)) + "</select>")  # noqa: S308
