"""Per-school settings of the repairs app, kept in ``Organization.settings`` (a JSON object)::

    {"repairs": {"report_requires_login": true, "work_start": "07:30", "work_end": "17:30",
                 "workdays": [1, 2, 3, 4, 5], "holidays": ["2026-10-01", "2026-10-02"], "extra_workdays": [],
                 "sla_counts_off_hours": false, "same_day_cutoff": "15:30", "escalate_after_minutes": 240,
                 "labour_rate": "50", "reports_per_hour": 5, "visit_within_hours": 24,
                 "technicians_self_assign": true, "completion_photo_required": true}}

A flat key (``"repairs.report_requires_login"``) is read as well. Every value has a default, so a school that never
opened its settings gets sensible behaviour; a malformed value falls back to its default (never a 500).
"""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation

DEFAULTS = {
    "report_requires_login": True,
    "work_start": "07:30",
    "work_end": "17:30",
    "workdays": [1, 2, 3, 4, 5],  # ISO weekdays: Monday = 1
    "holidays": [],  # statutory holidays (国务院办公厅放假安排): "YYYY-MM-DD"
    "extra_workdays": [],  # weekend days worked in exchange (调休补班)
    "sla_counts_off_hours": False,  # True: nights, weekends and holidays count towards every time limit
    "same_day_cutoff": "15:30",  # a report after this time counts from the next working day for "day" limits
    "escalate_after_minutes": 240,  # working minutes after a missed deadline before the principal is told
    "labour_rate": "50",  # 元 per hour of labour (工时费) in a work order's cost
    "reports_per_hour": 5,  # reports without signing in, per IP address and per phone number
    "visit_within_hours": 24,  # the office calls back (回访) within this time after completion
    "technicians_self_assign": True,  # technicians may take unassigned orders of their trade themselves
    "completion_photo_required": True,  # a technician completing an order must attach a photo
}


def setting(org, key: str):
    settings = getattr(org, "settings", None) or {}
    section = settings.get("repairs")
    if isinstance(section, dict) and key in section:
        return section[key]
    return settings.get(f"repairs.{key}", DEFAULTS[key])


def _bool(org, key: str) -> bool:
    value = setting(org, key)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "是")
    return bool(value) if value is not None else DEFAULTS[key]


def _int(org, key: str, low: int = 0, high: int = 10**6) -> int:
    try:
        value = int(setting(org, key))
    except (TypeError, ValueError):
        return DEFAULTS[key]
    return value if low <= value <= high else DEFAULTS[key]


def _time(org, key: str) -> datetime.time:
    try:
        return datetime.time.fromisoformat(str(setting(org, key)))
    except ValueError:
        return datetime.time.fromisoformat(DEFAULTS[key])


def _dates(org, key: str) -> frozenset[datetime.date]:
    days = set()
    raw = setting(org, key)
    for value in raw if isinstance(raw, list | tuple) else []:
        try:
            days.add(datetime.date.fromisoformat(str(value)))
        except ValueError:
            continue
    return frozenset(days)


def report_requires_login(org) -> bool:
    return _bool(org, "report_requires_login")


def working_hours(org) -> tuple[datetime.time, datetime.time]:
    start, end = _time(org, "work_start"), _time(org, "work_end")
    if end <= start:
        start, end = (datetime.time.fromisoformat(DEFAULTS["work_start"]),
                      datetime.time.fromisoformat(DEFAULTS["work_end"]))
    return start, end


def workdays(org) -> frozenset[int]:
    raw = setting(org, "workdays")
    try:
        days = frozenset(int(d) for d in raw)
    except (TypeError, ValueError):
        return frozenset(DEFAULTS["workdays"])
    days = frozenset(d for d in days if 1 <= d <= 7)
    return days or frozenset(DEFAULTS["workdays"])


def holidays(org) -> frozenset[datetime.date]:
    return _dates(org, "holidays")


def extra_workdays(org) -> frozenset[datetime.date]:
    return _dates(org, "extra_workdays")


def counts_off_hours(org) -> bool:
    return _bool(org, "sla_counts_off_hours")


def same_day_cutoff(org) -> datetime.time:
    return _time(org, "same_day_cutoff")


def escalate_after_minutes(org) -> int:
    return _int(org, "escalate_after_minutes", 0, 60 * 24 * 30)


def labour_rate(org) -> Decimal:
    try:
        value = Decimal(str(setting(org, "labour_rate")))
    except (InvalidOperation, ValueError):
        return Decimal(DEFAULTS["labour_rate"])
    return value.quantize(Decimal("0.01")) if value.is_finite() and value >= 0 else Decimal(DEFAULTS["labour_rate"])


def reports_per_hour(org) -> int:
    return _int(org, "reports_per_hour", 1, 1000)


def visit_within_hours(org) -> int:
    return _int(org, "visit_within_hours", 1, 24 * 30)


def technicians_self_assign(org) -> bool:
    return _bool(org, "technicians_self_assign")


def completion_photo_required(org) -> bool:
    return _bool(org, "completion_photo_required")


def current_settings(org) -> dict:
    """The school's values in force (its own or the defaults), in the form stored."""
    start, end = working_hours(org)
    return {
        "report_requires_login": report_requires_login(org), "work_start": start.strftime("%H:%M"),
        "work_end": end.strftime("%H:%M"), "workdays": sorted(workdays(org)),
        "holidays": sorted(d.isoformat() for d in holidays(org)),
        "extra_workdays": sorted(d.isoformat() for d in extra_workdays(org)),
        "sla_counts_off_hours": counts_off_hours(org), "same_day_cutoff": same_day_cutoff(org).strftime("%H:%M"),
        "escalate_after_minutes": escalate_after_minutes(org), "labour_rate": str(labour_rate(org)),
        "reports_per_hour": reports_per_hour(org), "visit_within_hours": visit_within_hours(org),
        "technicians_self_assign": technicians_self_assign(org),
        "completion_photo_required": completion_photo_required(org),
    }


def save_settings(org, values: dict) -> None:
    """Store ``values`` (keys of DEFAULTS) as the school's ``settings["repairs"]``, dropping the flat keys; the
    change goes to the organisation's change log."""
    unknown = set(values) - set(DEFAULTS)
    if unknown:
        raise KeyError(f"unknown repairs settings: {sorted(unknown)}")
    settings = dict(org.settings or {})
    for key in DEFAULTS:
        settings.pop(f"repairs.{key}", None)
    section = dict(settings.get("repairs") or {}) if isinstance(settings.get("repairs"), dict) else {}
    section.update(values)
    settings["repairs"] = section
    org.settings = settings
    org.save(update_fields=["settings", "updated_at"])
