"""Models of the assets app: damage with compensation, and disposal requests (see houqin/assets/models/__init__.py).

* ``AssetDamage`` — one damage of a card (损坏登记): when, what, who is responsible, what follows (送修 / 无法修复 /
  可继续使用) and the compensation owed and received (损坏赔偿台账). Created by ``disposal.mark_damaged``; its
  compensation changes through ``update_compensation`` and ``mark_compensation_paid``.
* ``AssetDisposal`` — a disposal request (资产处置单, ``CZ-<year>-<n>``) for one or several cards, approved through
  core's approval engine (type ``disposal``), then recorded as done by the keeper (处置完成: the cards are written off).
* ``AssetDisposalItem`` — one card of a disposal with its values frozen at request time.

Statuses here and on the cards change through the commands in ``houqin/assets/disposal.py`` only.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from houqin.assets.choices import AssetStatus
from houqin.core.models.base import RestrictedQuerySet, TenantModel

__all__ = ["AssetDamage", "AssetDisposal", "AssetDisposalItem"]

MONEY = {"max_digits": 14, "decimal_places": 2}
PANEL_LIMIT = 10  # rows of each kind shown in the panel on a card's page


# --- Choices (values are stored and appear in the API: never change a value once released) -----------------------
class ResponsibleKind(models.TextChoices):
    MEMBER = "member", "本校教职工"
    PUPIL = "pupil", "学生"
    OUTSIDER = "outsider", "校外人员"
    NONE = "none", "无责任人（自然损耗）"


class DamageOutcome(models.TextChoices):
    REPAIR = "repair", "送修"
    UNREPAIRABLE = "unrepairable", "无法修复，待处置"
    USABLE = "usable", "可继续使用"


class CompensationStatus(models.TextChoices):
    NONE = "none", "无需赔偿"
    UNPAID = "unpaid", "未赔偿"
    PAID = "paid", "已赔偿"


class DisposalMethod(models.TextChoices):
    SCRAP = "scrap", "报废"
    TRANSFER_OUT = "transfer_out", "调拨给其他单位"
    DONATE = "donate", "捐赠"
    SELL = "sell", "出售"
    WRITE_OFF = "write_off", "报损"


# Methods whose other party (receiving unit, donee, buyer) must be named.
METHODS_WITH_RECIPIENT = (DisposalMethod.TRANSFER_OUT, DisposalMethod.DONATE, DisposalMethod.SELL)


class DisposalStatus(models.TextChoices):
    PENDING = "pending", "审批中"
    APPROVED = "approved", "已批准，待处置"
    DONE = "done", "已处置"
    REJECTED = "rejected", "未获批准"
    WITHDRAWN = "withdrawn", "已撤回"


OPEN_DISPOSAL_STATUSES = (DisposalStatus.PENDING, DisposalStatus.APPROVED)


# --- Damage ------------------------------------------------------------------------------------------------------
class AssetDamageQuerySet(RestrictedQuerySet):
    def for_card(self):
        """The latest damages of one card (used as ``card.damages.for_card`` in the card's panel)."""
        return list(self.select_related("responsible_user").order_by("-occurred_on", "-pk")[:PANEL_LIMIT])


class AssetDamage(TenantModel):
    """One damage of a card and the compensation for it (损坏赔偿台账)."""

    search_fields = ("asset_number", "asset_name", "description", "responsible_name", "payer", "receipt_no")

    asset = models.ForeignKey("assets.Asset", verbose_name="资产", on_delete=models.PROTECT, related_name="damages")
    occurred_on = models.DateField("损坏日期")
    description = models.CharField("损坏情况", max_length=500)
    responsible_kind = models.CharField("责任人类型", max_length=20, choices=ResponsibleKind.choices,
                                        default=ResponsibleKind.NONE)
    responsible_user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="责任人（本校人员）", null=True,
                                         blank=True, on_delete=models.PROTECT, related_name="+")
    responsible_name = models.CharField("责任人", max_length=80, blank=True,
                                        help_text="学生或校外人员的姓名；本校人员自动填写")
    responsible_detail = models.CharField("班级/单位", max_length=100, blank=True,
                                          help_text="学生填写班级，校外人员填写单位或联系方式")
    outcome = models.CharField("处理方式", max_length=20, choices=DamageOutcome.choices,
                               default=DamageOutcome.USABLE)
    status_before = models.CharField("登记前状态", max_length=20, choices=AssetStatus.choices, editable=False)
    status_after = models.CharField("登记后状态", max_length=20, choices=AssetStatus.choices, editable=False)
    compensation_status = models.CharField("赔偿情况", max_length=20, choices=CompensationStatus.choices,
                                           default=CompensationStatus.NONE, editable=False)
    compensation_amount = models.DecimalField("应赔金额（元）", null=True, blank=True,
                                              validators=[MinValueValidator(Decimal("0"))], **MONEY)
    payer = models.CharField("赔偿人", max_length=80, blank=True, help_text="如学生家长姓名；默认为责任人")
    paid_amount = models.DecimalField("实收金额（元）", null=True, blank=True, editable=False,
                                      validators=[MinValueValidator(Decimal("0"))], **MONEY)
    paid_on = models.DateField("收款日期", null=True, blank=True, editable=False)
    receipt_no = models.CharField("收据号", max_length=60, blank=True, editable=False)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="登记人", null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+", editable=False)
    note = models.CharField("备注", max_length=200, blank=True)

    objects = AssetDamageQuerySet.as_manager()

    class Meta:
        verbose_name = "损坏赔偿"
        verbose_name_plural = "损坏赔偿台账"
        ordering = ["-occurred_on", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(compensation_amount__isnull=True) | Q(compensation_amount__gte=0),
                                   name="assetdamage_amount_not_negative",
                                   violation_error_message="赔偿金额不能为负数。"),
            models.CheckConstraint(condition=~Q(compensation_status="paid") | Q(paid_on__isnull=False),
                                   name="assetdamage_paid_has_date",
                                   violation_error_message="已赔偿的记录必须有收款日期。"),
        ]
        indexes = [
            models.Index(fields=["org", "compensation_status"], name="assetdamage_org_comp"),
            models.Index(fields=["asset", "occurred_on"], name="assetdamage_asset_day"),
        ]

    def __str__(self):
        number = self.asset.number if self.asset_id else ""
        return f"{number} {self.occurred_on:%Y-%m-%d} 损坏".strip() if self.occurred_on else f"{number} 损坏"

    @property
    def asset_number(self) -> str:
        return self.asset.number if self.asset_id else ""

    @property
    def asset_name(self) -> str:
        return self.asset.name if self.asset_id else ""

    @property
    def responsible_display(self) -> str:
        if self.responsible_kind == ResponsibleKind.NONE:
            return ResponsibleKind.NONE.label
        detail = f"（{self.responsible_detail}）" if self.responsible_detail else ""
        return f"{self.responsible_name}{detail}"

    @property
    def compensation_display(self) -> str:
        if self.compensation_status == CompensationStatus.PAID:
            return f"已赔偿 {self.paid_amount:,.2f} 元"
        if self.compensation_status == CompensationStatus.UNPAID:
            return f"未赔偿（应赔 {self.compensation_amount:,.2f} 元）"
        return CompensationStatus.NONE.label


