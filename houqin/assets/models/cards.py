"""Fixed assets (校产): the category tree, asset cards and their append-only event history.

* ``AssetCategory`` — GB/T 14885 classification. The national rows (``org`` empty) are shared by every school and
  loaded from ``houqin/assets/data/`` (houqin.assets.categories); a school may add its own sub-categories under
  them. Each carries the default and minimum useful life, whether it is depreciated and how its cards are
  classified (固定资产 / 低值易耗品).
* ``Asset`` — one card (资产卡片): a single item or a batch of like items (课桌椅 40 套). Numbers, statuses and the
  registration facts are never edited in forms: ``services.register_asset`` creates a card, later commands move it.
* ``AssetEvent`` — what happened to a card, append-only (corrections are reversing entries).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Round
from django.utils import timezone

from houqin.assets.choices import (
    STRUCTURE_MIN_LIFE,
    AcquisitionMethod,
    AssetClass,
    AssetEventCode,
    AssetStatus,
    BuildingStructure,
    CategoryValueClass,
)
from houqin.core.models.base import (
    AppendOnlyModel,
    ChangeLoggedModel,
    RestrictedQuerySet,
    SearchableModel,
    TenantModel,
    TimeStampedModel,
)

__all__ = ["MIN_LIFE_BASIS", "AssetCategoryQuerySet", "AssetCategory", "Asset", "AssetEvent"]

MIN_LIFE_BASIS = "依据：《政府会计准则第3号——固定资产》应用指南 表1（政府固定资产折旧年限表）"
CENT = Decimal("0.01")


# --- Categories --------------------------------------------------------------------------------------------------
class AssetCategoryQuerySet(RestrictedQuerySet):
    """National rows (no ``org``) are readable by everyone who may view categories in some organisation; a school's
    own rows follow the usual tenancy rule. Nobody but a superuser changes national rows (the loader does)."""

    def restrict(self, user, action: str = "view"):
        from houqin.core.auth import access_for

        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        org_ids = access_for(user).orgs_for(f"assets.{action}_assetcategory")
        if not org_ids:
            return self.none()
        visible = Q(org_id__in=sorted(org_ids))
        if action == "view":
            visible |= Q(org__isnull=True)
        return self.filter(visible)

    def for_org(self, org):
        """The categories a school's cards may use: the national ones and the school's own."""
        return self.filter(Q(org__isnull=True) | Q(org=org))


class AssetCategory(ChangeLoggedModel, SearchableModel, TimeStampedModel):
    """A class of GB/T 14885 (edition ``edition``), or a school's own sub-class of one."""

    org_field = "org"
    search_fields = ("code", "name")

    org = models.ForeignKey("core.Organization", verbose_name="所属单位", null=True, blank=True,
                            on_delete=models.PROTECT, related_name="+",
                            help_text="为空表示国家标准分类，所有学校共用")
    edition = models.CharField("标准版本", max_length=10, default="2010")
    code = models.CharField("分类代码", max_length=20)
    name = models.CharField("分类名称", max_length=60)
    parent = models.ForeignKey("self", verbose_name="上级分类", null=True, blank=True, on_delete=models.PROTECT,
                               related_name="children")
    level = models.PositiveSmallIntegerField("层级", default=1, editable=False)
    # "/2000000/2010000/2010100/": a subtree is one ``startswith`` away.
    path = models.CharField("路径", max_length=255, default="/", editable=False, db_index=True)
    is_standard = models.BooleanField("国家标准分类", default=False, editable=False)
    is_depreciable = models.BooleanField("计提折旧", default=True)
    default_life_years = models.PositiveSmallIntegerField("默认使用年限（年）", null=True, blank=True,
                                                          validators=[MinValueValidator(1)])
    min_life_years = models.PositiveSmallIntegerField("最低折旧年限（年）", null=True, blank=True,
                                                      validators=[MinValueValidator(1)])
    value_class = models.CharField("资产类型", max_length=20, choices=CategoryValueClass.choices,
                                   default=CategoryValueClass.THRESHOLD)
    default_batch = models.BooleanField("默认批量同类", default=False,
                                        help_text="如图书、课桌椅：单价未达起点也按固定资产管理")
    basis = models.CharField("依据", max_length=200, blank=True)
    is_active = models.BooleanField("启用", default=True)

    objects = AssetCategoryQuerySet.as_manager()

    class Meta:
        verbose_name = "资产分类"
        verbose_name_plural = "资产分类"
        ordering = ["edition", "path"]
        constraints = [
            models.UniqueConstraint(fields=["edition", "code"], condition=Q(org__isnull=True),
                                    name="assetcategory_unique_standard_code",
                                    violation_error_message="该版本中已有此分类代码。"),
            models.UniqueConstraint(fields=["org", "edition", "code"], name="assetcategory_unique_org_code",
                                    violation_error_message="本校已有此分类代码。"),
        ]

    def __str__(self):
        return f"{self.code} {self.name}"

    @property
    def owning_org_id(self):
        return self.org_id

    @property
    def is_national(self) -> bool:
        return self.org_id is None

    @property
    def indented_name(self) -> str:
        return f"{'　' * (self.level - 1)}{self.name}"

    @property
    def scope_display(self) -> str:
        if self.org_id is None:
            return "国家标准" if self.is_standard else "系统扩展"
        return "本校自定义"

    def compute_tree_fields(self) -> None:
        parent = self.parent if self.parent_id else None
        self.level = parent.level + 1 if parent is not None else 1
        self.path = f"{parent.path if parent is not None else '/'}{self.code}/"

    def save(self, *args, **kwargs):
        self.compute_tree_fields()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = list({*update_fields, "level", "path"})
        super().save(*args, **kwargs)

    def clean(self):
        errors: dict[str, str] = {}
        parent = self.parent if self.parent_id else None
        if self.org_id is not None:
            if parent is None:
                errors["parent"] = "自定义分类必须放在某个国家标准分类之下。"
            elif parent.org_id not in (None, self.org_id):
                errors["parent"] = "上级分类必须是国家标准分类或本校的分类。"
            elif parent.edition != self.edition:
                errors["parent"] = "上级分类的标准版本不同。"
            if self.code and AssetCategory.objects.filter(org__isnull=True, edition=self.edition,
                                                          code=self.code).exists():
                errors["code"] = "该代码已是国家标准分类代码，请换一个代码（如在上级代码后加 .01）。"
        if parent is not None and self.pk and parent.path.startswith(self.path or "//"):
            errors["parent"] = "上级分类不能是它自己或它的下级分类。"
        if self.pk and self.children.exists():
            old = type(self)._base_manager.filter(pk=self.pk).values("code", "parent_id").first()
            if old and (old["code"] != self.code or old["parent_id"] != self.parent_id):
                errors["code"] = "该分类下已有下级分类，不能修改分类代码或上级分类。"
        if parent is not None and not parent.is_depreciable and self.is_depreciable:
            errors["is_depreciable"] = f"上级分类“{parent}”不计提折旧，下级分类也不能计提折旧。"
        if self.is_depreciable:
            if not self.default_life_years:
                errors["default_life_years"] = "计提折旧的分类必须填写默认使用年限。"
            floor = self.min_life_years or 0
            if self.org_id is not None and parent is not None and parent.is_depreciable and parent.min_life_years:
                if (self.min_life_years or 0) < parent.min_life_years:
                    errors["min_life_years"] = (f"不能低于上级分类“{parent}”的最低折旧年限 {parent.min_life_years} 年。"
                                                f"{MIN_LIFE_BASIS}")
                floor = max(floor, parent.min_life_years)
            if self.default_life_years and self.default_life_years < floor:
                errors["default_life_years"] = f"默认使用年限不能低于最低折旧年限 {floor} 年。"
        if errors:
            raise ValidationError(errors)


