"""Per-school settings of the assets app, kept in ``Organization.settings`` (a JSON object):

    {"assets": {"capitalisation_threshold": "1000", "depreciation_start": "same_month", "category_edition": "2010",
                "scan_requires_login": true}}

A flat key (``"assets.capitalisation_threshold"``) is read too. Every value has a default, so a school that never
opened its settings gets the rules of RULES.md. The settings page (``/assets/settings/``, houqin.assets.scan_views)
and the API (``/api/assets/settings/``) write the section through ``save_settings``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# 《事业单位财务规则》第四十一条: useful life over one year and unit value of 1,000 yuan or more; large batches of
# like items below that value but lasting over a year are managed as fixed assets too (the "批量同类" flag).
DEFAULT_CAPITALISATION_THRESHOLD = Decimal("1000")
CAPITALISATION_BASIS = ("依据：《事业单位财务规则》第四十一条（使用期限超过一年、单位价值在 1,000 元以上；"
                        "单位价值虽未达到标准但耐用时间在一年以上的大批同类物资，作为固定资产管理）")

# "same_month": 当月增加的固定资产当月开始计提折旧 (government accounting, the default; see depreciation.py).
# "next_month": from the month after acquisition (enterprise practice, for schools whose books follow it).
DEPRECIATION_STARTS = ("same_month", "next_month")
DEFAULT_DEPRECIATION_START = "same_month"

DEFAULT_CATEGORY_EDITION = "2010"

# Scanning a label opens the card's phone page; by default only for signed-in members of the school.
DEFAULT_SCAN_REQUIRES_LOGIN = True

SETTING_KEYS = ("capitalisation_threshold", "depreciation_start", "category_edition", "scan_requires_login")


def asset_setting(org, key: str, default=None):
    settings = getattr(org, "settings", None) or {}
    section = settings.get("assets")
    if isinstance(section, dict) and key in section:
        return section[key]
    return settings.get(f"assets.{key}", default)


def capitalisation_threshold(org) -> Decimal:
    raw = asset_setting(org, "capitalisation_threshold")
    if raw in (None, ""):
        return DEFAULT_CAPITALISATION_THRESHOLD
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return DEFAULT_CAPITALISATION_THRESHOLD
    return value if value >= 0 else DEFAULT_CAPITALISATION_THRESHOLD


def depreciation_start_offset(org) -> int:
    """0 when depreciation starts in the month of acquisition, 1 when it starts the month after."""
    return 1 if asset_setting(org, "depreciation_start") == "next_month" else 0


def category_edition(org) -> str:
    return str(asset_setting(org, "category_edition") or DEFAULT_CATEGORY_EDITION)


def scan_requires_login(org) -> bool:
    """Whether scanning a label needs a signed-in member of the school (the default). When False, anyone with the
    QR code sees the card's name, number and location and the public actions (e.g. 报修) without signing in."""
    raw = asset_setting(org, "scan_requires_login")
    if raw in (None, ""):
        return DEFAULT_SCAN_REQUIRES_LOGIN
    if isinstance(raw, str):
        return raw.strip().lower() not in ("0", "false", "no", "off")
    return bool(raw)


def current_settings(org) -> dict:
    """The school's effective settings (defaults filled in), as stored: strings, booleans."""
    return {
        "capitalisation_threshold": str(capitalisation_threshold(org)),
        "depreciation_start": "next_month" if depreciation_start_offset(org) else "same_month",
        "category_edition": category_edition(org),
        "scan_requires_login": scan_requires_login(org),
    }


def save_settings(org, values: dict):
    """Write ``values`` (validated: keys of ``current_settings``) into ``org.settings["assets"]`` and return the
    organisation as saved.

    The row is re-read under a lock, so a concurrent change of another app's section is not lost, and saved
    through the model: the change log records who changed what (before/after) on the organisation."""
    from django.db import transaction

    from houqin.core.models import Organization

    unknown = set(values) - set(SETTING_KEYS)
    if unknown:
        raise ValueError(f"unknown assets settings: {sorted(unknown)}")
    with transaction.atomic():
        locked = Organization.objects.select_for_update().get(pk=org.pk)
        stored = dict(locked.settings or {})
        section = dict(stored.get("assets") or {}) if isinstance(stored.get("assets"), dict) else {}
        for key, value in values.items():
            section[key] = str(value) if key == "capitalisation_threshold" else value
            stored.pop(f"assets.{key}", None)  # the flat spelling would be shadowed anyway: keep one truth
        stored["assets"] = section
        if stored != locked.settings:
            locked.settings = stored
            locked.save(update_fields=["settings", "updated_at"])
    org.settings = locked.settings
    return locked
