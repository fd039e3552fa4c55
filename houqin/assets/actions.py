"""What can be done to an asset card, as buttons: one registry for the card's page and the phone page behind its QR.

Each part of the app (custody, disposal, stocktaking, repairs…) registers its commands once::

    actions.register(AssetAction("lend", "借出", "ti ti-arrow-up-right", url=lambda asset: reverse(...),
                                 available=lambda asset, user: asset.status == AssetStatus.IN_USE and ...))

``actions_for(asset, user, where="card" | "mobile" | "public")`` returns the actions whose ``available(asset, user)``
holds, in ``order``. ``available`` must be cheap (no query per call where avoidable): the card page calls it for every
registered action. The action's view re-checks everything: a button is a convenience, not a permission.

Where the buttons show:

* ``card`` — the card's page (``/assets/assets/<id>/``);
* ``mobile`` — the phone page behind the QR code, for a visitor who may view the card;
* ``public`` — the same page for a visitor who may *not* view the card: anonymous (when the school lets anyone
  scan, ``assets.scan_requires_login`` false), or a signed-in member of the school without the card's view right
  (a teacher reporting a fault). Never part of the default ``where``: an action opts in with
  ``where=("card", "mobile", "public")``, and its ``available`` must then accept an anonymous user
  (``user.is_authenticated`` False) and a user of another school. The repairs app's ``repair`` (报修) is the one
  meant for it; until it is registered, the page simply shows no such button.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils.html import escapejs, format_html, format_html_join
from django.utils.safestring import mark_safe

# Order bands (``order``): the everyday commands first, the rarely used and destructive ones last.
#   10–19 the card's main next step (领用, 恢复在用, 找回, 维修结束)   20–29 借出/归还, 盘点   30 调拨
#   40 登记损坏   50–59 退库入库, 转为闲置（原地存放）   900+ printing   950+ destructive (登记丢失, 申请处置)
# On the card's page the first VISIBLE actions below MENU_FROM are buttons, the others go under 更多.
VISIBLE = 5
MENU_FROM = 900
DESTRUCTIVE_FROM = 950
WHERES = ("card", "mobile")  # the default of AssetAction.where
PUBLIC = "public"  # opt-in only: shown to visitors who may not view the card (see above)
ALL_WHERES = (*WHERES, PUBLIC)


@dataclass(frozen=True)
class AssetAction:
    key: str
    label: str
    icon: str
    url: Callable  # url(asset) -> str
    available: Callable  # available(asset, user) -> bool
    order: int = 100
    style: str = "secondary"  # Tabler button colour: primary, secondary, warning, danger, success…
    where: tuple[str, ...] = WHERES
    method: str = "get"  # "get": a link to a form page; "post": a button posting to ``url`` (with CSRF)
    confirm: str = ""  # a question asked before a "post" action
    hint: str = ""  # a short explanation shown under the button on phones
    extra: dict = field(default_factory=dict)


_REGISTRY: dict[str, AssetAction] = {}
_ORDERED: list[AssetAction] | None = None  # registered() in order, until the registry changes


def register(action: AssetAction) -> AssetAction:
    """Register (or replace, by key) an action. Returns it, so it can be used as a module-level constant."""
    global _ORDERED
    _REGISTRY[action.key] = action
    _ORDERED = None
    return action


def unregister(key: str) -> None:
    global _ORDERED
    _REGISTRY.pop(key, None)
    _ORDERED = None


def registered() -> list[AssetAction]:
    global _ORDERED
    if _ORDERED is None:
        _ORDERED = sorted(_REGISTRY.values(), key=lambda a: (a.order, a.key))
    return list(_ORDERED)


def split(items: list[dict], visible: int = VISIBLE) -> tuple[list[dict], list[dict]]:
    """(buttons, 更多 menu) for the card's page: at most ``visible`` everyday actions as buttons; the rest, printing
    and the destructive ones in the menu. When only one would go to the menu it stays a button."""
    main = [i for i in items if i["action"].order < MENU_FROM]
    buttons, menu = main[:visible], main[visible:] + [i for i in items if i["action"].order >= MENU_FROM]
    if len(menu) == 1:
        buttons, menu = buttons + menu, []
    danger = [i for i in menu if i["action"].order >= DESTRUCTIVE_FROM]
    if danger and danger[0] is not menu[0]:
        danger[0] = {**danger[0], "divider": True}
        menu = [i for i in menu if i["action"].order < DESTRUCTIVE_FROM] + danger
    return buttons, menu


def _command(item: dict, csrf_input: str, in_menu: bool) -> str:
    """One command as HTML: a link to its form page, or a button posting to ``url`` (with the CSRF field)."""
    a = item["action"]
    if in_menu:
        css = "dropdown-item" + (" text-danger" if "danger" in a.style else "")
        icon = format_html('<i class="{} me-2"></i>', a.icon)
    else:
        css = f"btn btn-{a.style} btn-lg-touch"
        icon = format_html('<i class="{} me-1"></i>', a.icon)
    title = format_html(' title="{}"', a.hint) if a.hint and not (in_menu and a.method == "post") else ""
    if a.method == "post":
        confirm = format_html(" onsubmit=\"return confirm('{}')\"", escapejs(a.confirm)) if a.confirm else ""
        return format_html('<form method="post" action="{}"{}{}>{}<button type="submit" class="{}" '
                           'data-testid="action-{}"{}>{}{}</button></form>',
                           item["url"], "" if in_menu else mark_safe(' class="d-inline"'), confirm,
                           csrf_input, css, a.key, title, icon, a.label)
    return format_html('<a class="{}" href="{}" data-testid="action-{}"{}>{}{}</a>',
                       css, item["url"], a.key, title, icon, a.label)


def card_commands_html(buttons: list[dict], menu: list[dict], csrf_input: str) -> str:
    """The card page's commands (``split``): the buttons, then 更多 with the menu, a divider before the destructive
    ones. Built here rather than in a template: it is on every card page, and this costs a tenth of the template."""
    html = [_command(item, csrf_input, False) for item in buttons]
    if menu:
        html.append(mark_safe(
            '<div class="dropdown d-inline-block" data-testid="action-more"><button type="button" '
            'class="btn btn-outline-secondary btn-lg-touch dropdown-toggle" data-bs-toggle="dropdown" '
            'aria-expanded="false"><i class="ti ti-dots me-1"></i>更多</button>'
            '<div class="dropdown-menu dropdown-menu-end">'))
        for item in menu:
            if item.get("divider"):
                html.append(mark_safe('<div class="dropdown-divider"></div>'))
            html.append(_command(item, csrf_input, True))
        html.append(mark_safe("</div></div>"))
    return format_html_join("\n", "{}", ((part,) for part in html))


def actions_for(asset, user, where: str = "card") -> list[dict]:
    """The actions ``user`` may start on ``asset`` here, as dicts ready for a template (``action``, ``url``)."""
    result = []
    for action in registered():
        if where not in action.where:
            continue
        if not action.available(asset, user):
            continue
        result.append({"action": action, "url": action.url(asset)})
    return result
