"""Print pages and QR scan URLs (docs/printing.md).

* ``scan``: ``/q/<kind>/<token>/``, what every printed QR code opens: the kind's own page (``view``), else a
  redirect to the object's page.
* ``PrintListView`` / ``PrintDetailView``: an A4 sheet of a ModelUI's filtered list, or of one record.
  ``print_urls(ui)`` gives a ModelUI its two routes (``<model>_print_list``, ``<model>_print``).
* ``LabelSheetView``: label sheets of a ModelUI's filtered list, or one object's label.
  ``label_urls(ui, make_label)`` gives it its two routes (``<model>_labels``, ``<model>_label``).

Rows come through ``ui.base_queryset(user, "view")`` and the list's own filter set, like the list and its
Excel export: a print never shows what the list would not.
"""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from houqin.core import pagecache, printing, qr
from houqin.core.middleware import current_org
from houqin.core.ui import REGISTRY, ui_for
from houqin.core.views.generic import FilteredListMixin, UIView, detail_rows

LAYOUT_SESSION_KEY = "houqin_label_layout"
RELATED_ROWS = 100  # rows of each related list on a record sheet


# --- Scan URLs ------------------------------------------------------------------------------------------------------
@require_safe
@pagecache.cached_page
def scan(request, kind: str, token: str):
    """Open what a QR label points to.

    A kind with a ``view`` (``qr.register_kind(..., view=...)``, e.g. the assets app's phone page) hands every
    visitor the object behind a valid token (resolved without restriction, with its ModelUI's
    ``select_related``) and answers with ``view(request, obj)``; the view applies its own rules and may return
    None to fall back to the default below.

    Default: a signed-in user who may view the object goes to its page. Anyone else gets the kind's public
    page if it has one (``public_view``), else: anonymous visitors sign in first, and signed-in users get "not
    found" — the same answer as for a forged token, so a label of another school tells nothing."""
    scan_kind = qr.KINDS.get(kind)
    user = request.user
    if scan_kind is not None:
        if scan_kind.view is not None:
            ui = ui_for(scan_kind.model)
            if ui is not None:  # its record as its page reads it (houqin.core.ui.ModelUI.read_record)
                pk = qr.read_token(scan_kind.model_label, token)
                obj = ui.read_record(None, pk, restricted=False) if pk is not None else None
            else:
                obj = qr.resolve(kind, token)
            if obj is not None:
                response = scan_kind.view(request, obj)
                if response is not None:
                    return response
        if user.is_authenticated:
            ui = ui_for(scan_kind.model)
            visible = ui.base_queryset(user, "view") if ui else scan_kind.model.objects.restrict(user, "view")
            obj = qr.resolve(kind, token, visible)
            if obj is not None:
                return redirect(obj.get_absolute_url())
        if scan_kind.public_view is not None:
            obj = qr.resolve(kind, token)
            if obj is not None:
                response = scan_kind.public_view(request, obj)
                if response is not None:
                    return response
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    raise Http404("记录不存在或您无权查看。")


def scan_url(request, obj) -> str | None:
    """The absolute scan URL of ``obj``, or None if its model has no scan kind."""
    return qr.scan_url_for(request, obj) if qr.kind_for(obj) is not None else None


# --- Shared context -------------------------------------------------------------------------------------------------
def _query_without(request, *keys: str) -> list[tuple[str, str]]:
    """The request's GET parameters, less ``keys`` and the list's paging, as (name, value) pairs for hidden
    inputs: a print page's toolbar resubmits the list's filters unchanged."""
    drop = {"cursor", "per_page", *keys}
    return [(k, v) for k, values in request.GET.lists() if k not in drop for v in values]


def _back_url(url: str, request, *keys: str) -> str:
    query = request.GET.copy()
    for key in ("cursor", *keys):
        query.pop(key, None)
    encoded = query.urlencode()
    return f"{url}?{encoded}" if encoded else url


def _school_name(request, objects=()) -> str:
    """The school a sheet is printed for: the rows' own school when they all share one, else the current one."""
    from houqin.core.models import Organization

    org_ids = {getattr(o, "org_id", None) for o in objects} - {None}
    if len(org_ids) == 1:
        org_id = org_ids.pop()
        # Rows listed with their organisation (select_related) name it without a query.
        cached = next((o._state.fields_cache["org"] for o in objects if "org" in o._state.fields_cache), None)
        if cached is not None:
            return cached.name
        current = current_org(request)
        if current is not None and current.pk == org_id:
            return current.name
        name = Organization.objects.filter(pk=org_id).values_list("name", flat=True).first()
        if name:
            return name
    org = current_org(request)
    return org.name if org is not None else ""


