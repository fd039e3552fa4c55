from django import forms, template
from django.utils.safestring import mark_safe

from houqin.core.selects import fast_select_supported, render_select

register = template.Library()


@register.filter
def as_control(bound_field):
    """Render a form field with the theme's classes (form-control, form-select, form-check-input)."""
    widget = bound_field.field.widget
    attrs = {}
    if "class" not in widget.attrs:
        if isinstance(widget, forms.Select | forms.SelectMultiple) and not isinstance(
            widget, forms.CheckboxSelectMultiple
        ):
            attrs["class"] = "form-select"
        elif isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple):
            attrs["class"] = "form-check-input"
        else:
            attrs["class"] = "form-control"
    if bound_field.errors:
        attrs["class"] = (attrs.get("class") or widget.attrs.get("class", "")) + " is-invalid"
        attrs["aria-invalid"] = "true"
    if fast_select_supported(bound_field):
        return render_select(bound_field, attrs)
    return bound_field.as_widget(attrs=attrs)


@register.simple_tag(takes_context=True)
def side_menu(context):
    """The side menu's groups for the signed-in user (houqin.core.navigation.menu_html)."""
    from houqin.core.navigation import menu_html

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ""
    match = getattr(request, "resolver_match", None)
    return mark_safe(menu_html(user, match.view_name if match else None))  # noqa: S308 — written with format_html
