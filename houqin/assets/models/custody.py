"""Custody of asset cards: who holds a card, where it is, and when it comes back.

* ``AssetTransfer`` — 调拨单: one move of a card's using department, location and/or custodian. A move within the
  same department applies at once; one that crosses departments waits for core's approval engine (request type
  ``transfer``) and is applied in one step when approved.
* ``AssetLoan`` — 借用单: a card lent to a member of the school or to an outside person, with its due date, the
  hand-over signatures (core attachments on the loan) and its return.

Both rows are written by the commands in ``houqin.assets.custody`` only (the generic UI is read-only); assigning a
card and returning it to the store are plain history events (``AssetEvent``) without a document of their own.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from houqin.assets.choices import AssetStatus
from houqin.assets.models.cards import Asset
from houqin.core.models.base import TenantModel

__all__ = ["LoanCondition", "TransferStatus", "AssetLoan", "AssetTransfer"]

LOAN_PREFIX = "JY"  # 借用单号 JY-2026-00001
TRANSFER_PREFIX = "DB"  # 调拨单号 DB-2026-00001


class LoanCondition(models.TextChoices):
    GOOD = "good", "完好"
    DAMAGED = "damaged", "有损坏"
    LOST = "lost", "丢失"  # set by disposal.mark_lost on a lent card, not offered on the return form


# What a keeper may choose when a card comes back (丢失 is written only by 登记丢失).
RETURN_CONDITIONS = [(LoanCondition.GOOD.value, LoanCondition.GOOD.label),
                     (LoanCondition.DAMAGED.value, LoanCondition.DAMAGED.label)]


class TransferStatus(models.TextChoices):
    PENDING = "pending", "审批中"
    DONE = "done", "已调拨"
    REJECTED = "rejected", "已驳回"
    WITHDRAWN = "withdrawn", "已撤回"


class AssetLoan(TenantModel):
    """借用单: a card lent out (status 借出) until it is returned to the status it had (在用/闲置)."""

    search_fields = ("number", "asset_text", "borrower_name", "borrower_phone", "purpose")

    number = models.CharField("借用单号", max_length=30, editable=False)
    asset = models.ForeignKey(Asset, verbose_name="资产", on_delete=models.PROTECT, related_name="loans")
    borrower = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="借用人（本校人员）", null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+")
    borrower_name = models.CharField("借用人", max_length=60,
                                     help_text="本校人员为借出时的姓名；校外人员为登记的姓名")
    borrower_phone = models.CharField("联系电话", max_length=30, blank=True)
    purpose = models.CharField("用途", max_length=200)
    lent_at = models.DateTimeField("借出时间", default=timezone.now)
    due_on = models.DateField("应还日期")
    lent_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="借出经办人", null=True, blank=True,
                                on_delete=models.PROTECT, related_name="+")
    status_before = models.CharField("借出前状态", max_length=20, choices=AssetStatus.choices,
                                     default=AssetStatus.IN_USE)
    signature_pending = models.BooleanField("借用人稍后补签", default=False,
                                            help_text="借出时借用人不在场，未当面签字")
    signed_at = models.DateTimeField("借用人签字时间", null=True, blank=True)
    returned_at = models.DateTimeField("归还时间", null=True, blank=True)
    returned_to = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="归还经办人", null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    return_condition = models.CharField("归还状况", max_length=20, choices=LoanCondition.choices, blank=True)
    return_note = models.CharField("归还说明", max_length=200, blank=True)
    return_signed_at = models.DateTimeField("归还签字时间", null=True, blank=True)
    note = models.CharField("备注", max_length=200, blank=True)

    class Meta:
        verbose_name = "资产借用"
        verbose_name_plural = "借用台账"
        ordering = ["-lent_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["org", "number"], name="assetloan_unique_number",
                                    violation_error_message="本校已有此借用单号。"),
            # A card is with one borrower at a time.
            models.UniqueConstraint(fields=["asset"], condition=Q(returned_at__isnull=True),
                                    name="assetloan_one_open_per_asset",
                                    violation_error_message="该资产已借出，尚未归还。"),
            models.CheckConstraint(condition=Q(borrower__isnull=False) | ~Q(borrower_name=""),
                                   name="assetloan_has_borrower", violation_error_message="请填写借用人。"),
        ]
        indexes = [
            models.Index(fields=["org", "returned_at", "due_on"], name="assetloan_org_open_due"),
            models.Index(fields=["borrower", "returned_at"], name="assetloan_borrower_open"),
        ]

    def __str__(self):
        return f"{self.number} {self.borrower_name}".strip()

    def get_absolute_url(self):
        return reverse("assets:assetloan_detail", args=[self.pk])

    @property
    def asset_text(self) -> str:
        return str(self.asset) if self.asset_id else ""

    @property
    def is_open(self) -> bool:
        return self.returned_at is None

    @property
    def is_outsider(self) -> bool:
        return self.borrower_id is None

    @property
    def is_overdue(self) -> bool:
        return self.returned_at is None and self.due_on is not None and self.due_on < timezone.localdate()

    @property
    def overdue_days(self) -> int:
        return (timezone.localdate() - self.due_on).days if self.is_overdue else 0

    @property
    def state(self) -> str:
        if self.returned_at is not None:
            return "lost" if self.return_condition == LoanCondition.LOST else "returned"
        return "overdue" if self.is_overdue else "open"

    @property
    def state_display(self) -> str:
        return {"returned": "已归还", "lost": "借出期间丢失", "overdue": "已逾期", "open": "借用中"}[self.state]

    @property
    def borrower_display(self) -> str:
        who = self.borrower_name or (str(self.borrower) if self.borrower_id else "")
        return f"{who}（校外）" if self.is_outsider else who

    @property
    def damaged_on_return(self) -> bool:
        return self.return_condition == LoanCondition.DAMAGED


class AssetTransfer(TenantModel):
    """调拨单: the department, location and custodian a card moves from and to, applied all at once."""

    search_fields = ("number", "asset_text", "summary", "reason")

    number = models.CharField("调拨单号", max_length=30, editable=False)
    asset = models.ForeignKey(Asset, verbose_name="资产", on_delete=models.PROTECT, related_name="transfers")
    from_department = models.ForeignKey("core.Department", verbose_name="原使用部门", null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="+")
    to_department = models.ForeignKey("core.Department", verbose_name="新使用部门", null=True, blank=True,
                                      on_delete=models.PROTECT, related_name="+")
    from_room = models.ForeignKey("core.Room", verbose_name="原存放地点", null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="+")
    to_room = models.ForeignKey("core.Room", verbose_name="新存放地点", null=True, blank=True,
                                on_delete=models.PROTECT, related_name="+")
    from_custodian = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="原保管人", null=True, blank=True,
                                       on_delete=models.PROTECT, related_name="+")
    to_custodian = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="新保管人", null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+")
    # The move in words, with the names as they were when it was requested (lists and the card's panel).
    summary = models.CharField("调拨内容", max_length=300, blank=True, editable=False)
    reason = models.CharField("调拨原因", max_length=200, blank=True)
    status = models.CharField("状态", max_length=20, choices=TransferStatus.choices, default=TransferStatus.PENDING,
                              editable=False)
    needs_approval = models.BooleanField("须审批", default=False, editable=False,
                                         help_text="跨部门调拨须经总务主任审批")
    approval = models.ForeignKey("core.ApprovalRequest", verbose_name="审批单", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="+", editable=False)
    approval_number = models.CharField("审批单号", max_length=30, blank=True, editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="经办人", null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+")
    applied_at = models.DateTimeField("调拨生效时间", null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "资产调拨"
        verbose_name_plural = "调拨单"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["org", "number"], name="assettransfer_unique_number",
                                    violation_error_message="本校已有此调拨单号。"),
            # While a move waits for approval, nothing else may move the card.
            models.UniqueConstraint(fields=["asset"], condition=Q(status="pending"),
                                    name="assettransfer_one_pending_per_asset",
                                    violation_error_message="该资产已有待审批的调拨申请。"),
        ]
        indexes = [models.Index(fields=["org", "status"], name="assettransfer_org_status")]

    def __str__(self):
        return f"{self.number} {self.asset_text}".strip()

    def get_absolute_url(self):
        return reverse("assets:assettransfer_detail", args=[self.pk])

    @property
    def asset_text(self) -> str:
        return str(self.asset) if self.asset_id else ""

    @property
    def amount(self):
        """The card's original value: the amount the approval request shows (a transfer has one band)."""
        return self.asset.original_value if self.asset_id else 0

    @property
    def is_pending(self) -> bool:
        return self.status == TransferStatus.PENDING


# --- Approval hooks ------------------------------------------------------------------------------------------------
# Connected when the models load, so that a decision taken anywhere (the approval pages, a test, a job) applies the
# move; the work is done in houqin.assets.custody (imported lazily: it imports these models).
def _transfer_approved(request):
    from houqin.assets import custody

    custody.transfer_approved(request)


def _transfer_rejected(request):
    from houqin.assets import custody

    custody.transfer_closed(request, TransferStatus.REJECTED)


def _transfer_withdrawn(request):
    from houqin.assets import custody

    custody.transfer_closed(request, TransferStatus.WITHDRAWN)


def _connect_approvals() -> None:
    from houqin.core import approvals

    approvals.connect("transfer", model="assets.assettransfer", on_approved=_transfer_approved,
                      on_rejected=_transfer_rejected, on_withdrawn=_transfer_withdrawn)


_connect_approvals()
