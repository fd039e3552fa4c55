"""Import options: choices the user makes on the preview page that change what committing does (e.g. "create
the departments the file names that the system does not have yet"), stored with the staged upload and handed to
both the preview's dry run and the commit job.

An importer declares them in ``options``; each is a checkbox or a select whose choices depend on the user and the
school (e.g. the buildings new rooms may go in). Values are plain JSON (``bool`` or ``str``) so that they travel in
``meta.json``; the importer reads them, cleaned, from ``self.options``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms

OPTION_PREFIX = "opt_"  # form field names on the preview page (next to col_<n> and header_row)


@dataclass(frozen=True)
class ImportOption:
    """One choice on the preview page.

    ``choices(user, org)`` makes it a select (``[(value, label), …]``); without it, it is a checkbox. ``default`` is a
    value or ``default(user, org)``; for a select without one, the first choice. ``available(user, org)`` hides the
    option (which then keeps its default) from users who could not use it, e.g. without the right to create what it
    creates. ``show`` is "always", or "missing": only when the preview lists values the system does not have yet.
    """

    name: str
    label: str
    help: str = ""
    choices: Callable | None = None
    default: object = None
    available: Callable | None = None
    show: str = "always"

    @property
    def is_choice(self) -> bool:
        return self.choices is not None

    def choice_list(self, user, org) -> list[tuple[str, str]]:
        return [(str(v), str(label)) for v, label in self.choices(user, org)] if self.choices else []

    def default_value(self, user, org, choices: list[tuple[str, str]] | None = None):
        value = self.default(user, org) if callable(self.default) else self.default
        if self.is_choice:
            choices = self.choice_list(user, org) if choices is None else choices
            values = [v for v, _ in choices]
            return str(value) if value is not None and str(value) in values else (values[0] if values else "")
        return bool(value)

    def is_available(self, user, org) -> bool:
        return self.available is None or bool(self.available(user, org))


def clean_options(options: tuple[ImportOption, ...], raw: dict | None, user, org) -> tuple[dict, list[str]]:
    """The values to import with: ``raw`` (what the user chose) checked against what is allowed now, defaults for
    the rest. Returns (values, problems): a choice that is no longer offered (a building deleted since the preview)
    is a problem in Chinese, and the value falls back to the default."""
    raw = raw or {}
    values: dict = {}
    problems: list[str] = []
    for option in options:
        choices = option.choice_list(user, org) if option.is_choice else None
        default = option.default_value(user, org, choices)
        if option.name not in raw or not option.is_available(user, org):
            values[option.name] = default
            continue
        value = raw[option.name]
        if option.is_choice:
            value = "" if value is None else str(value)
            if value not in {v for v, _ in choices}:
                problems.append(f"导入选项“{option.label}”的选择已失效，请在预览页重新选择后再导入。")
                value = default
        else:
            value = bool(value)
        values[option.name] = value
    return values, problems


def options_form(options: tuple[ImportOption, ...], user, org, values: dict, data=None) -> forms.Form | None:
    """The preview page's form for the options this user may set (None when there are none), showing ``values``."""
    fields = {}
    for option in options:
        if not option.is_available(user, org):
            continue
        name = OPTION_PREFIX + option.name
        if option.is_choice:
            field = forms.ChoiceField(label=option.label, help_text=option.help, required=True,
                                      choices=option.choice_list(user, org))
            field.widget.attrs["class"] = "form-select"
        else:
            field = forms.BooleanField(label=option.label, help_text=option.help, required=False)
            field.widget.attrs["class"] = "form-check-input"
        field.show = option.show
        field.initial = values.get(option.name)
        fields[name] = field
    if not fields:
        return None
    form_class = type("ImportOptionsForm", (forms.Form,), dict(fields))
    return form_class(data=data, auto_id="id_%s")


def form_values(form: forms.Form) -> dict:
    """The cleaned values of a bound, valid ``options_form`` by option name."""
    return {name.removeprefix(OPTION_PREFIX): value for name, value in form.cleaned_data.items()}
