"""Choices of the assets app. Statuses and event codes are TextChoices: their values are stored and appear in the
API, so a value never changes once released; labels may."""

from django.db import models


class AssetStatus(models.TextChoices):
    """Where a card stands in its life cycle. Never edited in a form or PATCHed: only commands (services.py) move
    a card from one status to another, each writing an AssetEvent."""

    IN_USE = "in_use", "在用"
    IDLE = "idle", "闲置"
    LENT = "lent", "借出"
    REPAIRING = "repairing", "维修中"
    PENDING_DISPOSAL = "pending_disposal", "待处置"
    DISPOSED = "disposed", "已处置"
    LOST = "lost", "丢失"


# A card in one of these statuses is no longer on the books (账面): not counted, not depreciated.
OFF_BOOK_STATUSES = (AssetStatus.DISPOSED,)


class AcquisitionMethod(models.TextChoices):
    PURCHASE = "purchase", "购置"
    ALLOCATION = "allocation", "调拨"
    DONATION = "donation", "捐赠"
    SELF_BUILT = "self_built", "自建"
    OTHER = "other", "其他"


class AssetClass(models.TextChoices):
    """Capitalised (固定资产) or not (低值易耗品), decided when the card is registered (see Asset.classify)."""

    FIXED = "fixed", "固定资产"
    LOW_VALUE = "low_value", "低值易耗品"


class CategoryValueClass(models.TextChoices):
    """How a category's cards are classified: by the school's capitalisation threshold, or always one way."""

    THRESHOLD = "threshold", "按单价起点判断"
    FIXED = "fixed", "一律为固定资产"
    LOW_VALUE = "low_value", "一律为低值易耗品"


class BuildingStructure(models.TextChoices):
    """Structure of a building: its minimum useful life differs (《政府会计准则第3号——固定资产》应用指南 表1)."""

    STEEL = "steel", "钢结构"
    CONCRETE = "concrete", "钢筋混凝土结构"
    BRICK_CONCRETE = "brick_concrete", "砖混结构"
    BRICK_WOOD = "brick_wood", "砖木结构"
    SIMPLE = "simple", "简易房"


STRUCTURE_MIN_LIFE = {
    BuildingStructure.STEEL: 50,
    BuildingStructure.CONCRETE: 50,
    BuildingStructure.BRICK_CONCRETE: 30,
    BuildingStructure.BRICK_WOOD: 30,
    BuildingStructure.SIMPLE: 8,
}


class AssetEventCode(models.TextChoices):
    """What happened to a card. ``register`` is written by services.register_asset; the other codes are for the
    life-cycle commands (assign, transfer, lend/return, repair, damage, dispose, count …)."""

    REGISTER = "register", "登记入账"
    ASSIGN = "assign", "领用"
    RETURN_TO_STORE = "return_to_store", "退库"
    TRANSFER = "transfer", "调拨"
    LEND = "lend", "借出"
    RETURN = "return", "归还"
    REPAIR = "repair", "送修"
    REPAIRED = "repaired", "修复"
    DAMAGE = "damage", "损坏"
    IDLE = "idle", "转为闲置"
    REUSE = "reuse", "恢复在用"
    DISPOSAL_REQUEST = "disposal_request", "申请处置"
    DISPOSE = "dispose", "处置"
    LOSE = "lose", "丢失"
    FOUND = "found", "找回"
    COUNT = "count", "盘点"
    ADJUST = "adjust", "调整"
    REVERSE = "reverse", "冲销"
