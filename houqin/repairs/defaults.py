"""The default repair categories and time limits a school starts with (editable afterwards).

``ensure_defaults(org)`` creates them once per school (when the school has no category yet, and no general time
limit yet); it is called where they are needed first (reporting, the category and time-limit pages, the demo).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from houqin.repairs.models import RepairCategory, SLARule, Trade, Urgency

# (name, trade, what belongs to it)
DEFAULT_CATEGORIES = (
    ("水电", Trade.PLUMBING_ELECTRIC, "水管、水龙头、下水道、电灯、开关、插座、电闸"),
    ("门窗", Trade.CARPENTRY, "门、窗、锁、玻璃、纱窗、窗帘"),
    ("桌椅", Trade.CARPENTRY, "课桌椅、讲台、柜子、床铺"),
    ("电器", Trade.APPLIANCE, "空调、电扇、饮水机、消毒柜、厨房电器"),
    ("网络多媒体", Trade.NETWORK, "一体机、投影、音响、广播、网络、电脑"),
    ("土建", Trade.CIVIL, "墙面、地面、屋顶漏水、台阶、围墙"),
    ("其他", Trade.GENERAL, "以上都不是"),
)
OTHER = "其他"

# 小修不过夜（当天完工）、大修不过三天 (school practice); minutes are working minutes unless ``all_hours``.
SLA_BASIS = "依据：学校后勤维修惯例“小修不过夜、大修不过三天”；特急（安全隐患）全天候计时"
DEFAULT_RULES = {
    Urgency.NORMAL: {"accept_minutes": 120, "start_minutes": 240, "finish_minutes": None, "finish_days": 0,
                     "major_finish_days": 3, "all_hours": False},
    Urgency.URGENT: {"accept_minutes": 30, "start_minutes": 60, "finish_minutes": None, "finish_days": 0,
                     "major_finish_days": 3, "all_hours": False},
    Urgency.CRITICAL: {"accept_minutes": 15, "start_minutes": 30, "finish_minutes": 240, "finish_days": None,
                       "major_finish_days": 1, "all_hours": True},
}


def ensure_defaults(org) -> None:
    """Give a school the default categories and general time limits if it has none (idempotent)."""
    if org is None or getattr(org, "is_bureau", False):
        return
    need_categories = not RepairCategory.objects.filter(org=org).exists()
    need_rules = not SLARule.objects.filter(org=org, category__isnull=True).exists()
    if not (need_categories or need_rules):
        return  # the usual case: two cheap reads, no transaction
    try:
        with transaction.atomic():
            if need_categories:
                for order, (name, trade, description) in enumerate(DEFAULT_CATEGORIES, start=1):
                    RepairCategory.objects.create(org=org, name=name, trade=trade, sort_order=order * 10,
                                                  description=description)
            if need_rules:
                for urgency, values in DEFAULT_RULES.items():
                    SLARule.objects.create(org=org, category=None, urgency=urgency, note=SLA_BASIS[:200], **values)
    except IntegrityError:
        pass  # created concurrently by another request: nothing left to do


def default_category(org) -> RepairCategory:
    """The school's 其他 category (created with the defaults if needed), or its first active one."""
    ensure_defaults(org)
    category = RepairCategory.objects.filter(org=org, name=OTHER, is_active=True).first()
    return category or RepairCategory.objects.filter(org=org, is_active=True).order_by("sort_order", "pk").first()
