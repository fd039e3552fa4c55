"""Forms of the disposal part of the assets app (damage, compensation, status commands, disposal requests).

They only type the input: the commands in ``houqin.assets.disposal`` validate it (and re-validate under the row
lock), and the views put the commands' errors back on the form's fields.
"""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms
from django.utils import timezone

from houqin.assets.forms import staff_choices
from houqin.assets.models.disposal import DamageOutcome, DisposalMethod, ResponsibleKind

MONEY = {"max_digits": 14, "decimal_places": 2, "min_value": Decimal("0")}
NUMBER_SPLIT = re.compile(r"[\s,，、;；]+")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input; the content checks are the attachments service's (all or nothing)."""

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(item, initial) for item in data if item]
        return [super().clean(data, initial)] if data else []


def photos_field(label: str = "照片") -> forms.FileField:
    """Several photos (a phone's camera or its album); the view reads them with ``request.FILES.getlist``."""
    return MultipleFileField(label=label, required=False, help_text="可一次选择多张；仅支持 JPEG、PNG、WebP 图片或 PDF",
                             widget=MultipleFileInput(attrs={"accept": "image/*,application/pdf",
                                                             "capture": "environment"}))


def date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def textarea(rows: int = 3, placeholder: str = "") -> forms.Textarea:
    attrs = {"rows": rows}
    if placeholder:
        attrs["placeholder"] = placeholder
    return forms.Textarea(attrs=attrs)


