"""Pages of the assets app: model UIs for cards, categories and the event ledger, registration as the add page, the
monthly depreciation table."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views import View

from houqin.assets import depreciation
from houqin.assets.filtersets import AssetCategoryFilterSet, AssetEventFilterSet, AssetFilterSet
from houqin.assets.forms import AssetCategoryForm, AssetForm, AssetRegisterForm
from houqin.assets.models import Asset, AssetCategory, AssetEvent
from houqin.assets.panels import viewable_card
from houqin.assets.tables import AssetCategoryTable, AssetEventTable, AssetTable
from houqin.core import navigation
from houqin.core.auth import access_for, user_can
from houqin.core.exporting import write_xlsx, xlsx_download
from houqin.core.middleware import current_org
from houqin.core.models import Organization
from houqin.core.pagecache import cached_page
from houqin.core.tables import Column
from houqin.core.ui import ModelUI, register
from houqin.core.views.generic import ObjectDetailView, ObjectEditView, ObjectListView, render_page

navigation.group("assets", "校产管理", "ti ti-package", 10)

HISTORY_LIMIT = 200  # the newest events on the card's 资产履历; the event ledger (资产履历台账) has them all


class AssetEditView(ObjectEditView):
    """Adding a card is registering it (number and history written by services.register_asset); editing an
    existing card offers the descriptive fields only."""

    def setup_form(self, data=None, files=None):
        if "pk" in self.kwargs:
            return super().setup_form(data, files)
        request = self.request
        org = current_org(request)
        if org is None or not user_can(request.user, "add", Asset, org_id=org.pk):
            raise PermissionDenied("您没有在当前单位登记资产的权限。")
        initial = None if data else {k: v for k, v in request.GET.items() if k in AssetRegisterForm.base_fields}
        return AssetRegisterForm(data=data, files=files, instance=Asset(org=org), user=request.user, org=org,
                                 initial=initial)


# Detail rows shown only when filled: most cards have no serial number, invoice or building structure, and a page
# of “—” hides what matters (on a phone especially). The edit form still has them all.
OPTIONAL_DETAILS = frozenset({"brand", "model", "serial_no", "structure", "area_m2", "funding_source", "supplier",
                              "invoice_no", "voucher_no", "warranty_until", "disposed_on", "note"})


class _DetailFieldsOf:
    """The card's ModelUI with the detail rows of this card (everything else delegated)."""

    def __init__(self, ui, detail_fields):
        self._ui, self.detail_fields = ui, detail_fields

    def __getattr__(self, name):
        return getattr(self._ui, name)


class AssetDetailView(ObjectDetailView):
    template_name = "assets/asset_detail.html"

    def get(self, request, *args, **kwargs):
        obj = self._card = self.get_object("view")
        fields = tuple(name for name in (self.ui.detail_fields or ())
                       if name not in OPTIONAL_DETAILS or getattr(obj, name) not in (None, ""))
        self.ui = _DetailFieldsOf(self.ui, fields)
        return super().get(request, *args, **kwargs)

    def get_object(self, action: str = "view"):
        card = getattr(self, "_card", None)
        return card if card is not None and action == "view" else super().get_object(action)


class AssetHistoryView(LoginRequiredMixin, View):
    """资产履历, the card's events newest first: its page loads this panel after the card (HTMX, so the card shows
    at once); without JavaScript it is a page of its own. Shown to whoever may view the card (like its photos)."""

    template_name = "assets/asset_history.html"

    @cached_page
    def get(self, request, pk):
        asset = viewable_card(request.user, pk, only=("pk", "org_id", "number", "name"))
        events = list(asset.events.order_by("-time", "-pk")[:HISTORY_LIMIT])
        context = {"object": asset, "events": events, "limit": HISTORY_LIMIT, "more": len(events) == HISTORY_LIMIT}
        return render_page(request, self.template_name, context, partial="panel")


class AssetListView(ObjectListView):
    """The card list, with 按筛选结果申请处置 (a disposal request for the filtered cards) for those who may."""

    template_name = "assets/asset_list.html"


@register
class AssetUI(ModelUI):
    model = Asset
    filterset_class = AssetFilterSet
    table_class = AssetTable
    form_class = AssetForm
    edit_view = AssetEditView
    detail_view = AssetDetailView
    list_view = AssetListView
    print_title = "固定资产卡片"
    url_prefix = "assets"
    select_related = ("org", "category", "department", "room__campus", "room__building", "room__responsible",
                      "custodian")
    kept_relations = {"org": (), "category": (), "department": (), "room": ("campus", "building", "responsible"),
                      "custodian": ()}
    menu = ("assets", "资产卡片", "ti ti-device-desktop")
    can_delete = False  # a registered card is written off by disposal, never deleted: its history must stay
    detail_fields = ("number", "category", "name", "brand", "model", "serial_no", "quantity", "unit", "unit_price",
                     "original_value", "asset_class", "is_batch", "useful_life_years", "structure", "area_m2",
                     "acquired_on", "acquisition_method", "funding_source", "supplier", "invoice_no", "voucher_no",
                     "warranty_until", "room", "department", "custodian", "status", "registered_on", "disposed_on",
                     "note")


