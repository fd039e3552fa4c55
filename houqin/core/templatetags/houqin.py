from django import forms, template

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
    return bound_field.as_widget(attrs=attrs)
