"""Declarative UI for a model: name its filter set, table and form, and get list, detail, add, edit, delete,
export and change-log views with URLs and a menu entry.

    @register
    class RoomUI(ModelUI):
        model = Room
        filterset_class = RoomFilterSet
        table_class = RoomTable
        form_class = RoomForm
        menu = ("places", "房间", "ti ti-door")

Every view gets its rows through ``Model.objects.restrict(user, action)``; nothing else decides tenancy.
"""

from __future__ import annotations

from django.urls import path

from houqin.core import navigation
from houqin.core.reversing import reverse_kept

REGISTRY: dict[str, type[ModelUI]] = {}


class ModelUI:
    model = None
    filterset_class = None
    table_class = None
    form_class = None
    select_related: tuple[str, ...] = ()
    prefetch_related: tuple[str, ...] = ()
    # A record's page (and its QR page): these foreign keys come from the rows each process keeps per data version
    # (pagecache.kept_row: the school, rooms, categories, people a school's records share) instead of being joined
    # into the record's query, whose building costs more than the rows. Field name -> its own select_related.
    kept_relations: dict[str, tuple[str, ...]] = {}
    # (menu group key, label, icon); None: no menu entry
    menu: tuple[str, str, str] | None = None
    # Fields shown on the detail page; default: the form's fields.
    detail_fields: tuple[str, ...] | None = None
    # Related lists on the detail page: (title, related manager accessor, table class)
    related: tuple[tuple[str, str, type], ...] = ()
    url_prefix: str | None = None
    can_add = True
    can_edit = True
    can_delete = True
    can_export = True
    # Photos and scans (照片与附件 tab) on the detail page; ledgers and settings rows turn it off.
    attachments = True
    # Views may be swapped for subclasses of the generic ones.
    list_view = None
    detail_view = None
    edit_view = None
    delete_view = None
    export_view = None

    @classmethod
    def app_label(cls) -> str:
        return cls.model._meta.app_label

    @classmethod
    def model_name(cls) -> str:
        return cls.model._meta.model_name

    @classmethod
    def prefix(cls) -> str:
        return cls.url_prefix or f"{cls.model_name()}s"

    @classmethod
    def url_name(cls, action: str) -> str:
        return f"{cls.app_label()}:{cls.model_name()}_{action}"

    @classmethod
    def verbose_name(cls) -> str:
        return str(cls.model._meta.verbose_name)

    @classmethod
    def base_queryset(cls, user, action: str = "view"):
        qs = cls.model.objects.restrict(user, action)
        if cls.select_related:
            qs = qs.select_related(*cls.select_related)
        if cls.prefetch_related:
            qs = qs.prefetch_related(*cls.prefetch_related)
        return qs

    @classmethod
    def record_queryset(cls, queryset):
        """``queryset`` (rows of the model) prepared for reading one record: ``select_related`` but for the
        ``kept_relations``, which ``with_kept_relations`` fills in after the read. (A UI with ``kept_relations``
        keeps the default ``base_queryset``.)"""
        joined = cls.select_related
        if cls._keeping_rows():
            joined = tuple(path for path in joined if path.split("__", 1)[0] not in cls.kept_relations)
        queryset = queryset.select_related(*joined) if joined else queryset
        return queryset.prefetch_related(*cls.prefetch_related) if cls.prefetch_related else queryset

    @classmethod
    def read_record(cls, user, pk, *, restricted: bool = True):
        """Record ``pk`` for its page when ``user`` may view it (``restrict(user, "view")``), else None;
        ``restricted=False``: whoever asks (the QR page, which applies its own rules).

        With ``kept_relations`` while rows are kept and nothing else is joined: one read by key through a statement
        compiled once (houqin.core.db.read_row), the school checked on the row as ``restrict`` would in SQL, then
        ``with_kept_relations``. Otherwise the ORM query of ``record_queryset`` (or ``base_queryset``)."""
        from django.core.exceptions import FieldDoesNotExist

        from houqin.core.db import joins_in_written_order, read_row
        from houqin.core.models.base import restricted_org_ids

        model = cls.model
        try:
            org_field = model._meta.get_field(getattr(model, "org_field", ""))
        except FieldDoesNotExist:
            org_field = None
        plain = (cls._keeping_rows() and not cls.prefetch_related and org_field is not None and org_field.concrete
                 and all(path.split("__", 1)[0] in cls.kept_relations for path in cls.select_related))
        if plain:
            org_ids = restricted_org_ids(model, user, "view") if restricted else None
            if org_ids is not None and not org_ids:
                return None
            obj = read_row(model, pk)
            if obj is None or (org_ids is not None and getattr(obj, org_field.attname) not in org_ids):
                return None
            return cls.with_kept_relations(obj)
        if not restricted:  # the QR page: one query, whatever it joins (its budget is one or two queries)
            obj = cls.record_queryset(model._default_manager.all()).filter(pk=pk).order_by("pk").first()
        else:
            with joins_in_written_order():  # one row by key, then one lookup per joined table
                rows = cls.record_queryset(model.objects.restrict(user, "view")) if cls.kept_relations else \
                    cls.base_queryset(user, "view")
                obj = rows.filter(pk=pk).order_by("pk").first()
        return cls.with_kept_relations(obj) if obj is not None else None

    @classmethod
    def _keeping_rows(cls) -> bool:
        """Kept rows are used while kept values are (a web request, the page cache on); else everything is joined."""
        from houqin.core.pagecache import keeping

        return bool(cls.kept_relations) and keeping()

    @classmethod
    def with_kept_relations(cls, obj):
        from houqin.core.pagecache import kept_row

        if not cls._keeping_rows():
            return obj
        for name, related in cls.kept_relations.items():
            field = obj._meta.get_field(name)
            pk = getattr(obj, field.attname)
            if pk is not None:
                row = kept_row(field.related_model, pk, related)
                if row is not None:
                    field.set_cached_value(obj, row)
        return obj

    @classmethod
    def urls(cls) -> list:
        from houqin.core.views import generic

        name, pfx = cls.model_name(), cls.prefix()
        patterns = [path(f"{pfx}/", (cls.list_view or generic.ObjectListView).as_view(ui=cls), name=f"{name}_list")]
        if cls.can_export:
            patterns.append(
                path(
                    f"{pfx}/export/",
                    (cls.export_view or generic.ObjectExportView).as_view(ui=cls),
                    name=f"{name}_export",
                )
            )
        if cls.can_add and cls.form_class is not None:
            patterns.append(
                path(f"{pfx}/add/", (cls.edit_view or generic.ObjectEditView).as_view(ui=cls), name=f"{name}_add")
            )
        patterns.append(
            path(
                f"{pfx}/<int:pk>/", (cls.detail_view or generic.ObjectDetailView).as_view(ui=cls), name=f"{name}_detail"
            )
        )
        patterns.append(
            path(f"{pfx}/<int:pk>/changelog/", generic.ObjectChangeLogView.as_view(ui=cls), name=f"{name}_changelog")
        )
        if cls.can_edit and cls.form_class is not None:
            patterns.append(
                path(
                    f"{pfx}/<int:pk>/edit/",
                    (cls.edit_view or generic.ObjectEditView).as_view(ui=cls),
                    name=f"{name}_edit",
                )
            )
        if cls.can_delete:
            patterns.append(
                path(
                    f"{pfx}/<int:pk>/delete/",
                    (cls.delete_view or generic.ObjectDeleteView).as_view(ui=cls),
                    name=f"{name}_delete",
                )
            )
        return patterns


