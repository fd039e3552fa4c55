from django import forms, template
from django.template import defaulttags
from django.urls import NoReverseMatch
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from houqin.core.reversing import reverse_kept
from houqin.core.selects import fast_select_supported, render_select

register = template.Library()

# --- {% url %}, remembering what it reversed ------------------------------------------------------------------------
# This library is a builtin of the project's templates, so its ``url`` replaces Django's: the same tag and syntax,
# reversing through houqin.core.reversing.reverse_kept (a page names the same twenty or thirty addresses each view).


class KeptURLNode(defaulttags.URLNode):
    def render(self, context):
        args = [arg.resolve(context) for arg in self.args]
        kwargs = {k: v.resolve(context) for k, v in self.kwargs.items()}
        view_name = self.view_name.resolve(context)
        request = getattr(context, "request", None)
        if hasattr(request, "current_app"):
            current_app = request.current_app
        else:
            current_app = getattr(getattr(request, "resolver_match", None), "namespace", None)
        url = ""
        try:
            url = reverse_kept(view_name, args, kwargs, current_app)
        except NoReverseMatch:
            if self.asvar is None:
                raise
        if self.asvar:
            context[self.asvar] = url
            return ""
        return conditional_escape(url) if context.autoescape else url


@register.tag
def url(parser, token):
    """Django's ``{% url %}`` (same syntax and errors), remembering the addresses it reversed."""
    node = defaulttags.url(parser, token)
    node.__class__ = KeptURLNode
    return node


# --- {% keptpart %}: layout parts rendered once per data version ------------------------------------------------------
class KeptPartNode(template.Node):
    def __init__(self, name: str, vary: list, nodelist):
        self.name, self.vary, self.nodelist = name, vary, nodelist

    def render(self, context):
        from houqin.core import pagecache

        vary = tuple(str(v.resolve(context)) for v in self.vary)
        return pagecache.kept_part(context.get("request"), self.name, vary, lambda: self.nodelist.render(context))


@register.tag
def keptpart(parser, token):
    """``{% keptpart "name" var… %}…{% endkeptpart %}``: a part of the layout that is the same on every page of a user
    in a school (the menu, the header's badges and account menu) while the data holds, rendered once per process
    and data version when a page is built to be kept (houqin.core.pagecache.kept_part), and afresh otherwise. The
    variables named after the part's name are part of its key (the menu's highlighted entry). What differs from
    page to page (the address, the time, messages) must stay outside."""
    bits = token.split_contents()
    if len(bits) < 2 or bits[1][0] not in "'\"" or bits[1][0] != bits[1][-1]:
        raise template.TemplateSyntaxError("keptpart needs a quoted name: {% keptpart \"menu\" %}")
    nodelist = parser.parse(("endkeptpart",))
    parser.delete_first_token()
    return KeptPartNode(bits[1][1:-1], [parser.compile_filter(bit) for bit in bits[2:]], nodelist)


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
