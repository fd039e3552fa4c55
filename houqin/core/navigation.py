"""The side menu, grouped by domain, built from the registered model UIs and extra links."""

from __future__ import annotations

from dataclasses import dataclass, field

from houqin.core.auth import access_for


@dataclass
class MenuItem:
    label: str
    url_name: str
    perm: str | None  # None: every signed-in user
    icon: str = ""


@dataclass
class MenuGroup:
    key: str
    label: str
    icon: str
    order: int
    items: list[MenuItem] = field(default_factory=list)


GROUPS: dict[str, MenuGroup] = {}


def group(key: str, label: str, icon: str, order: int) -> MenuGroup:
    return GROUPS.setdefault(key, MenuGroup(key, label, icon, order))


def add_item(group_key: str, item: MenuItem) -> None:
    GROUPS[group_key].items.append(item)


def menu_for(user) -> list[MenuGroup]:
    perms = access_for(user).all_perms
    result = []
    for g in sorted(GROUPS.values(), key=lambda g: g.order):
        items = [i for i in g.items if i.perm is None or user.is_superuser or i.perm in perms]
        if items:
            result.append(MenuGroup(g.key, g.label, g.icon, g.order, items))
    return result


group("home", "工作台", "ti ti-home", 0)
group("approvals", "审批", "ti ti-checklist", 5)
group("places", "场所与组织", "ti ti-building", 90)
group("system", "系统管理", "ti ti-settings", 100)
add_item("approvals", MenuItem("待我审批", "approvals:inbox", None, "ti ti-inbox"))
add_item("approvals", MenuItem("我的申请", "approvals:mine", None, "ti ti-file-text"))
add_item("approvals", MenuItem("新建通用申请", "approvals:general_add", "core.view_room", "ti ti-file-plus"))
add_item("system", MenuItem("审批设置", "approvals:policy_list", "core.view_approvalpolicy", "ti ti-adjustments"))
