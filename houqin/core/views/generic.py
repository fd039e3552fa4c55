"""Generic list/detail/edit/delete/export views driven by a ModelUI declaration (houqin.core.ui)."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
from django.views import View

from houqin.core import pagecache
from houqin.core.attachments import panel_url as attachments_panel_url
from houqin.core.auth import access_for, mark_viewable, user_can
from houqin.core.exporting import xlsx_response
from houqin.core.middleware import current_org
from houqin.core.models import ChangeLogEntry
from houqin.core.pagination import BadCursor, paginate
from houqin.core.reversing import reverse_kept
from houqin.core.tables import plain
from houqin.core.ui import visible

logger = logging.getLogger(__name__)


class VisibilityLost(Exception):
    """Raised inside a save's transaction when the saved object is no longer visible to its editor."""


def htmx_partial(request) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page(request, template: str, context: dict, partial: str | None = None, status: int = 200):
    name = f"{template}#{partial}" if partial and htmx_partial(request) else template
    return render(request, name, context, status=status)


class UIView(LoginRequiredMixin, View):
    ui = None
    action = "view"
    # GET answers of this view may be kept for the user while the data holds (houqin.core.pagecache).
    page_cache = False

    def dispatch(self, request, *args, **kwargs):
        if self.page_cache and request.method == "GET":
            return pagecache.serve(request, lambda: super(UIView, self).dispatch(request, *args, **kwargs))
        return super().dispatch(request, *args, **kwargs)

    def perm(self, action: str | None = None) -> str:
        return f"{self.ui.app_label()}.{action or self.action}_{self.ui.model_name()}"

    def require_model_perm(self, action: str | None = None) -> None:
        user = self.request.user
        if not (user.is_superuser or access_for(user).has(self.perm(action))):
            raise PermissionDenied("您没有此操作的权限。")

    def get_object(self, action: str = "view"):
        """The object, if the user may see it (else 404, leaking nothing); 403 if seen but not ``action``."""
        obj = self.ui.read_record(self.request.user, self.kwargs["pk"])
        if obj is None:
            raise Http404("记录不存在或您无权查看。")
        mark_viewable(obj, self.request.user)
        if action != "view" and not user_can(self.request.user, action, obj):
            raise PermissionDenied("您没有此操作的权限。")
        return obj

    def base_context(self) -> dict:
        ui = self.ui
        return {
            "ui": ui,
            "verbose_name": ui.verbose_name(),
            "verbose_name_plural": str(ui.model._meta.verbose_name_plural),
            "list_url": reverse_kept(ui.url_name("list")),
        }

    def can_add(self) -> bool:
        org = current_org(self.request)
        return (self.ui.can_add and self.ui.form_class is not None and org is not None
                and user_can(self.request.user, "add", self.ui.model, org_id=org.pk))


class FilteredListMixin:
    def filtered(self):
        request, ui = self.request, self.ui
        queryset = ui.base_queryset(request.user, "view")
        filterset = ui.filterset_class(request.GET or None, queryset, request=request) if ui.filterset_class else None
        if filterset is not None:
            if filterset.is_bound and not filterset.is_valid():
                return filterset, queryset.none()
            queryset = filterset.qs
        return filterset, queryset

    def ordering(self, table) -> str:
        sort = self.request.GET.get("sort", "")
        orderable = table.orderable()
        name = sort.lstrip("-")
        if name in orderable:
            return ("-" if sort.startswith("-") else "") + orderable[name]
        return table.default_order