def register(ui_class: type[ModelUI]) -> type[ModelUI]:
    """Register a model's UI: URLs (through ``urls_for(app_label)``), menu entry and get_absolute_url."""
    model = ui_class.model
    REGISTRY[model._meta.label_lower] = ui_class
    if ui_class.menu:
        group_key, label, icon = ui_class.menu
        navigation.add_item(
            group_key,
            navigation.MenuItem(
                label, ui_class.url_name("list"), f"{ui_class.app_label()}.view_{ui_class.model_name()}", icon
            ),
        )
    if "get_absolute_url" not in model.__dict__:
        model.get_absolute_url = lambda self: reverse_kept(ui_class.url_name("detail"), args=[self.pk])
    return ui_class


def ui_for(model) -> type[ModelUI] | None:
    return REGISTRY.get(model._meta.label_lower)


def visible(model, user, action: str = "view"):
    """Rows of ``model`` the user may act on, with the related rows its UI declares joined in (so choice
    lists, filters and related tables that print ``str(row)`` do not query once per row)."""
    ui_class = ui_for(model)
    return ui_class.base_queryset(user, action) if ui_class else model.objects.restrict(user, action)


def urls_for(app_label: str) -> list:
    patterns = []
    for ui_class in REGISTRY.values():
        if ui_class.app_label() == app_label:
            patterns.extend(ui_class.urls())
    return patterns