def filter_summary(filterset) -> list[tuple[str, str]]:
    """(label, value) of each filter in use, as the sheet's header prints them."""
    if filterset is None or not filterset.is_bound or not filterset.is_valid():
        return []
    summary = []
    for name, value in filterset.form.cleaned_data.items():
        if value in (None, "", [], ()):
            continue
        field = filterset.form.fields[name]
        choices = dict(getattr(field, "choices", ()) or ())
        if isinstance(value, list | tuple):
            text = "、".join(str(choices.get(v, v)) for v in value)
        elif isinstance(value, bool):
            text = "是" if value else "否"
        else:
            text = str(choices.get(value, value)) if not hasattr(value, "_meta") else str(value)
        summary.append((_filter_label(filterset, name, field), text))
    return summary


def _filter_label(filterset, name: str, field) -> str:
    """A filter's label: its own, its form field's, or the model field's verbose name."""
    flt = filterset.filters.get(name)
    label = getattr(flt, "label", None) or field.label
    if not label:
        try:
            label = filterset._meta.model._meta.get_field(getattr(flt, "field_name", name)).verbose_name
        except Exception:  # noqa: BLE001 — not a model field (a method filter): its name
            label = name
    return str(label)


def _printed_by(request) -> str:
    user = request.user
    return user.get_full_name() or user.get_username()


# --- List and record sheets -----------------------------------------------------------------------------------------
class PrintListView(FilteredListMixin, UIView):
    """The filtered list as an A4 table: school, title, filters, every row (up to MAX_PRINT_ROWS), the header
    row repeated on each page and page numbers in the margin."""

    template_name = "core/print/list.html"

    def get(self, request, *args, **kwargs):
        self.require_model_perm("view")
        ui = self.ui
        table = ui.table_class(ui.model)
        columns = table.export_columns()
        filterset, queryset = self.filtered()
        order = self.ordering(table)
        queryset = queryset.order_by(order, "-pk" if order.startswith("-") else "pk")
        objects = list(queryset[:printing.MAX_PRINT_ROWS + 1])
        error = None
        if len(objects) > printing.MAX_PRINT_ROWS:
            error = printing.TooMany(printing.MAX_PRINT_ROWS, "条记录")
            objects = []
        orientation = request.GET.get("orientation")
        if orientation not in ("portrait", "landscape"):
            orientation = "landscape" if len(columns) > 6 else "portrait"
        plural = str(ui.model._meta.verbose_name_plural)
        context = {
            **self.base_context(),
            "school": _school_name(request, objects),
            "title": getattr(ui, "print_list_title", None) or f"{plural}清单",
            "filters": filter_summary(filterset),
            "columns": [c.label for c in columns],
            "rows": [[c.text(obj) for c in columns] for obj in objects],
            "count": len(objects),
            "error": str(error) if error else "",
            "orientation": orientation,
            "printed_at": timezone.localtime(),
            "printed_by": _printed_by(request),
            "hidden": _query_without(request, "orientation"),
            "back_url": _back_url(reverse(ui.url_name("list")), request, "orientation", "per_page"),
        }
        return render(request, self.template_name, context)


class PrintDetailView(UIView):
    """One record as an A4 sheet: school, title, fields, related lists, QR code, optional signature lines."""

    template_name = "core/print/record.html"

    def get(self, request, *args, **kwargs):
        ui = self.ui
        obj = self.get_object("view")
        fields = detail_rows(ui, obj)
        if not fields and ui.table_class is not None:  # models without a form: the list's columns
            fields = [(c.label, c.text(obj) or "—") for c in ui.table_class(ui.model).bound_columns]
        related = []
        for title, accessor, table_class in ui.related:
            manager = getattr(obj, accessor)
            rel_model = manager.model
            rel_ui = ui_for(rel_model)  # its select_related: no query per row
            visible = (rel_ui.base_queryset(request.user, "view") if rel_ui
                       else rel_model.objects.restrict(request.user, "view"))
            rows = list(visible.filter(pk__in=manager.all().values("pk"))[:RELATED_ROWS + 1])
            table = table_class(rel_model)
            related.append({"title": title, "columns": [c.label for c in table.bound_columns],
                            "rows": [[c.text(o) for c in table.bound_columns] for o in rows[:RELATED_ROWS]],
                            "more": len(rows) > RELATED_ROWS})
        url = scan_url(request, obj)
        context = {
            **self.base_context(),
            "object": obj,
            "school": _school_name(request, [obj]),
            "title": getattr(ui, "print_title", None) or f"{ui.verbose_name()}信息表",
            "fields": fields,
            "related": related,
            "related_limit": RELATED_ROWS,
            "qr": printing.prepare_labels([{"url": url}])[0]["qr"] if url else None,
            "sign": request.GET.get("sign") == "1",
            "printed_at": timezone.localtime(),
            "printed_by": _printed_by(request),
            "back_url": obj.get_absolute_url(),
        }
        return render(request, self.template_name, context)


