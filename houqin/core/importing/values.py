"""Reading the values that school spreadsheets actually contain.

Every parser takes one cell (a ``str``, ``int``, ``float``, ``bool``, ``date`` or ``datetime``, as the .xlsx
or .csv reader gives it) and returns the Python value, ``None`` for an empty cell, or raises ``CellError``
with a Chinese message that names what was expected.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

from houqin.core.importing.errors import CellError

Parser = Callable[[object], object]

# Excel's day 0 for serial dates (the 1900 date system, including its fictitious 1900-02-29).
_EXCEL_EPOCH = datetime.date(1899, 12, 30)
_EXCEL_MAX_SERIAL = 2_958_465  # 9999-12-31


def cell_text(value) -> str:
    """The text of a cell: integral numbers without '.0', dates as YYYY-MM-DD, full-width forms folded."""
    if value.__class__ is str:  # most cells: the fast path
        return value.replace("\u3000", " ").replace("\xa0", " ").strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):  # NaN, infinities
            return ""
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0, 0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time | datetime.timedelta):
        return str(value)
    text = str(value).replace("\u3000", " ").replace("\xa0", " ").strip()
    return text


def _fold(text: str) -> str:
    """Full-width letters, digits and punctuation to their ASCII forms (Ａ１．→ A1.)."""
    return unicodedata.normalize("NFKC", text)


def is_empty(value) -> bool:
    return cell_text(value) == ""


# --- Text ------------------------------------------------------------------------------------------------------
def parse_text(value) -> str | None:
    text = cell_text(value)
    return text or None


# --- Numbers ---------------------------------------------------------------------------------------------------
_MAX_NUMBER_TEXT = 40  # longer "numbers" are refused before any conversion (and its cost)
_MONEY_NOISE = re.compile(r"(人民币|rmb|cny|元整|元|圆|¥|￥|\$|,|，|\s)", re.IGNORECASE)
_AREA_NOISE = re.compile(r"(平方米|平米|㎡|m2|m²|平方|,|，|\s)", re.IGNORECASE)


def _to_decimal(value, noise: re.Pattern, what: str) -> Decimal | None:
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            raise CellError(f"应填写{what}，不能是“是/否”。")
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise CellError(f"应填写{what}。")
        if value.is_integer():
            return Decimal(int(value))
        # repr gives the shortest text that reads back as the same float: 72.1, not 72.099999…
        return Decimal(repr(value))
    if isinstance(value, datetime.date):
        raise CellError(f"应填写{what}，而不是日期。")
    text = cell_text(value)
    if not text:
        return None
    original = text
    if len(text) > _MAX_NUMBER_TEXT:
        raise CellError(f"“{original[:20]}…”不是有效的{what}。")
    text = _fold(text)
    multiplier = 1
    if text.endswith(("万元", "万")):
        multiplier = 10_000
        text = text.removesuffix("万元").removesuffix("万")
    text = noise.sub("", text)
    if text.startswith("(") and text.endswith(")"):  # accounting style negatives: (1,200.00)
        text = "-" + text[1:-1]
    try:
        number = Decimal(text)
        if not number.is_finite():
            raise InvalidOperation
        return number * multiplier if multiplier != 1 else number
    except (InvalidOperation, ArithmeticError):
        raise CellError(f"“{original}”不是有效的{what}。") from None


def parse_decimal(value) -> Decimal | None:
    """A decimal number: 1234.5, "1,234.50", "1 234.5", "72㎡", "72 平方米"."""
    return _to_decimal(value, _AREA_NOISE, "数字")


def parse_money(value) -> Decimal | None:
    """An amount of money: 1200, "1,200.00", "￥1,200", "1200元", "1.2万元"."""
    return _to_decimal(value, _MONEY_NOISE, "金额")


def integer_parser(*units: str, what: str = "整数") -> Parser:
    """A parser for whole numbers that may carry a unit: ``integer_parser("人")`` reads "50人" as 50."""

    unit_re = re.compile("(" + "|".join(re.escape(u) for u in units) + r")$") if units else None

    def parse(value) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool):
            raise CellError(f"应填写{what}。")
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if value.is_integer():
                return int(value)
            raise CellError(f"“{cell_text(value)}”不是{what}。")
        text = cell_text(value)
        if not text:
            return None
        if len(text) > _MAX_NUMBER_TEXT:
            raise CellError(f"“{text[:20]}…”不是{what}。")
        folded = _fold(text).replace(",", "").replace(" ", "")
        if unit_re is not None:
            folded = unit_re.sub("", folded)
        if re.fullmatch(r"[+-]?\d+(\.0+)?", folded):
            return int(Decimal(folded))
        number = chinese_number(folded)
        if number is not None:
            return number
        raise CellError(f"“{text}”不是{what}。")

    parse.__name__ = "parse_integer"
    return parse


parse_int = integer_parser()


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}


def chinese_number(text: str) -> int | None:
    """Small Chinese numerals (0–99): 三 → 3, 十二 → 12, 二十 → 20, 二十三 → 23. None if not one."""
    if not text or len(text) > 6:
        return None
    if all(ch in _CN_DIGITS for ch in text):
        if len(text) == 1:
            return _CN_DIGITS[text]
        return int("".join(str(_CN_DIGITS[ch]) for ch in text))  # 一〇一 → 101
    match = re.fullmatch(r"([一二两三四五六七八九])?十([一二三四五六七八九])?", text)
    if match:
        tens = _CN_DIGITS[match.group(1)] if match.group(1) else 1
        ones = _CN_DIGITS[match.group(2)] if match.group(2) else 0
        return tens * 10 + ones
    return None


# --- Floors ----------------------------------------------------------------------------------------------------
_FLOOR_UNDERGROUND = re.compile(r"^(地下|负|-|b)(.+?)(层|楼)?$", re.IGNORECASE)
_FLOOR_ABOVE = re.compile(r"^(?:f|第)?(.+?)(?:层|楼|f)?$", re.IGNORECASE)


def parse_floor_level(value) -> int | None:
    """A floor as schools write it: 3, "3层", "三楼", "F3", "3F", "-1", "B1", "负一层", "地下一层", "地下1层"."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise CellError("楼层应填写如 3、3层、-1 或 地下一层。")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise CellError(f"“{cell_text(value)}”不是楼层，楼层应为整数，如 3 或 -1。")
    text = cell_text(value)
    if not text:
        return None
    if len(text) > 20:
        raise CellError(f"无法识别楼层“{text[:20]}…”，请填写如 3、3层、-1 或 地下一层。")
    folded = _fold(text).replace(" ", "").lower()
    underground = _FLOOR_UNDERGROUND.match(folded)
    if underground:
        depth = _floor_number(underground.group(2))
        if depth is not None and depth > 0:
            return -depth
    else:
        above = _FLOOR_ABOVE.match(folded)
        if above:
            level = _floor_number(above.group(1))
            if level is not None:
                return level
    raise CellError(f"无法识别楼层“{text}”，请填写如 3、3层、-1 或 地下一层。")