def apply_errors(form: forms.Form, exc) -> None:
    """Put a command's ValidationError on the form: by field where the form has it, else on the whole form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            for message in errors:
                form.add_error(field if field in form.fields else None, message)
    else:
        for message in exc.messages:
            form.add_error(None, message)


class DamageForm(forms.Form):
    """损坏登记 on a card."""

    occurred_on = forms.DateField(label="损坏日期", widget=date_input())
    description = forms.CharField(label="损坏情况", max_length=500,
                                  widget=textarea(3, "如：屏幕碎裂，无法显示；桌面开裂"))
    photos = photos_field("损坏照片")
    responsible_kind = forms.ChoiceField(label="责任人", choices=ResponsibleKind.choices,
                                         initial=ResponsibleKind.NONE, widget=forms.RadioSelect)
    responsible_user = forms.ModelChoiceField(label="本校责任人", queryset=None, required=False,
                                              help_text="责任人是本校教职工时选择")
    responsible_name = forms.CharField(label="责任人姓名", max_length=80, required=False,
                                       help_text="责任人是学生或校外人员时填写")
    responsible_detail = forms.CharField(label="班级/单位", max_length=100, required=False,
                                         help_text="学生填写班级，校外人员填写单位或电话")
    outcome = forms.ChoiceField(label="处理方式", choices=DamageOutcome.choices, initial=DamageOutcome.USABLE,
                                widget=forms.RadioSelect,
                                help_text="送修：资产转为“维修中”；无法修复：转为“待处置”，可接着申请处置")
    compensation_amount = forms.DecimalField(label="应赔金额（元）", required=False, **MONEY,
                                             help_text="需要赔偿时填写；不赔偿请留空")
    payer = forms.CharField(label="赔偿人", max_length=80, required=False, help_text="如学生家长姓名；留空则为责任人")
    note = forms.CharField(label="备注", max_length=200, required=False)

    def __init__(self, *args, org=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["responsible_user"].queryset = staff_choices(org)
        self.fields["responsible_user"].empty_label = "请选择"
        if not self.is_bound:
            self.fields["occurred_on"].initial = timezone.localdate()


class LostForm(forms.Form):
    """登记丢失."""

    note = forms.CharField(label="丢失经过", max_length=200,
                           widget=textarea(3, "何时、何地发现丢失，已做过哪些查找"))


class RepairDoneForm(forms.Form):
    """修复完成 / 无法修复 for a card sent to repair without a work order."""

    outcome = forms.ChoiceField(label="维修结果", widget=forms.RadioSelect, initial="fixed",
                                choices=[("fixed", "已修复，恢复使用"), ("unrepairable", "无法修复，转为待处置")])
    note = forms.CharField(label="说明", max_length=200, required=False,
                           widget=textarea(2, "如：更换屏幕，维修费 680 元"))


class CompensationForm(forms.Form):
    """修改应赔金额 (before it is paid)."""

    compensation_amount = forms.DecimalField(label="应赔金额（元）", required=False, **MONEY,
                                             help_text="留空或填 0 表示无需赔偿")
    payer = forms.CharField(label="赔偿人", max_length=80, required=False, help_text="留空则为责任人")


class PaymentForm(forms.Form):
    """赔偿款到账."""

    paid_on = forms.DateField(label="收款日期", widget=date_input())
    paid_amount = forms.DecimalField(label="实收金额（元）", required=False, **MONEY, help_text="留空则为应赔金额")
    receipt_no = forms.CharField(label="收据号", max_length=60)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.fields["paid_on"].initial = timezone.localdate()


def parse_numbers(text: str) -> list[str]:
    """Asset numbers typed, pasted or scanned: one per line, or separated by commas, 、 or spaces."""
    seen, numbers = set(), []
    for part in NUMBER_SPLIT.split(text or ""):
        part = part.strip().upper()
        if part and part not in seen:
            seen.add(part)
            numbers.append(part)
    return numbers


class DisposalRequestForm(forms.Form):
    """处置申请: the cards (by number) and the request's facts."""

    numbers = forms.CharField(label="资产编号", widget=textarea(6, "每行一个资产编号，可扫码或从 Excel 粘贴"),
                              help_text="一张处置单可包含多项资产（如同批报废的 50 台电脑）")
    method = forms.ChoiceField(label="处置方式", choices=DisposalMethod.choices, initial=DisposalMethod.SCRAP)
    reason = forms.CharField(label="处置原因", max_length=500,
                             widget=textarea(3, "如：使用满 10 年，主板老化，维修价值低"))
    meeting_note = forms.CharField(label="集体决策", max_length=200, required=False,
                                   help_text="如：2026-06-10 校长办公会研究同意（国有资产处置须经集体决策）")
    recipient = forms.CharField(label="拟接收方", max_length=100, required=False,
                                help_text="调拨、捐赠必须填写接收单位；出售可填写拟买受人")
    estimated_residual = forms.DecimalField(label="预计残值（元）", required=False, initial=Decimal("0"), **MONEY)

    def clean_numbers(self):
        numbers = parse_numbers(self.cleaned_data.get("numbers", ""))
        if not numbers:
            raise forms.ValidationError("请至少填写一个资产编号。")
        return numbers


class DisposalRecordForm(forms.Form):
    """处置完成: what was done, when, for how much, with whom."""

    disposed_on = forms.DateField(label="处置日期", widget=date_input(),
                                  help_text="资产自该月起不再计提折旧")
    actual_income = forms.DecimalField(label="实际残值/处置收入（元）", required=False, initial=Decimal("0"), **MONEY,
                                       help_text="回收、出售所得；报废无收入填 0")
    buyer = forms.CharField(label="接收方/买受人", max_length=100, required=False,
                            help_text="调拨、捐赠、出售必须填写；报废可填写回收单位")
    document_no = forms.CharField(label="处置文件号", max_length=60, required=False,
                                  help_text="如批复文号、调拨单号、回收或拍卖凭证号")
    note = forms.CharField(label="处置说明", max_length=200, required=False, widget=textarea(2))
    photos = photos_field("处置照片")

    def __init__(self, *args, disposal=None, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.fields["disposed_on"].initial = timezone.localdate()
            if disposal is not None:
                self.fields["actual_income"].initial = disposal.estimated_residual
                self.fields["buyer"].initial = disposal.recipient
