"""Template helpers of the assets app: a card's depreciation, panels and commands on its page."""

from django import template
from django.template.defaulttags import CsrfTokenNode

from houqin.core.tables import plain

register = template.Library()


@register.simple_tag
def asset_depreciation(asset):
    return asset.depreciation()


@register.simple_tag
def asset_card_facts(asset):
    """Which panels of the card's page have anything to show (houqin.assets.panels.card_facts): one query."""
    from houqin.assets.panels import card_facts

    return card_facts(asset.pk)


@register.simple_tag
def asset_stocktake(asset, counted=True):
    """The card's latest counts (asked only when ``counted``: it has been counted at all), and the plans being
    counted that still wait for it (asked only when its school is counting)."""
    from houqin.assets.stocktake_views import counting_schools

    lines = asset.stocktake_lines
    return {"counts": lines.recent_counts() if counted else [],
            "awaiting": lines.awaiting() if asset.org_id in counting_schools() else []}


@register.simple_tag(takes_context=True)
def asset_actions(context, asset, where="card"):
    """The registered actions (houqin.assets.actions) the signed-in user may start on ``asset``."""
    from houqin.assets.actions import actions_for

    return actions_for(asset, context["request"].user, where)


@register.simple_tag(takes_context=True)
def asset_action_menu(context, asset):
    """The card page's commands as HTML: the everyday ones as buttons, the rest (printing, 登记丢失, 申请处置)
    under 更多 (houqin.assets.actions.split and card_commands_html)."""
    from houqin.assets.actions import actions_for, card_commands_html, split

    buttons, menu = split(actions_for(asset, context["request"].user, "card"))
    return card_commands_html(buttons, menu, CsrfTokenNode().render(context) if buttons or menu else "")


@register.filter
def money(value) -> str:
    return plain(value) or "0.00"