def _floor_number(text: str) -> int | None:
    if re.fullmatch(r"\d{1,3}", text):
        return int(text)
    return chinese_number(text)


# --- Booleans --------------------------------------------------------------------------------------------------
_TRUE = {"是", "有", "对", "启用", "在用", "y", "yes", "true", "t", "1", "√", "✓", "✔", "☑"}
_FALSE = {"否", "无", "不", "错", "停用", "禁用", "n", "no", "false", "f", "0", "×", "✗", "✘", "x", "☐"}


def parse_bool(value) -> bool | None:
    """Yes/no as schools write it: 是/否, 有/无, Y/N, 1/0, √/×, TRUE/FALSE."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = cell_text(value)
    if not text:
        return None
    key = _fold(text).strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise CellError(f"“{text}”应填写 是 或 否（也可填 Y/N、1/0、√/×）。")


# --- Dates -----------------------------------------------------------------------------------------------------
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ t]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})[日号]?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
# A month without a day (registers often say 2019.9 or 2019年9月): the 1st of that month.
_MONTH_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月份?$"),
    re.compile(r"^(\d{4})(\d{2})$"),
)
_YEAR_MIN, _YEAR_MAX = 1900, 2100  # a number in this range is a year (2019) or a year.month (2019.9), not a serial


def excel_serial_to_date(serial: float) -> datetime.date:
    if not 1 <= serial <= _EXCEL_MAX_SERIAL:
        raise CellError(f"“{cell_text(serial)}”不是有效的日期。")
    return _EXCEL_EPOCH + datetime.timedelta(days=int(serial))


def _month_date(text: str, year: int, month: int) -> datetime.date:
    if not 1 <= month <= 12:
        raise CellError(f"“{text}”不是有效的日期（没有 {month} 月）。")
    return datetime.date(year, month, 1)


def _number_date(value: int | float) -> datetime.date:
    """A number cell: an Excel serial, or a year (2019) or year.month (2019.9, 2019.12) typed as a number."""
    if _YEAR_MIN <= value < _YEAR_MAX + 1:
        text = repr(float(value))
        year, _, fraction = text.partition(".")
        if fraction in ("", "0"):
            return datetime.date(int(year), 1, 1)
        if len(fraction) > 2:
            raise CellError(f"“{cell_text(value)}”不是有效的日期，请填写如 2019-09-01 或 2019年9月。")
        return _month_date(cell_text(value), int(year), int(fraction))
    return excel_serial_to_date(value)


def parse_date(value) -> datetime.date | None:
    """A date: 2019-09-01, 2019/9/1, 2019.09.01, 2019年9月1日, 20190901, an Excel date cell or serial number.

    A month without a day (2019.9, 2019-09, 2019年9月, 201909, or 2019.9 typed as a number) is the 1st of that
    month; a year alone (2019) is 1 January. Excel turns a typed 2019.10 into the number 2019.1: it reads as
    January, which is why the template asks for dates like 2019-10-01."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, bool):
        raise CellError("应填写日期，如 2019-09-01。")
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise CellError("应填写日期，如 2019-09-01。")
        return _number_date(value)
    text = cell_text(value)
    if not text:
        return None
    if len(text) > 40:
        raise CellError(f"无法识别日期“{text[:20]}…”，请填写如 2019-09-01 或 2019年9月1日。")
    folded = _fold(text).strip().lower()
    folded = re.sub(r"\s*([年月日号])\s*", r"\1", folded)
    if re.fullmatch(r"\d{5}(\.\d+)?", folded):  # a serial number that arrived as text (e.g. from .csv)
        return excel_serial_to_date(float(folded))
    for pattern in _DATE_PATTERNS:
        match = pattern.match(folded)
        if match:
            year, month, day = (int(g) for g in match.groups())
            try:
                return datetime.date(year, month, day)
            except ValueError:
                raise CellError(f"“{text}”不是有效的日期（{year} 年没有这一天）。") from None
    for pattern in _MONTH_PATTERNS:
        match = pattern.match(folded)
        if match and _YEAR_MIN <= int(match.group(1)) <= _YEAR_MAX:
            return _month_date(text, int(match.group(1)), int(match.group(2)))
    if re.fullmatch(r"\d{4}年?", folded) and _YEAR_MIN <= int(folded[:4]) <= _YEAR_MAX:
        return datetime.date(int(folded[:4]), 1, 1)
    raise CellError(f"无法识别日期“{text}”，请填写如 2019-09-01 或 2019年9月1日。")