# --- Disposal -------------------------------------------------------------------------------------------------------
class AssetDisposal(TenantModel):
    """A disposal request for one or several cards (资产处置单) and, once approved and carried out, its record."""

    search_fields = ("number", "reason", "recipient", "buyer", "document_no")

    number = models.CharField("处置单号", max_length=30, blank=True, editable=False)
    method = models.CharField("处置方式", max_length=20, choices=DisposalMethod.choices, default=DisposalMethod.SCRAP)
    reason = models.CharField("处置原因", max_length=500)
    meeting_note = models.CharField("集体决策", max_length=200, blank=True,
                                    help_text="如：2026-06-10 校长办公会研究同意（国有资产处置须经集体决策）")
    recipient = models.CharField("拟接收方", max_length=100, blank=True,
                                 help_text="调拨、捐赠填写接收单位；出售可填写拟买受人（拍卖的可在处置完成时填写）")
    estimated_residual = models.DecimalField("预计残值（元）", default=Decimal("0"),
                                             validators=[MinValueValidator(Decimal("0"))], **MONEY)
    item_count = models.PositiveIntegerField("资产项数", default=0, editable=False)
    total_value = models.DecimalField("原值合计（元）", default=Decimal("0"), editable=False, **MONEY)
    total_net_value = models.DecimalField("净值合计（元）", default=Decimal("0"), editable=False, **MONEY)
    warnings = models.TextField("提示", blank=True, editable=False,
                                help_text="申请时的提示，如未达最低使用年限的资产")
    status = models.CharField("状态", max_length=20, choices=DisposalStatus.choices, default=DisposalStatus.PENDING,
                              editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="申请人", null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+", editable=False)
    requested_on = models.DateField("申请日期", null=True, blank=True, editable=False)
    approval = models.ForeignKey("core.ApprovalRequest", verbose_name="审批单", null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+", editable=False)
    disposed_on = models.DateField("处置日期", null=True, blank=True, editable=False)
    actual_income = models.DecimalField("实际残值/处置收入（元）", null=True, blank=True, editable=False,
                                        validators=[MinValueValidator(Decimal("0"))], **MONEY)
    buyer = models.CharField("接收方/买受人", max_length=100, blank=True, editable=False)
    document_no = models.CharField("处置文件号", max_length=60, blank=True, editable=False,
                                   help_text="批复文号、调拨单号、回收或拍卖凭证号")
    record_note = models.CharField("处置说明", max_length=200, blank=True, editable=False)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="处置经办人", null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+", editable=False)

    class Meta:
        verbose_name = "资产处置单"
        verbose_name_plural = "资产处置单"
        ordering = ["-requested_on", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["org", "number"], condition=~Q(number=""),
                                    name="assetdisposal_unique_number",
                                    violation_error_message="本校已有此处置单号。"),
            models.CheckConstraint(condition=~Q(status="done") | Q(disposed_on__isnull=False),
                                   name="assetdisposal_done_has_date",
                                   violation_error_message="已处置的处置单必须有处置日期。"),
        ]
        indexes = [models.Index(fields=["org", "status"], name="assetdisposal_org_status")]

    def __str__(self):
        return f"{self.number} {self.get_method_display()}".strip()

    @property
    def amount(self) -> Decimal:
        """The amount the approval bands are chosen by: the cards' total original (book) value. The approval
        engine reads it when a sent-back request is resubmitted."""
        return self.total_value

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_DISPOSAL_STATUSES

    @property
    def approval_status(self) -> str:
        """The approval request's status as shown (list column; load with ``select_related("approval")``)."""
        return self.approval.get_status_display() if self.approval_id else "—"


class AssetDisposalItemQuerySet(RestrictedQuerySet):
    def for_card(self):
        """The disposals one card is or was part of, newest first (``card.disposal_items.for_card``)."""
        return list(self.select_related("disposal__approval").order_by("-pk")[:PANEL_LIMIT])


class AssetDisposalItem(TenantModel):
    """One card of a disposal: values and status frozen when it was requested."""

    search_fields = ()

    disposal = models.ForeignKey(AssetDisposal, verbose_name="处置单", on_delete=models.CASCADE, related_name="items")
    asset = models.ForeignKey("assets.Asset", verbose_name="资产", on_delete=models.PROTECT,
                              related_name="disposal_items")
    status_before = models.CharField("申请前状态", max_length=20, choices=AssetStatus.choices)
    original_value = models.DecimalField("原值（元）", **MONEY)
    accumulated_depreciation = models.DecimalField("累计折旧（元）", **MONEY)
    net_value = models.DecimalField("净值（元）", **MONEY)
    age_months = models.PositiveIntegerField("已使用月数", default=0)
    min_life_years = models.PositiveSmallIntegerField("最低使用年限（年）", null=True, blank=True)
    under_min_life = models.BooleanField("未达最低使用年限", default=False)
    final_net_value = models.DecimalField("核销时净值（元）", null=True, blank=True, **MONEY)
    # True while the disposal is pending or approved: a card is in at most one open disposal (database-enforced).
    is_open = models.BooleanField("办理中", default=True)

    objects = AssetDisposalItemQuerySet.as_manager()

    class Meta:
        verbose_name = "处置资产明细"
        verbose_name_plural = "处置资产明细"
        ordering = ["disposal", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["disposal", "asset"], name="assetdisposalitem_unique_card",
                                    violation_error_message="同一资产不能在处置单中重复出现。"),
            models.UniqueConstraint(fields=["asset"], condition=Q(is_open=True),
                                    name="assetdisposalitem_one_open_per_card",
                                    violation_error_message="该资产已在另一张办理中的处置单中。"),
        ]

    def __str__(self):
        return f"{self.disposal} · {self.asset}" if self.disposal_id and self.asset_id else "处置资产明细"

    @property
    def age_display(self) -> str:
        years, months = divmod(self.age_months, 12)
        return f"{years} 年 {months} 个月" if years else f"{months} 个月"


# --- Approval hooks -------------------------------------------------------------------------------------------------
# Connected when the models load, so that every process (web, jobs, tests) has them before any approval is decided.
# The work is in houqin.assets.disposal (imported lazily: it imports these models).
def _approved(request):
    from houqin.assets.disposal import disposal_approved

    disposal_approved(request)


def _rejected(request):
    from houqin.assets.disposal import disposal_closed

    disposal_closed(request, DisposalStatus.REJECTED)


def _withdrawn(request):
    from houqin.assets.disposal import disposal_closed

    disposal_closed(request, DisposalStatus.WITHDRAWN)


def _connect_approvals() -> None:
    from houqin.core import approvals

    approvals.connect("disposal", model="assets.assetdisposal", on_approved=_approved, on_rejected=_rejected,
                      on_withdrawn=_withdrawn)


_connect_approvals()