class ObjectListView(FilteredListMixin, UIView):
    template_name = "core/object_list.html"
    page_cache = True

    def get(self, request, *args, **kwargs):
        self.require_model_perm("view")
        ui = self.ui
        table = ui.table_class(ui.model)
        filterset, queryset = self.filtered()
        try:
            per_page = int(request.GET.get("per_page", 25))
        except ValueError:
            per_page = 25
        if per_page not in (10, 25, 50, 100):
            per_page = 25
        order = self.ordering(table)
        try:
            page = paginate(queryset, order=order, per_page=per_page, cursor=request.GET.get("cursor"))
        except BadCursor:
            page = paginate(queryset, order=order, per_page=per_page, cursor=None)
        rows = [[(c.label, c.html(obj)) for c in table.bound_columns] for obj in page.rows]
        labels = [conditional_escape(c.label) for c in table.bound_columns]
        rows_html = mark_safe("".join(  # noqa: S308 — every label and cell escaped here
            "<tr>" + "".join(f'<td data-label="{label}">{conditional_escape(cell)}</td>'
                             for label, (_, cell) in zip(labels, cells, strict=True)) + "</tr>"
            for cells in rows))
        query = request.GET.copy()
        query.pop("cursor", None)
        context = {
            **self.base_context(),
            "table": table,
            "rows": zip(page.rows, rows, strict=True),
            "rows_html": rows_html,
            "page": page,
            "filterset": filterset,
            "sort": request.GET.get("sort", ""),
            "query": query.urlencode(),
            "query_without_sort": _without(query, "sort"),
            "can_add": self.can_add(),
            "add_url": reverse_kept(ui.url_name("add")) if self.can_add() else None,
            "export_url": reverse_kept(ui.url_name("export")) if ui.can_export else None,
            **self.print_links(),
        }
        return render_page(request, self.template_name, context, partial="results")

    def print_links(self) -> dict:
        from houqin.core.views.printing import print_links  # printing builds on this module's mixins

        return print_links(self.ui)


def _without(query, key: str) -> str:
    copy = query.copy()
    copy.pop(key, None)
    return copy.urlencode()


class ObjectExportView(FilteredListMixin, UIView):
    def get(self, request, *args, **kwargs):
        self.require_model_perm("view")
        ui = self.ui
        table = ui.table_class(ui.model)
        _, queryset = self.filtered()
        order = self.ordering(table)
        queryset = queryset.order_by(order, "pk" if not order.startswith("-") else "-pk")
        title = str(ui.model._meta.verbose_name_plural)
        return xlsx_response(queryset, table.export_columns(), title, title)


def detail_rows(ui, obj) -> list[tuple[str, str]]:
    names = ui.detail_fields or (tuple(ui.form_class.base_fields) if ui.form_class else ())
    rows = []
    for name in names:
        field = ui.model._meta.get_field(name)
        value = getattr(obj, f"get_{name}_display")() if field.choices else getattr(obj, name)
        if field.is_relation and value is not None and hasattr(value, "get_absolute_url"):
            try:
                html = format_html('<a href="{}">{}</a>', value.get_absolute_url(), value)
            except Exception:  # noqa: BLE001 — a related model without a page shows as text
                html = plain(value)
        else:
            html = plain(value) or "—"
        rows.append((str(field.verbose_name), html))
    return rows


class ObjectDetailView(UIView):
    template_name = "core/object_detail.html"
    page_cache = True

    def get(self, request, *args, **kwargs):
        ui = self.ui
        obj = self.get_object("view")
        user = request.user
        related = []
        for title, accessor, table_class in ui.related:
            manager = getattr(obj, accessor)
            rel_model = manager.model
            qs = visible(rel_model, user).filter(pk__in=manager.all().values("pk"))
            table = table_class(rel_model)
            items = list(qs[:21])
            related.append({"title": title, "table": table, "more": len(items) > 20,
                            "rows": [[(c.label, c.html(o)) for c in table.bound_columns] for o in items[:20]]})
        context = {
            **self.base_context(),
            "object": obj,
            "fields": detail_rows(ui, obj),
            "related": related,
            "can_edit": ui.can_edit and ui.form_class is not None and user_can(user, "change", obj),
            "can_delete": ui.can_delete and user_can(user, "delete", obj),
            "edit_url": reverse_kept(ui.url_name("edit"), args=[obj.pk]) if ui.can_edit and ui.form_class else None,
            "delete_url": reverse_kept(ui.url_name("delete"), args=[obj.pk]) if ui.can_delete else None,
            "changelog_url": reverse_kept(ui.url_name("changelog"), args=[obj.pk]),
            "attachments_url": attachments_panel_url(obj) if ui.attachments else None,
        }
        return render(request, self.template_name, context)


