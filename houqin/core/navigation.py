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


_MENU_HTML: dict[tuple, str] = {}


def menu_html(user, view_name: str | None) -> str:
    """The side menu's items as HTML. The same for everyone with the same permissions (only the current page's
    entry is marked), so it is written once per permission set and page per process, not on every request."""
    perms = access_for(user).all_perms
    key = (user.is_superuser, perms, view_name)
    html = _MENU_HTML.get(key)
    if html is None:
        html = _render_menu(menu_for(user), view_name)
        if len(_MENU_HTML) > 5000:
            _MENU_HTML.clear()
        _MENU_HTML[key] = html
    return html


def _render_menu(groups: list[MenuGroup], view_name: str | None) -> str:
    from django.urls import reverse
    from django.utils.html import format_html, format_html_join

    parts = []
    for g in groups:
        if g.key == "home":
            continue
        items = format_html_join(
            "", '<a class="dropdown-item{}" href="{}"><i class="{} me-2"></i>{}</a>',
            ((" active" if item.url_name == view_name else "", reverse(item.url_name), item.icon, item.label)
             for item in g.items))
        parts.append(format_html(
            '<li class="nav-item dropdown"><a class="nav-link dropdown-toggle" href="#nav-{}" data-bs-toggle="dropdown"'
            ' data-bs-auto-close="false" role="button" aria-expanded="true"><span class="nav-link-icon">'
            '<i class="{}"></i></span><span class="nav-link-title">{}</span></a>'
            '<div class="dropdown-menu show">{}</div></li>', g.key, g.icon, g.label, items))
    return "".join(parts)


group("home", "工作台", "ti ti-home", 0)
group("approvals", "审批", "ti ti-checklist", 5)
group("places", "场所与组织", "ti ti-building", 90)
group("system", "系统管理", "ti ti-settings", 100)
add_item("approvals", MenuItem("待我审批", "approvals:inbox", None, "ti ti-inbox"))
add_item("approvals", MenuItem("我的申请", "approvals:mine", None, "ti ti-file-text"))
add_item("approvals", MenuItem("新建通用申请", "approvals:general_add", "core.view_room", "ti ti-file-plus"))
add_item("system", MenuItem("审批设置", "approvals:policy_list", "core.view_approvalpolicy", "ti ti-adjustments"))