# --- Choices ---------------------------------------------------------------------------------------------------
def choice_parser(choices: Iterable[tuple[str, str]], synonyms: dict[str, str] | None = None,
                  what: str = "类型") -> Parser:
    """A parser for a ``TextChoices`` field: accepts the Chinese label, the stored value and any synonym
    (``{"厕所": "toilet"}``); the error lists the labels that are allowed."""
    choices = list(choices)
    lookup: dict[str, str] = {}
    for value, label in choices:
        lookup[_choice_key(str(value))] = value
        lookup[_choice_key(str(label))] = value
    for word, value in (synonyms or {}).items():
        lookup.setdefault(_choice_key(word), value)
    allowed = "、".join(str(label) for _, label in choices)
    known: dict = {}  # a cell's text → its choice (registers repeat a handful of words thousands of times)

    def parse(value) -> str | None:
        if value.__class__ is str:
            found = known.get(value)
            if found is not None:
                return found
        text = cell_text(value)
        if not text:
            return None
        found = lookup.get(_choice_key(text))
        if found is None:
            raise CellError(f"“{text}”不是可选的{what}，可选：{allowed}。")
        if value.__class__ is str and len(known) < 1_000:
            known[value] = found
        return found

    parse.__name__ = "parse_choice"
    return parse


def _choice_key(text: str) -> str:
    return _fold(text).replace(" ", "").lower()


# --- Model field checks ------------------------------------------------------------------------------------------
def quick_check(model_field) -> Callable[[object], bool] | None:
    """A quick test that a parsed value passes ``model_field.clean(value, instance)`` and would come back from it
    unchanged, for the plain field types (text, integers, decimals, dates, booleans) that do not override how
    Django cleans them: the value already has the field's Python type (so ``to_python`` keeps it), is one of the
    choices, and passes every validator (a length limit compared directly). False means "not sure": the caller then
    runs ``model_field.clean``, which gives the message. None: no quick test for this field. The test's ``cheap``
    tells whether it runs no validator function (only comparisons): then it costs less than remembering its
    outcome."""
    from django.core import validators as v
    from django.db import models

    kind = type(model_field)
    accepted = None
    for base, classes in ((models.CharField, (str,)), (models.TextField, (str,)),
                          (models.IntegerField, (int,)), (models.DecimalField, (Decimal,)),
                          (models.DateField, (datetime.date,)), (models.BooleanField, (bool,))):
        if isinstance(model_field, base) and kind.to_python is base.to_python:
            accepted = frozenset(classes)
            break
    if accepted is None or not (kind.clean is models.Field.clean and kind.validate is models.Field.validate
                                and kind.run_validators is models.Field.run_validators):
        return None
    choices = None
    if model_field.choices is not None and model_field.editable:
        choices = frozenset(key for key, _ in model_field.flatchoices)
    max_length = None
    others = []
    for validator in model_field.validators:
        if type(validator) is v.MaxLengthValidator and not callable(validator.limit_value):
            max_length = validator.limit_value if max_length is None else min(max_length, validator.limit_value)
        elif type(validator) is v.ProhibitNullCharactersValidator:
            others.append(_no_null_character)
        else:
            others.append(validator)

    def check(value) -> bool:
        if value.__class__ not in accepted:
            return False
        if max_length is not None and len(value) > max_length:
            return False
        if choices is not None and value not in choices:
            return False
        try:
            for validator in others:
                validator(value)
        except (ValidationError, TypeError, ValueError, ArithmeticError):
            return False
        return True

    check.cheap = not others
    return check


def _no_null_character(value) -> None:
    if "\x00" in str(value):
        raise ValidationError("null character")