class ObjectChangeLogView(UIView):
    template_name = "core/object_changelog.html"

    def get(self, request, *args, **kwargs):
        from django.contrib.contenttypes.models import ContentType

        obj = self.get_object("view")
        ct = ContentType.objects.get_for_model(obj, for_concrete_model=True)
        entries = list(
            ChangeLogEntry.objects.filter(content_type=ct, object_id=str(obj.pk)).select_related("content_type")[:100]
        )
        context = {**self.base_context(), "object": obj, "entries": entries}
        return render_page(request, self.template_name, context, partial="entries")


class ObjectEditView(UIView):
    template_name = "core/object_edit.html"

    def setup_form(self, data=None, files=None):
        request, ui = self.request, self.ui
        if "pk" in self.kwargs:
            obj = self.get_object("change")
            org = owning_org(obj, request)
        else:
            org = current_org(request)
            if org is None or not user_can(request.user, "add", ui.model, org_id=org.pk):
                raise PermissionDenied("您没有在当前单位新增此类记录的权限。")
            obj = ui.model()
        initial = {k: v for k, v in request.GET.items() if k in ui.form_class.base_fields} if not data else None
        return ui.form_class(data=data, files=files, instance=obj, user=request.user, org=org, initial=initial)

    def get(self, request, *args, **kwargs):
        return self.show(self.setup_form())

    def post(self, request, *args, **kwargs):
        form = self.setup_form(request.POST, request.FILES)
        if not form.is_valid():
            messages.error(request, "提交的内容有误，请按提示修改。")
            return self.show(form, status=200)
        creating = form.instance._state.adding
        try:
            with transaction.atomic():
                obj = form.save()
                # The saved row must still be one the user may edit (e.g. not moved to another school).
                if not self.ui.model.objects.restrict(request.user, "change").filter(pk=obj.pk).exists():
                    raise VisibilityLost
        except VisibilityLost:
            form.instance.pk = None if creating else form.instance.pk
            form.add_error(None, "保存后您将无权访问该记录，已取消保存。")
            return self.show(form)
        messages.success(request, f"已{'新增' if creating else '保存'}{self.ui.verbose_name()}：{obj}")
        url = obj.get_absolute_url()
        if htmx_partial(request):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return redirect(url)

    def show(self, form, status: int = 200):
        obj = form.instance
        context = {
            **self.base_context(),
            "form": form,
            "object": None if obj._state.adding else obj,
            "cancel_url": obj.get_absolute_url() if not obj._state.adding else reverse(self.ui.url_name("list")),
        }
        return render(self.request, self.template_name, context, status=status)


def owning_org(obj, request):
    """The organisation an edited object belongs to; for rows without one (users), the current one."""
    if obj._meta.model_name == "organization":
        return obj
    if any(f.name == "org" for f in obj._meta.concrete_fields):
        return obj.org
    return current_org(request)


class ObjectDeleteView(UIView):
    template_name = "core/object_delete.html"

    def get(self, request, *args, **kwargs):
        obj = self.get_object("delete")
        return render(request, self.template_name, {**self.base_context(), "object": obj})

    def post(self, request, *args, **kwargs):
        obj = self.get_object("delete")
        label = str(obj)
        try:
            with transaction.atomic():
                obj.delete()
        except (ProtectedError, RestrictedError) as exc:
            blockers = list(exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects)
            names = "、".join(str(b) for b in blockers[:5])
            more = f" 等 {len(blockers)} 条" if len(blockers) > 5 else ""
            messages.error(request, f"无法删除“{label}”：仍有记录引用它（{names}{more}）。请先处理这些记录。")
            return redirect(obj.get_absolute_url())
        messages.success(request, f"已删除{self.ui.verbose_name()}：{label}")
        return redirect(reverse(self.ui.url_name("list")))