@register
class AssetCategoryUI(ModelUI):
    model = AssetCategory
    url_prefix = "categories"
    filterset_class = AssetCategoryFilterSet
    table_class = AssetCategoryTable
    form_class = AssetCategoryForm
    select_related = ("parent",)
    menu = ("assets", "资产分类", "ti ti-category")
    attachments = False
    detail_fields = ("code", "name", "edition", "parent", "level", "is_standard", "org", "default_life_years",
                     "min_life_years", "is_depreciable", "value_class", "default_batch", "basis", "is_active")
    related = (("下级分类", "children", AssetCategoryTable),)


@register
class AssetEventUI(ModelUI):
    model = AssetEvent
    url_prefix = "events"
    filterset_class = AssetEventFilterSet
    table_class = AssetEventTable
    select_related = ("asset",)
    menu = ("assets", "资产变动记录", "ti ti-history")
    can_add = can_edit = can_delete = False  # a ledger: written by the commands only
    attachments = False
    detail_fields = ("asset", "code", "time", "actor_name", "status_before", "status_after", "reference", "note",
                     "reverses")


# --- Monthly depreciation table --------------------------------------------------------------------------------------
DEPRECIATION_PERM = "assets.view_asset"


def depreciation_schools(user):
    """The schools whose depreciation ``user`` may see (their cards' view permission), by name."""
    schools = Organization.objects.schools().filter(is_active=True)
    if not user.is_superuser:
        schools = schools.filter(pk__in=sorted(access_for(user).orgs_for(DEPRECIATION_PERM)))
    return list(schools.order_by("name"))


TABLE_COLUMNS = {
    "category": Column("category", "资产分类", order_by=False),
    "department": Column("department", "使用部门", order_by=False),
}
AMOUNT_COLUMNS = (
    Column("count", "卡片数", order_by=False),
    Column("original_value", "原值（元）", order_by=False),
    Column("monthly", "本月折旧（元）", order_by=False),
    Column("accumulated", "累计折旧（元）", order_by=False),
    Column("net", "净值（元）", order_by=False),
)


def table_columns(group_by: str) -> list[Column]:
    keys = {"category": ["category"], "department": ["department"], "both": ["category", "department"]}[group_by]
    return [TABLE_COLUMNS[k] for k in keys] + list(AMOUNT_COLUMNS)


class DepreciationView(LoginRequiredMixin, View):
    """折旧明细表: one school's depreciation of one month per category (大类) and/or using department; ``?export=xlsx``
    downloads the same table."""

    template_name = "assets/depreciation.html"

    def get(self, request):
        schools = depreciation_schools(request.user)
        if not schools:
            raise PermissionDenied("您没有查看资产折旧的权限。")
        by_id = {str(s.pk): s for s in schools}
        current = current_org(request)
        school = by_id.get(request.GET.get("org", "")) or by_id.get(str(getattr(current, "pk", ""))) or schools[0]
        today = timezone.localdate()
        month = depreciation.parse_month(request.GET.get("month"), today)
        group_by = request.GET.get("group") if request.GET.get("group") in depreciation.GROUPINGS else "category"
        table = depreciation.monthly_table(school, month, group_by)
        columns = table_columns(group_by)
        if request.GET.get("export") == "xlsx":
            return self.export(school, table, columns)
        context = {
            "schools": schools, "school": school, "month": month, "group_by": group_by,
            "groupings": depreciation.GROUPINGS, "table": table, "columns": columns,
            "rows": [[c.text(row) for c in columns] for row in table.rows],
            "total": [c.text(table.total) for c in columns],
            "export_query": request.GET.copy().urlencode(),
            "list_url": reverse("assets:asset_list"),
        }
        return render(request, self.template_name, context)

    def export(self, school, table, columns):
        title = f"{school.name}{table.month:%Y年%m月}固定资产折旧明细表"
        return xlsx_download(lambda fileobj: write_xlsx([*table.rows, table.total], columns, "折旧明细表", fileobj),
                             f"{title}.xlsx")


navigation.add_item("assets", navigation.MenuItem("折旧明细表", "assets:depreciation", DEPRECIATION_PERM,
                                                  "ti ti-report-money"))
navigation.add_item("assets", navigation.MenuItem("导入资产", "assets:import_assets", "assets.add_asset",
                                                  "ti ti-file-import"))