# --- Asset cards ---------------------------------------------------------------------------------------------------
class Asset(TenantModel):
    """One asset card (资产卡片). ``quantity`` > 1 makes it a batch card of like items; the original value is always
    ``quantity × unit_price`` (checked by the database).

    Set at registration and changed only by commands afterwards: number, category, quantity, prices, acquisition,
    location, department, custodian, classification, useful life, status. Descriptive fields (brand, model, serial,
    supplier, invoice …) are edited on the card's edit page and recorded in the change log.
    """

    search_fields = ("number", "name", "brand", "model", "serial_no")

    # No index of its own: the four (org, …) indexes below start with it, and every card written updates each one.
    org = models.ForeignKey("core.Organization", verbose_name="所属单位", on_delete=models.PROTECT, related_name="+",
                            db_index=False)
    number = models.CharField("资产编号", max_length=30, blank=True, editable=False)
    category = models.ForeignKey(AssetCategory, verbose_name="资产分类", on_delete=models.PROTECT, related_name="+")
    name = models.CharField("资产名称", max_length=100)
    brand = models.CharField("品牌", max_length=60, blank=True)
    model = models.CharField("规格型号", max_length=100, blank=True)
    serial_no = models.CharField("序列号", max_length=60, blank=True)
    unit = models.CharField("计量单位", max_length=10, default="台")
    quantity = models.PositiveIntegerField("数量", default=1, validators=[MinValueValidator(1)])
    unit_price = models.DecimalField("单价（元）", max_digits=14, decimal_places=2,
                                     validators=[MinValueValidator(Decimal("0"))])
    original_value = models.DecimalField("原值（元）", max_digits=16, decimal_places=2, default=Decimal("0"),
                                         editable=False)
    area_m2 = models.DecimalField("面积（㎡）", max_digits=12, decimal_places=2, null=True, blank=True,
                                  validators=[MinValueValidator(Decimal("0"))], help_text="土地、房屋、构筑物填写")
    acquired_on = models.DateField("取得日期")
    acquisition_method = models.CharField("取得方式", max_length=20, choices=AcquisitionMethod.choices,
                                          default=AcquisitionMethod.PURCHASE)
    funding_source = models.CharField("经费来源", max_length=60, blank=True, help_text="如：财政拨款、专项经费、自筹")
    supplier = models.CharField("供应商", max_length=100, blank=True)
    invoice_no = models.CharField("发票号", max_length=60, blank=True)
    voucher_no = models.CharField("记账凭证号", max_length=60, blank=True)
    warranty_until = models.DateField("保修截止日期", null=True, blank=True)
    room = models.ForeignKey("core.Room", verbose_name="存放地点", null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+")
    department = models.ForeignKey("core.Department", verbose_name="使用部门", null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    custodian = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="使用人/保管人", null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="+", db_index=False,
                                  help_text="留空则由存放地点的责任人保管（如班级财产由班主任保管）")
    status = models.CharField("状态", max_length=20, choices=AssetStatus.choices, default=AssetStatus.IN_USE,
                              editable=False)
    asset_class = models.CharField("资产类型", max_length=20, choices=AssetClass.choices, default=AssetClass.FIXED,
                                   editable=False)
    is_batch = models.BooleanField("批量同类", default=False,
                                   help_text="大批同类物资（如图书、课桌椅）：单价未达起点也按固定资产管理")
    useful_life_years = models.PositiveSmallIntegerField("使用年限（年）", null=True, blank=True,
                                                         validators=[MinValueValidator(1)],
                                                         help_text="留空则按资产分类的默认年限")
    structure = models.CharField("房屋结构", max_length=20, choices=BuildingStructure.choices, blank=True,
                                 help_text=("房屋填写：钢结构、钢筋混凝土结构不低于 50 年，"
                                            "砖混、砖木结构不低于 30 年，简易房不低于 8 年"))
    attributes = models.JSONField("其他属性", default=dict, blank=True)
    note = models.CharField("备注", max_length=200, blank=True)
    registered_on = models.DateField("入账日期", null=True, blank=True, editable=False)
    disposed_on = models.DateField("核销日期", null=True, blank=True, editable=False,
                                   help_text="处置或报损核销的日期：当月起不再计提折旧")

    class Meta:
        verbose_name = "资产卡片"
        verbose_name_plural = "资产卡片"
        ordering = ["-acquired_on", "number"]
        constraints = [
            models.UniqueConstraint(fields=["org", "number"], condition=~Q(number=""), name="asset_unique_number",
                                    violation_error_message="本校已有此资产编号。"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="asset_quantity_positive",
                                   violation_error_message="数量至少为 1。"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="asset_unit_price_not_negative",
                                   violation_error_message="单价不能为负数。"),
            # Rounded: SQLite keeps decimals as binary floating point, whose products are not exact.
            models.CheckConstraint(condition=Q(original_value=Round(F("quantity") * F("unit_price"), 2)),
                                   name="asset_value_is_quantity_times_price",
                                   violation_error_message="原值必须等于数量 × 单价。"),
        ]
        indexes = [
            models.Index(fields=["org", "status"], name="asset_org_status"),
            models.Index(fields=["org", "category"], name="asset_org_category"),
            models.Index(fields=["org", "acquired_on"], name="asset_org_acquired"),
            models.Index(fields=["org", "department"], name="asset_org_department"),
            # Most cards are kept by their room's keeper (no custodian): only the others are indexed.
            models.Index(fields=["custodian"], condition=Q(custodian__isnull=False), name="asset_custodian"),
        ]

    def __str__(self):
        return f"{self.number} {self.name}".strip()

    # --- Derived values ------------------------------------------------------------------------------------------
    @staticmethod
    def value_of(quantity, unit_price) -> Decimal:
        return (Decimal(quantity or 0) * Decimal(unit_price or 0)).quantize(CENT)

    @property
    def quantity_display(self) -> str:
        return f"{self.quantity} {self.unit}".strip()

    @property
    def effective_custodian(self):
        """The custodian, or the responsible person of the room it is kept in (e.g. a class's head teacher)."""
        if self.custodian_id:
            return self.custodian
        if self.room_id and self.room.responsible_id:
            return self.room.responsible
        return None

    @property
    def custodian_display(self) -> str:
        if self.custodian_id:
            return str(self.custodian)
        person = self.effective_custodian
        return f"{person}（房间责任人）" if person is not None else ""

    @property
    def is_on_book(self) -> bool:
        return self.disposed_on is None

    def min_life(self) -> int | None:
        """The shortest useful life allowed for this card: the category's, or the building structure's."""
        category = self.category if self.category_id else None
        if category is None:
            return None
        if self.structure and category.path.startswith("/1000000/"):
            return STRUCTURE_MIN_LIFE[BuildingStructure(self.structure)]
        return category.min_life_years

    def classify(self, threshold: Decimal) -> str:
        """固定资产 or 低值易耗品: by the category's rule, else by the batch flag or the unit price."""
        rule = self.category.value_class
        if rule == CategoryValueClass.FIXED:
            return AssetClass.FIXED
        if rule == CategoryValueClass.LOW_VALUE:
            return AssetClass.LOW_VALUE
        if self.is_batch or (self.unit_price or 0) >= threshold:
            return AssetClass.FIXED
        return AssetClass.LOW_VALUE

    def depreciation(self, month: datetime.date | None = None):
        """Straight-line depreciation up to ``month`` (default: this month); see houqin.assets.depreciation."""
        from houqin.assets.depreciation import depreciation_for

        return depreciation_for(self, month)

    @property
    def net_value(self) -> Decimal:
        return self.depreciation().net

    @property
    def accumulated_depreciation(self) -> Decimal:
        return self.depreciation().accumulated

    # --- Validation ----------------------------------------------------------------------------------------------
    def clean(self):
        from houqin.assets.conf import capitalisation_threshold

        errors: dict[str, str] = {}
        self.original_value = self.value_of(self.quantity, self.unit_price)
        category = self.category if self.category_id else None
        if category is not None and category.org_id not in (None, self.org_id):
            errors["category"] = "必须是国家标准分类或本校的分类。"
        for name in ("room", "department"):
            related = getattr(self, name) if getattr(self, f"{name}_id") else None
            if related is not None and self.org_id and related.org_id != self.org_id:
                errors[name] = "必须属于本校。"
        # (An importer that picked the custodian among the school's members says so, saving a query per row.)
        if (self.custodian_id and self.org_id and getattr(self, "_custodian_org_id", None) != self.org_id
                and not self.custodian.memberships.filter(org_id=self.org_id).exists()):
            errors["custodian"] = "保管人必须是本校人员。"
        if self.warranty_until and self.acquired_on and self.warranty_until < self.acquired_on:
            errors["warranty_until"] = "保修截止日期不能早于取得日期。"
        if self._state.adding:
            if self.acquired_on and self.acquired_on > timezone.localdate():
                errors["acquired_on"] = "取得日期不能晚于今天。"
            if category is not None:
                if not category.is_active:
                    errors["category"] = "该分类已停用，请选择其他分类。"
                if self.structure and not category.path.startswith("/1000000/"):
                    errors["structure"] = "只有土地、房屋及构筑物需要填写房屋结构。"
                if self.org_id:
                    self.asset_class = self.classify(capitalisation_threshold(self.org))
                self._check_life(category, errors)
        if errors:
            raise ValidationError(errors)

    def _check_life(self, category: AssetCategory, errors: dict) -> None:
        """At registration: default the useful life from the category and refuse one below the minimum."""
        if not category.is_depreciable or self.asset_class != AssetClass.FIXED:
            return
        minimum = self.min_life()
        if self.useful_life_years is None:
            self.useful_life_years = max(category.default_life_years or 0, minimum or 0) or None
        if self.useful_life_years is None:
            errors["useful_life_years"] = "请填写使用年限。"
        elif minimum and self.useful_life_years < minimum:
            what = f"{BuildingStructure(self.structure).label}房屋" if self.structure else f"“{category.name}”类资产"
            errors["useful_life_years"] = (f"使用年限不能低于{what}的最低折旧年限 {minimum} 年"
                                           f"（{MIN_LIFE_BASIS}）。")


# --- Events --------------------------------------------------------------------------------------------------------
class AssetEvent(AppendOnlyModel):
    """One thing that happened to a card: registered, assigned, transferred, lent, returned, repaired, damaged,
    disposed, counted, adjusted… ``changes`` holds the fields it changed as ``{"field": [before, after]}`` (for
    ``register``: the card's registration facts as ``[None, value]``)."""

    org_field = "org"

    # Neither has an index of its own: (org, code, time) and (asset, time) below start with them.
    org = models.ForeignKey("core.Organization", verbose_name="所属单位", on_delete=models.PROTECT, related_name="+",
                            db_index=False)
    asset = models.ForeignKey(Asset, verbose_name="资产", on_delete=models.PROTECT, related_name="events",
                              db_index=False)
    code = models.CharField("变动类型", max_length=20, choices=AssetEventCode.choices)
    time = models.DateTimeField("时间", default=timezone.now, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="经办人", null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+")
    actor_name = models.CharField("经办人姓名", max_length=80, blank=True)
    status_before = models.CharField("变动前状态", max_length=20, choices=AssetStatus.choices, blank=True)
    status_after = models.CharField("变动后状态", max_length=20, choices=AssetStatus.choices, blank=True)
    changes = models.JSONField("变动内容", default=dict, blank=True)
    reference = models.CharField("关联单据", max_length=40, blank=True, help_text="如审批单号、维修单号、盘点单号")
    note = models.CharField("说明", max_length=200, blank=True)
    reverses = models.ForeignKey("self", verbose_name="冲销的记录", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="reversed_by", db_index=False)

    ledger_name = "资产变动记录"

    class Meta:
        verbose_name = "资产变动记录"
        verbose_name_plural = "资产变动记录"
        ordering = ["-time", "-pk"]
        default_permissions = ("view",)
        indexes = [models.Index(fields=["asset", "time"], name="assetevent_asset_time"),
                   models.Index(fields=["org", "code", "time"], name="assetevent_org_code_time"),
                   # Few events reverse another: only those are indexed.
                   models.Index(fields=["reverses"], condition=Q(reverses__isnull=False), name="assetevent_reverses")]

    def __str__(self):
        stamp = timezone.localtime(self.time).strftime("%Y-%m-%d") if self.time else ""
        return f"{stamp} {self.get_code_display()}"

    @property
    def owning_org_id(self):
        return self.org_id

    @property
    def changes_display(self) -> str:
        from houqin.assets.history import describe_changes

        return describe_changes(self.changes)
