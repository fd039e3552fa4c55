"""Import of an asset register (资产登记表 / 固定资产卡片) from Excel or CSV, on core's staged import.

Each row is a card. A row whose 资产编号 is already in the school updates that card; any other row registers a new
card (numbered ZC-年份-流水号 when the file has no number for it) through ``services.register_asset``, so imported
cards get the same checks, numbers and history as cards registered by hand.

* 数量 × 单价 must equal 金额 within 0.01 元, else the row is refused with both figures. A file with only 金额
  gets 单价 = 金额 ÷ 数量.
* 资产分类 is a code (2010100) or a name (计算机设备); 使用部门, 存放地点 and 使用人/保管人 must already exist in the
  school: an unknown one refuses the row with the reason (creating them on confirmation is not offered yet).
* On an existing card the file may change the descriptive fields (recorded in the change log) and its place,
  department and custodian (recorded as an 调整 event). Status, category, quantity, prices and acquisition are
  registration facts: a file that differs there is refused for that row; those changes go through the commands.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError

from houqin.assets import history, services
from houqin.assets.choices import AcquisitionMethod, AssetEventCode, AssetStatus
from houqin.assets.conf import category_edition
from houqin.assets.forms import AssetRegisterForm, room_choices, staff_choices
from houqin.assets.models import Asset, AssetCategory
from houqin.assets.numbering import reserve_numbers
from houqin.core.importing.base import Action, Importer, ParsedRow, Plan
from houqin.core.importing.mapping import ImportField
from houqin.core.importing.registry import register
from houqin.core.importing.values import choice_parser, integer_parser, parse_bool, parse_date, parse_money
from houqin.core.models import Department

CENT = Decimal("0.01")
METHOD_SYNONYMS = {
    **dict.fromkeys(("购入", "采购", "新购", "购买", "政府采购"), AcquisitionMethod.PURCHASE),
    **dict.fromkeys(("划拨", "调入", "无偿调入", "无偿划拨"), AcquisitionMethod.ALLOCATION),
    **dict.fromkeys(("受赠", "接受捐赠", "赠送"), AcquisitionMethod.DONATION),
    **dict.fromkeys(("自制", "自行建造", "建造", "基建"), AcquisitionMethod.SELF_BUILT),
}
STATUS_SYNONYMS = {
    **dict.fromkeys(("正常", "正常使用", "使用中", "在用"), AssetStatus.IN_USE),
    **dict.fromkeys(("未使用", "未用", "停用", "闲置"), AssetStatus.IDLE),
    **dict.fromkeys(("出借", "外借"), AssetStatus.LENT),
    **dict.fromkeys(("维修", "待修", "送修"), AssetStatus.REPAIRING),
    **dict.fromkeys(("待报废", "拟报废", "待处理"), AssetStatus.PENDING_DISPOSAL),
    **dict.fromkeys(("报废", "已报废"), AssetStatus.DISPOSED),
    **dict.fromkeys(("遗失", "丢失", "盘亏"), AssetStatus.LOST),
}
UNITS = ("台", "套", "件", "个", "张", "把", "册", "本", "只", "辆", "架", "组", "部", "块", "栋", "座", "间", "床",
         "支", "副", "面", "盏", "樘", "项", "批", "箱", "具", "株", "棵", "处")
# Registration facts: the file may not change them on an existing card.
FIXED_FACTS = ("category", "quantity", "unit_price", "acquired_on", "acquisition_method", "is_batch",
               "useful_life_years")
PLACE_FACTS = ("room", "department", "custodian")


def _key(text: str) -> str:
    return re.sub(r"\s+", "", str(text)).lower()


@register
class AssetImporter(Importer):
    key = "assets"
    title = "资产"
    model = Asset
    form_class = AssetRegisterForm
    key_fields = ("number",)
    list_url_name = "assets:asset_list"
    resolved_fields = ("category", "room", "department", "custodian")
    fields = (
        ImportField("number", "资产编号", ("编号", "资产代码", "卡片编号", "资产卡片编号", "财产编号", "资产编码"),
                    example="",
                    help="留空则导入时自动编号（ZC-年份-流水号）；再次导入时按资产编号找到已有卡片并更新。"),
        ImportField("name", "资产名称", ("名称", "品名", "财产名称", "设备名称", "物品名称"), required=True,
                    example="台式计算机"),
        ImportField("category", "资产分类", ("分类", "资产类别", "类别", "分类名称", "资产分类名称", "国标分类",
                                             "资产分类/分类代码", "资产分类(代码)"),
                    example="计算机设备", help="填写分类名称或分类代码，如“计算机设备”或 2010100（GB/T 14885）。"),
        ImportField("category_code", "分类代码", ("资产分类代码", "类别代码", "分类编码", "国标代码", "分类编号"),
                    example="2010100", help="与“资产分类”填一个即可；都填写时以分类代码为准。"),
        ImportField("model", "规格型号", ("规格", "型号", "规格及型号", "型号规格"), example="i5/16G/512G"),
        ImportField("brand", "品牌", ("厂牌", "生产厂家", "厂家"), example="联想"),
        ImportField("serial_no", "序列号", ("出厂编号", "设备序列号", "sn")),
        ImportField("quantity", "数量", ("数 量", "资产数量", "实有数量"),
                    parser=integer_parser(*UNITS, what="数量（整数）"), default=1, example=1,
                    help="整数；一张卡片可以是一批同类物品，如课桌椅 40 套。"),
        ImportField("unit", "单位", ("计量单位",), example="台"),
        ImportField("unit_price", "单价", ("单价(元)", "单位价值", "单价（元）"), parser=parse_money,
                    example="4980.00"),
        ImportField("amount", "金额", ("金额(元)", "原值", "原值(元)", "价值", "总价", "总金额", "账面原值", "资产原值",
                                       "金额（元）"),
                    parser=parse_money, example="4980.00", help="应等于 数量 × 单价（允许相差 0.01 元）。"),
        ImportField("acquired_on", "取得日期", ("购置日期", "购入日期", "购买日期", "取得时间", "购置时间", "购进日期"),
                    parser=parse_date, required=True, example="2024-09-01"),
        ImportField("acquisition_method", "取得方式", ("来源", "取得途径", "增加方式", "资产来源"),
                    parser=choice_parser(AcquisitionMethod.choices, METHOD_SYNONYMS, what="取得方式"),
                    choices=tuple(str(label) for _, label in AcquisitionMethod.choices),
                    default=AcquisitionMethod.PURCHASE, keep_when_empty=True, example="购置"),
        ImportField("department", "使用部门", ("部门", "使用单位", "所属部门", "使用科室"), example="总务处",
                    help="填写系统中已有的部门名称。"),
        ImportField("room", "存放地点", ("存放位置", "位置", "地点", "房间", "所在位置", "存放房间", "安放地点"),
                    example="南园 行政楼 101 总务处办公室",
                    help="填写系统中已有的房间：名称、房间号或“校区 楼栋 房间号”。"),
        ImportField("custodian", "使用人/保管人",
                    ("使用人", "保管人", "责任人", "领用人", "使用人或保管人", "保管人/使用人"),
                    example="", help="填写本校人员的姓名或账号。"),
        ImportField("status", "状态", ("使用状况", "使用状态", "资产状态", "现状"),
                    parser=choice_parser(AssetStatus.choices, STATUS_SYNONYMS, what="状态"),
                    choices=tuple(str(label) for v, label in AssetStatus.choices if v != AssetStatus.DISPOSED),
                    example="在用", help="新卡片的初始状态，默认“在用”；已有卡片的状态不能通过导入修改。"),
        ImportField("funding_source", "经费来源", ("资金来源", "经费", "经费渠道")),
        ImportField("supplier", "供应商", ("供货商", "销售商", "供货单位", "销售单位")),
        ImportField("invoice_no", "发票号", ("发票号码", "发票编号")),
        ImportField("voucher_no", "凭证号", ("记账凭证号", "会计凭证号", "凭证编号")),
        ImportField("useful_life_years", "使用年限", ("折旧年限", "使用年限(年)", "预计使用年限"),
                    parser=integer_parser("年", what="使用年限（整数年）"), help="留空则按资产分类的默认年限。"),
        ImportField("is_batch", "批量同类", ("是否批量", "大批同类"), parser=parse_bool,
                    help="是/否；留空则按资产分类（图书、学生课桌椅默认为是）。"),
        ImportField("note", "备注", ("说明", "备考", "remark")),
    )
    notes = (
        "6. 每一行是一张资产卡片，可以是一件物品，也可以是一批同类物品（如课桌椅 40 套，数量填 40）。",
        "7. 使用部门、存放地点、使用人必须是系统中已有的；没有的请先在“部门”“房间与区域”中添加或导入。",
        "8. 已入账卡片的分类、数量、单价、取得信息和状态不能通过导入修改，请使用相应的业务操作。",
    )

    # --- Lookups ----------------------------------------------------------------------------------------------
    def prepare(self, rows: list[ParsedRow]) -> None:
        super().prepare(rows)
        user, org = self.user, self.org
        edition = category_edition(org)
        categories = list(AssetCategory.objects.restrict(user, "view").for_org(org).filter(edition=edition,
                                                                                          is_active=True))
        self.categories_by_code = {c.code: c for c in categories}
        self.categories_by_name: dict[str, list[AssetCategory]] = {}
        for c in categories:
            self.categories_by_name.setdefault(_key(c.name), []).append(c)
        self.departments = {_key(d.name): d for d in Department.objects.restrict(user, "view").filter(org=org)}
        self.rooms: dict[str, list] = {}
        for room in room_choices(user, org):
            keys = {room.full_name, room.name, f"{room.campus.name}{room.name}"}
            if room.number:
                keys |= {room.number, f"{room.number}{room.name}", f"{room.campus.name}{room.number}"}
                if room.building_id:
                    keys |= {f"{room.building.name}{room.number}",
                             f"{room.campus.name}{room.building.name}{room.number}"}
            if room.building_id:
                keys |= {f"{room.building.name}{room.name}"}
            for key in {_key(k) for k in keys}:
                self.rooms.setdefault(key, []).append(room)
        self.people: dict[str, list] = {}
        for person in staff_choices(org):
            for key in {_key(person.full_name), _key(person.username)} - {""}:
                self.people.setdefault(key, []).append(person)

    def _one(self, row, found: list, text: str, what: str, field_name: str, missing: str):
        unique = list(dict.fromkeys(found))
        if not unique:
            self.error(row, missing, field_name)
            return None
        if len(unique) > 1:
            self.error(row, f"有 {len(unique)} 个{what}都叫“{text}”，请写得更具体。", field_name)
            return None
        return unique[0]

    def resolve_category(self, row: ParsedRow):
        code = row.values.get("category_code")
        text = row.values.get("category")
        if code:
            found = self.categories_by_code.get(str(code).strip())
            if found is None:
                self.error(row, f"没有分类代码“{code}”，请填写 GB/T 14885 分类代码或本校自定义分类的代码。",
                           "category_code")
            return found
        if not text:
            self.error(row, "请填写资产分类（分类名称或分类代码）。",
                       "category" if self.data.column_of("category") is not None else None)
            return None
        first = str(text).split()[0]
        if first in self.categories_by_code:  # "2010100" or "2010100 计算机设备"
            return self.categories_by_code[first]
        return self._one(row, self.categories_by_name.get(_key(text), []), text, "资产分类", "category",
                         f"没有资产分类“{text}”，请填写分类名称（如“计算机设备”）或分类代码（如 2010100）。")

    # --- Rows -------------------------------------------------------------------------------------------------
    def plan_instance(self, row: ParsedRow, instance) -> Plan | None:
        values = row.values
        adding = instance._state.adding
        mapped = self.data.mapped_fields
        before = {name: getattr(instance, Asset._meta.get_field(name).attname) for name in FIXED_FACTS}
        places = {name: getattr(instance, f"{name}_id") for name in PLACE_FACTS}
        if "category" in mapped or "category_code" in mapped or adding:
            category = self.resolve_category(row)
            if category is None:
                return None
            instance.category = category
            if adding and values.get("is_batch") is None:
                values["is_batch"] = category.default_batch
                if "is_batch" not in mapped:
                    instance.is_batch = category.default_batch
        for name, lookup, what, hint in (
            ("department", self.departments, "部门", "请先在“部门”中添加，或改为已有的部门名称"),
            ("room", self.rooms, "存放地点", "请先在“房间与区域”中添加或导入场所，或改为已有的房间名称、房间号"),
            ("custodian", self.people, "人员", "请填写本校人员的姓名或账号"),
        ):
            if name not in mapped:
                continue
            text = values.get(name)
            if not text:
                setattr(instance, name, None)
                continue
            found = lookup.get(_key(text))
            found = [found] if found is not None and not isinstance(found, list) else (found or [])
            related = self._one(row, found, text, what, name,
                                f"系统中没有{what}“{text}”，{hint}（导入时新建将在后续版本提供）。")
            if related is None:
                return None
            setattr(instance, name, related)
            if name == "custodian":
                instance._custodian_org_id = self.org.pk  # found among the school's members (see Asset.clean)
        if not self.check_amount(row, instance, adding):
            return None
        status = values.get("status")
        if adding and status == AssetStatus.DISPOSED:
            self.error(row, "已处置的资产已不在账上，不需要登记。", "status")
            return None
        if not adding and status and status != instance.status:
            self.error(row, f"状态只能通过业务操作变更（当前为“{instance.get_status_display()}”，"
                            f"文件中为“{AssetStatus(status).label}”）。", "status")
            return None
        plan = super().plan_instance(row, instance)
        if plan is None:
            return None
        plan.new_status = status or AssetStatus.IN_USE
        if not adding:
            after = {name: getattr(instance, Asset._meta.get_field(name).attname) for name in FIXED_FACTS}
            changed = [str(Asset._meta.get_field(n).verbose_name) for n in FIXED_FACTS
                       if _comparable(before[n]) != _comparable(after[n])]
            if changed:
                self.error(row, f"资产 {instance.number} 已入账，{'、'.join(changed)}不能通过导入修改，"
                                "请使用调拨、调账等业务操作。")
                return None
            plan.place_changed = any(getattr(instance, f"{n}_id") != places[n] for n in PLACE_FACTS)
        return plan

    def check_amount(self, row: ParsedRow, instance, adding: bool) -> bool:
        """数量 × 单价 = 金额 (± 0.01); 单价 from 金额 ÷ 数量 when only 金额 is given."""
        values, mapped = row.values, self.data.mapped_fields
        quantity = values.get("quantity") if values.get("quantity") is not None else (
            1 if adding else instance.quantity)
        price, amount = values.get("unit_price"), values.get("amount")
        if price is None and amount is None:
            if adding:
                self.error(row, "请填写单价或金额。", "unit_price" if "unit_price" in mapped else None)
                return False
            return True
        if price is None:
            if not quantity:
                return True  # the form reports the bad quantity
            price = (amount / quantity).quantize(CENT, rounding=ROUND_HALF_UP)
            if "unit_price" in mapped:
                values["unit_price"] = price
            else:
                instance.unit_price = price
        if amount is not None and quantity:
            expected = (Decimal(quantity) * price).quantize(CENT)
            if abs(expected - amount) > CENT:
                self.error(row, f"金额 {amount:,.2f} 元与 数量 × 单价（{quantity} × {price:,.2f} = {expected:,.2f} 元）"
                                f"不符，相差 {abs(expected - amount):,.2f} 元。", "amount")
                return False
        return True

    # --- Writing ------------------------------------------------------------------------------------------------
    def write(self, plans: list[Plan]) -> list:
        saved = []
        new = [p for p in plans if p.action == Action.CREATE]
        numbers = iter(reserve_numbers(self.org, sum(1 for p in new if not p.instance.number)))
        for plan in plans:
            asset = plan.instance
            if plan.action == Action.CREATE:
                number = asset.number or next(numbers)
                try:
                    services.register_asset(asset, self.user, number=number, status=plan.new_status, note="导入登记")
                except ValidationError as exc:  # e.g. a number taken since the preview
                    self.error(plan.row, "；".join(exc.messages))
                    continue
            elif plan.action == Action.UPDATE:
                before = Asset.objects.select_related(*PLACE_FACTS).get(pk=asset.pk) if plan.place_changed else None
                asset.save()
                if before is not None:
                    changes = history.diff(history.snapshot(before, PLACE_FACTS), history.snapshot(asset, PLACE_FACTS))
                    services.record_event(asset, AssetEventCode.ADJUST, self.user, changes=changes,
                                          status_before=asset.status, status_after=asset.status, note="导入更新")
            else:
                continue
            saved.append(asset)
            self.row_written()
        return saved


def _comparable(value):
    return value.normalize() if isinstance(value, Decimal) else value