def print_urls(ui) -> list:
    """The print routes of one ModelUI: ``<prefix>/print/`` and ``<prefix>/<pk>/print/``."""
    name, pfx = ui.model_name(), ui.prefix()
    return [
        path(f"{pfx}/print/", PrintListView.as_view(ui=ui), name=f"{name}_print_list"),
        path(f"{pfx}/<int:pk>/print/", PrintDetailView.as_view(ui=ui), name=f"{name}_print"),
    ]


def print_urls_for(app_label: str) -> list:
    """The print routes of every registered ModelUI of an app (for the app's urls.py)."""
    patterns = []
    for ui in REGISTRY.values():
        if ui.app_label() == app_label and getattr(ui, "can_print", True):
            patterns.extend(print_urls(ui))
    return patterns


# --- Label sheets -------------------------------------------------------------------------------------------------
class LabelSheetView(FilteredListMixin, UIView):
    """Labels of the filtered list (no ``pk``) or of one object, in the layout the user picks.

    ``make_label(request, obj) -> dict`` builds one label (see houqin.core.printing)."""

    template_name = "core/print/labels.html"
    make_label = None
    select_related: tuple[str, ...] = ("org",)

    def objects(self):
        if "pk" in self.kwargs:
            return [self.get_object("view")]
        self.require_model_perm("view")
        table = self.ui.table_class(self.ui.model)
        _, queryset = self.filtered()
        order = self.ordering(table)
        queryset = queryset.select_related(*self.select_related).order_by(
            order, "-pk" if order.startswith("-") else "pk")
        objects = list(queryset[:printing.MAX_LABELS + 1])
        printing.check_count(len(objects), printing.MAX_LABELS)
        return objects

    def layout(self):
        request = self.request
        key = request.GET.get("layout")
        if key in printing.LAYOUTS:
            request.session[LAYOUT_SESSION_KEY] = key
        else:
            key = request.session.get(LAYOUT_SESSION_KEY)
        return printing.layout_for(key)

    def get(self, request, *args, **kwargs):
        ui = self.ui
        layout = self.layout()
        try:
            skip = int(request.GET.get("skip") or 0)
        except ValueError:
            skip = 0
        error = ""
        try:
            objects = self.objects()
        except printing.TooMany as exc:
            objects, error = [], str(exc)
        labels = printing.prepare_labels(self.make_label(request, obj) for obj in objects)
        pages = printing.label_pages(labels, layout, skip) if labels else []
        single = "pk" in kwargs
        back = (objects[0].get_absolute_url() if single and objects
                else _back_url(reverse(ui.url_name("list")), request, "layout", "skip", "cut"))
        context = {
            **self.base_context(),
            "heading": f"{ui.verbose_name()}标签" + (f"：{objects[0]}" if single and objects else ""),
            "layouts": list(printing.LAYOUTS.values()),
            "layout": layout,
            "pages": pages,
            "count": len(labels),
            "skip": 0 if layout.is_roll else min(max(skip, 0), layout.per_page - 1),
            "skip_choices": range(layout.per_page),
            "error": error,
            "limit": printing.MAX_LABELS,
            "hidden": _query_without(request, "layout", "skip", "cut"),
            "back_url": back,
        }
        return render(request, self.template_name, context)


def label_urls(ui, make_label, *, select_related: tuple[str, ...] = ("org",), template_name: str | None = None) -> list:
    """The label routes of one ModelUI: ``<prefix>/labels/`` (the filtered list) and ``<prefix>/<pk>/label/``.

    ``template_name``: a sheet template of the app's own (extending ``core/print/labels.html``), e.g. to fit long
    codes such as asset numbers."""
    view = LabelSheetView.as_view(ui=ui, make_label=make_label, select_related=select_related,
                                  template_name=template_name or LabelSheetView.template_name)
    name, pfx = ui.model_name(), ui.prefix()
    return [
        path(f"{pfx}/labels/", view, name=f"{name}_labels"),
        path(f"{pfx}/<int:pk>/label/", view, name=f"{name}_label"),
    ]


def print_links(ui, obj=None) -> dict:
    """URLs for a list's or a detail page's print buttons (only those mounted): ``print_url``, ``labels_url``."""

    def maybe(action, args=()):
        try:
            return reverse(ui.url_name(action), args=args)
        except NoReverseMatch:
            return None

    if obj is None:
        return {"print_url": maybe("print_list"), "labels_url": maybe("labels")}
    return {"print_url": maybe("print", [obj.pk]), "labels_url": maybe("label", [obj.pk])}


# --- Core's labels ----------------------------------------------------------------------------------------------
def room_label(request, room) -> dict:
    """A door label: school, room number (or name), name, where it is, and the room's scan URL."""
    where = [room.campus.name]
    if room.building_id:
        where.append(room.building.name)
    if room.floor_id:
        where.append(room.floor.name)
    return {
        "title": room.org.name,
        "code": room.number,  # without a number the name leads (larger, up to three lines)
        "name": room.name,
        "extra": " · ".join(w for w in where if w),
        "url": scan_url(request, room),
    }
