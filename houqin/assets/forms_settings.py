"""The form of the assets app's school settings page (``/assets/settings/``) and of ``/api/assets/settings/``.

The fields are the keys of ``Organization.settings["assets"]`` (houqin.assets.conf); ``cleaned_values()`` gives
them in the form ``conf.save_settings`` stores.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms

from houqin.assets import conf
from houqin.assets.categories import EDITIONS

MAX_THRESHOLD = Decimal("1000000")

DEPRECIATION_START_CHOICES = (
    ("same_month", "当月开始计提（默认）"),
    ("next_month", "次月开始计提"),
)
EDITION_NAMES = {
    "2010": "GB/T 14885-2010《固定资产分类与代码》",
    "2022": "GB/T 14885-2022《固定资产等资产基础分类与代码》",
}
SCAN_LOGIN_CHOICES = (
    ("true", "需要登录（推荐）"),
    ("false", "不需要登录"),
)


def edition_choices() -> list[tuple[str, str]]:
    return [(key, EDITION_NAMES.get(key, f"GB/T 14885-{key}")) for key in EDITIONS]


def money_text(value: Decimal) -> str:
    """``1000`` for whole yuan, ``1500.50`` otherwise (never an exponent)."""
    text = format(value.quantize(Decimal("0.01")), "f")
    return text[:-3] if text.endswith(".00") else text


def threshold_error(value: Decimal) -> str | None:
    """Why ``value`` cannot be the capitalisation threshold, or None (the page and the API share this rule)."""
    if value <= 0:
        return "固定资产单价起点必须大于 0 元。"
    if value > MAX_THRESHOLD:
        return "固定资产单价起点不能超过 1,000,000 元，请检查是否多输了零。"
    return None


def _to_bool(value) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes", "on")


class AssetSettingsForm(forms.Form):
    capitalisation_threshold = forms.DecimalField(
        label="固定资产单价起点（元）", max_digits=12, decimal_places=2,
        help_text=("单价达到此金额的资产登记为固定资产，低于此金额的登记为低值易耗品（批量同类物资除外）。"
                   "默认 1,000 元，" + conf.CAPITALISATION_BASIS
                   + "。只影响今后登记的卡片，已登记卡片的资产类型不变。"),
        error_messages={"required": "请填写固定资产单价起点。", "invalid": "请输入金额，如 1000 或 1500.00。",
                        "max_digits": "金额过大，请检查。", "max_decimal_places": "金额最多保留两位小数。",
                        "max_whole_digits": "金额过大，请检查。"},
    )
    depreciation_start = forms.ChoiceField(
        label="折旧起始月份", choices=DEPRECIATION_START_CHOICES,
        help_text=("当月开始计提：政府会计制度规定当月增加的固定资产当月计提折旧；次月开始计提：企业会计做法。"
                   "修改后，所有卡片的折旧和净值立即按新规则计算。"),
        error_messages={"required": "请选择折旧起始月份。", "invalid_choice": "请从列表中选择折旧起始月份。"},
    )
    category_edition = forms.ChoiceField(
        label="资产分类标准版本", choices=edition_choices,
        help_text="新登记和导入的卡片从此版本的分类中选择；已登记的卡片保留原来的分类。",
        error_messages={"required": "请选择资产分类标准版本。", "invalid_choice": "系统中没有这个分类标准版本。"},
    )
    scan_requires_login = forms.TypedChoiceField(
        label="扫描资产标签二维码", choices=SCAN_LOGIN_CHOICES, coerce=_to_bool,
        help_text=("需要登录：本校人员登录后才能查看。不需要登录：任何人扫码都能看到资产名称、编号和存放地点，"
                   "并可使用公开功能（如报修）。不论如何设置，只有有权查看资产卡片的人员才能看到价值、保管人等信息。"),
        error_messages={"required": "请选择扫码是否需要登录。", "invalid_choice": "请从列表中选择扫码是否需要登录。"},
    )

    @classmethod
    def initial_for(cls, org) -> dict:
        values = conf.current_settings(org)
        values["scan_requires_login"] = "true" if values["scan_requires_login"] else "false"
        return values

    def clean_capitalisation_threshold(self):
        value = self.cleaned_data["capitalisation_threshold"]
        if message := threshold_error(value):
            raise forms.ValidationError(message, code="invalid")
        return value

    def cleaned_values(self) -> dict:
        """The validated values as stored in ``Organization.settings["assets"]``."""
        data = self.cleaned_data
        return {
            "capitalisation_threshold": money_text(data["capitalisation_threshold"]),
            "depreciation_start": data["depreciation_start"],
            "category_edition": data["category_edition"],
            "scan_requires_login": bool(data["scan_requires_login"]),
        }
