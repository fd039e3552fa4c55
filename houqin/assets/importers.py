"""Import of an asset register (资产登记表 / 固定资产卡片) from Excel or CSV, on core's staged import.

Each row is a card. A row whose 资产编号 is already in the school updates that card; any other row registers a new
card (numbered ZC-年份-流水号 when the file has no number for it) with the rules of ``services.register_asset``.

* 数量 × 单价 must equal 金额 within 0.01 元, else the row is refused with both figures. A file with only 金额
  gets 单价 = 金额 ÷ 数量. 数量 may carry its unit ("40套"), which fills an empty 单位.
* 资产分类 is a code (2010100) or a name (计算机设备); 使用人/保管人 must be a member of the school.
* 使用部门 and 存放地点 the school does not have are listed on the preview with how many rows name each. By default
  those rows are refused; with the option "创建这些部门/地点" they are created in the same transaction as the cards
  (change log entries by the importing user). A place such as "教学楼301" or "实验楼 二楼 化学实验室" becomes a room
  of the building it names (and a floor of it when it names one); a place whose building the school does not have
  becomes a room of the building picked on the preview (by default a new building "待整理").
* On an existing card the file may change the descriptive fields (recorded in the change log) and its place,
  department and custodian (recorded as an 调整 event). Status, category, quantity, prices and acquisition are
  registration facts: a file that differs there is refused for that row; those changes go through the commands.

Speed (a register may have 100,000 rows): rows are handled in batches of ``batch_size``; lookups are loaded once,
existing cards once per batch; rows are validated with the model's rules without a form per row (``Asset.clean``
through ``clean_instance``, with today and the school's threshold worked out once); new cards and their 登记
events are inserted in a statement or two each (``COPY`` on PostgreSQL), the batch's new cards are logged as one
change-log entry naming them (each keeps its 登记 event), and the numbers of all new cards are reserved as one
block. When committing, each batch is written by a second thread while the next one is checked (``write_behind``;
the file is then cut into about four batches). Queries grow with batches, not rows (see docs/importing.md).
"""

from __future__ import annotations

import datetime
import functools
import itertools
import json
import operator
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db.models.base import ModelState
from django.utils import timezone

from houqin.assets import history
from houqin.assets.choices import AcquisitionMethod, AssetEventCode, AssetStatus
from houqin.assets.conf import capitalisation_threshold, category_edition
from houqin.assets.forms import AssetRegisterForm, room_choices, staff_choices
from houqin.assets.models import Asset, AssetCategory, AssetEvent
from houqin.assets.numbering import advance_to, parse_number, reserve_numbers
from houqin.core.auth import user_can
from houqin.core.importing.base import NOT_VISIBLE, Action, Importer, Missing, ParsedRow, Plan
from houqin.core.importing.bulk import (
    KeysNotFound,
    RawJSON,
    bulk_update_logged,
    insert_rows,
    prepare_create_logged,
)
from houqin.core.importing.errors import CellError
from houqin.core.importing.locations import ROOM_TYPE_SYNONYMS
from houqin.core.importing.mapping import ImportField
from houqin.core.importing.options import ImportOption
from houqin.core.importing.registry import register
from houqin.core.importing.values import (
    cell_text,
    choice_parser,
    integer_parser,
    parse_bool,
    parse_date,
    parse_floor_level,
    parse_money,
)
from houqin.core.models import Building, Campus, Department, Floor, Room, RoomType

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
HOLDING_BUILDING = "待整理"  # where new rooms go whose building the school does not have (by default)
HOLDING_CAMPUS = "本部"  # the campus created for it when the school has none
PUBLIC_AREA = "公共区域"  # the room made for a place that names only a building (or a floor of it)


_KEYS: dict[str, str] = {}


def _key(text: str) -> str:
    """How names are compared: full-width folded, without spaces, lower case (memoised: registers repeat them)."""
    key = _KEYS.get(text)
    if key is None:
        key = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).lower()
        if len(_KEYS) > 100_000:
            _KEYS.clear()
        _KEYS[text] = key
    return key


# --- Values ----------------------------------------------------------------------------------------------------------
_QUANTITY = re.compile(r"^([+-]?\d+)(?:\.0+)?\s*([\u4e00-\u9fff]{1,3})?$")
_parse_count = integer_parser(*UNITS, what="数量（整数）")


def parse_quantity(value) -> int | None:
    """A whole number, optionally with its unit: 40, "40", "40套", "1,200 册", "十二"."""
    if isinstance(value, str):
        match = _QUANTITY.match(unicodedata.normalize("NFKC", value).replace(",", "").strip())
        if match:
            return int(match.group(1))
    return _parse_count(value)


def quantity_unit(text: str) -> str:
    """The unit written after the number in a 数量 cell ("40套" → "套"), else ""."""
    if not text or text.isdigit():
        return ""
    match = _QUANTITY.match(unicodedata.normalize("NFKC", text or "").replace(",", "").strip())
    return match.group(2) or "" if match else ""


# A floor in a place's text ends in 层 or 楼: 3楼, 三层, 第三层, 地下一层, 负一楼 (B1 or F3 are left to room numbers).
_FLOOR_TOKEN = re.compile(r"^(?:地下|负)?第?[一二三四五六七八九十\d]{1,3}(?:层|楼)")
_ROOM_NUMBER = re.compile(r"^([A-Za-z]?\d{1,5}(?:-\d{1,5})?[A-Za-z]?)(室|号|房间|房)?")


def _floor_name(level: int | None) -> str:
    if level is None:
        return ""
    return f"{level}层" if level > 0 else f"地下{-level}层"


def _room_type(name: str) -> str:
    """A guess from the room's name: 化学实验室 → 实验室, 三(2)班 → 教室; else 其他."""
    words = {**{str(label): value for value, label in RoomType.choices}, **ROOM_TYPE_SYNONYMS}
    for word in sorted(words, key=len, reverse=True):
        if name.endswith(word):
            return words[word]
    if re.search(r"班(教室)?$", name):
        return RoomType.CLASSROOM
    return RoomType.OTHER


# --- Options ---------------------------------------------------------------------------------------------------------
def _can_create_places(user, org) -> bool:
    return bool(org) and any(user_can(user, "add", model, org_id=org.pk) for model in (Department, Room))


def _can_create_rooms(user, org) -> bool:
    return bool(org) and user_can(user, "add", Room, org_id=org.pk)


def _holding_choices(user, org) -> list[tuple[str, str]]:
    """Where new rooms go whose building the school does not have: an existing "待整理" building, a new one on a
    campus, or any existing building."""
    buildings = list(Building.objects.restrict(user, "view").filter(org=org).select_related("campus")
                     .order_by("campus__name", "name"))
    campuses = list(Campus.objects.restrict(user, "view").filter(org=org).order_by("name"))
    may_add_building = user_can(user, "add", Building, org_id=org.pk)
    holding = [(f"b:{b.pk}", f"{b.campus.name} {b.name}") for b in buildings if b.name == HOLDING_BUILDING]
    new = []
    if may_add_building:
        have = {b.campus_id for b in buildings if b.name == HOLDING_BUILDING}
        new = [(f"new:{c.pk}", f"{c.name} 新建楼栋“{HOLDING_BUILDING}”") for c in campuses if c.pk not in have]
        if not campuses and user_can(user, "add", Campus, org_id=org.pk):
            new = [("new:", f"新建校区“{HOLDING_CAMPUS}”及其楼栋“{HOLDING_BUILDING}”")]
    others = [(f"b:{b.pk}", f"{b.campus.name} {b.name}") for b in buildings if b.name != HOLDING_BUILDING]
    return [*holding, *new, *others]


@register
class AssetImporter(Importer):
    key = "assets"
    title = "资产"
    model = Asset
    form_class = AssetRegisterForm
    key_fields = ("number",)
    list_url_name = "assets:asset_list"
    resolved_fields = ("category", "room", "department", "custodian")
    # Large batches keep the queries of a 100,000-row register few (about four per batch); a planned row holds
    # about 3 KB, and written behind two batches are held at once (one being written, the next being checked). At
    # 100,000 rows: 20,000 a batch peaked at 448 MB (over the 400 MB of docs/performance.md), 12,500 at 372 MB with
    # 59 queries, 10,000 at 339 MB with 69 (twice those of 10,000 rows: the benchmark's limit).
    batch_size = 12_500
    validate_with = "model"
    _fact_parts = None  # per field of the 登记 facts: value → its JSON text (registered_facts_json)
    write_behind = True  # each batch written while the next is checked (see writer_for)
    pause_collector = True  # no form per row, no cyclic garbage (test_import_scale)
    fields = (
        ImportField("number", "资产编号", ("编号", "资产代码", "卡片编号", "资产卡片编号", "财产编号", "资产编码",
                                         "卡片号", "资产卡片号"),
                    example="",
                    help="留空则导入时自动编号（ZC-年份-流水号）；再次导入时按资产编号找到已有卡片并更新。"),
        ImportField("name", "资产名称", ("名称", "品名", "财产名称", "设备名称", "物品名称", "资产名", "设备名"),
                    required=True, example="台式计算机"),
        ImportField("category", "资产分类", ("分类", "资产类别", "类别", "分类名称", "资产分类名称", "国标分类",
                                             "资产分类/分类代码", "资产分类(代码)", "资产类型名称"),
                    example="计算机设备", help="填写分类名称或分类代码，如“计算机设备”或 2010100（GB/T 14885）。"),
        ImportField("category_code", "分类代码", ("资产分类代码", "类别代码", "分类编码", "国标代码", "分类编号",
                                                  "国标分类代码"),
                    example="2010100", help="与“资产分类”填一个即可；都填写时以分类代码为准。"),
        ImportField("model", "规格型号", ("规格", "型号", "规格及型号", "型号规格", "规格/型号", "型号/规格",
                                          "品牌规格型号"), example="i5/16G/512G"),
        ImportField("brand", "品牌", ("厂牌", "生产厂家", "厂家", "品牌/厂家", "制造商"), example="联想"),
        ImportField("serial_no", "序列号", ("出厂编号", "设备序列号", "sn", "出厂号")),
        ImportField("quantity", "数量", ("数 量", "资产数量", "实有数量", "台数", "件数", "账面数量"),
                    parser=parse_quantity, default=1, example=1,
                    help="整数，可带单位（如 40套）；一张卡片可以是一批同类物品，如课桌椅 40 套。"),
        ImportField("unit", "单位", ("计量单位", "计量单位名称"), example="台",
                    help="留空时取数量后面写的单位（如“40套”）。"),
        ImportField("unit_price", "单价", ("单价(元)", "单位价值", "单价（元）", "单位价格", "单台价格", "单价/元"),
                    parser=parse_money, example="4980.00"),
        ImportField("amount", "金额", ("金额(元)", "原值", "原值(元)", "价值", "总价", "总金额", "账面原值", "资产原值",
                                       "金额（元）", "价值(元)", "账面金额", "合计金额", "总价(元)"),
                    parser=parse_money, example="4980.00", help="应等于 数量 × 单价（允许相差 0.01 元）。"),
        ImportField("acquired_on", "取得日期", ("购置日期", "购入日期", "购买日期", "取得时间", "购置时间", "购进日期",
                                               "购买时间", "购入时间", "购建日期"),
                    parser=parse_date, required=True, example="2024-09-01",
                    help="如 2024-09-01、2024.9.1、2024年9月；只写到月份时按当月 1 日。"),
        ImportField("acquisition_method", "取得方式", ("来源", "取得途径", "增加方式", "资产来源", "购置方式"),
                    parser=choice_parser(AcquisitionMethod.choices, METHOD_SYNONYMS, what="取得方式"),
                    choices=tuple(str(label) for _, label in AcquisitionMethod.choices),
                    default=AcquisitionMethod.PURCHASE, keep_when_empty=True, example="购置"),
        ImportField("department", "使用部门", ("部门", "使用单位", "所属部门", "使用科室", "管理部门", "使用部门名称"),
                    example="总务处", help="系统中没有的部门可在预览时选择一并新建。"),
        ImportField("room", "存放地点", ("存放位置", "位置", "地点", "房间", "所在位置", "存放房间", "安放地点",
                                         "使用地点", "放置地点", "所在地点", "安装地点", "存放地"),
                    example="行政楼 101",
                    help="填写房间名称、房间号或“楼栋 房间号”，如“教学楼301”“实验楼 二楼 化学实验室”；"
                         "系统中没有的地点可在预览时选择一并新建。"),
        ImportField("custodian", "使用人/保管人",
                    ("使用人", "保管人", "责任人", "领用人", "使用人或保管人", "保管人/使用人", "管理人", "使用者"),
                    example="", help="填写本校人员的姓名或账号。"),
        ImportField("status", "状态", ("使用状况", "使用状态", "资产状态", "现状"),
                    parser=choice_parser(AssetStatus.choices, STATUS_SYNONYMS, what="状态"),
                    choices=tuple(str(label) for v, label in AssetStatus.choices if v != AssetStatus.DISPOSED),
                    example="在用", help="新卡片的初始状态，默认“在用”；已有卡片的状态不能通过导入修改。"),
        ImportField("funding_source", "经费来源", ("资金来源", "经费", "经费渠道", "经费项目")),
        ImportField("supplier", "供应商", ("供货商", "销售商", "供货单位", "销售单位", "供应单位")),
        ImportField("invoice_no", "发票号", ("发票号码", "发票编号")),
        ImportField("voucher_no", "凭证号", ("记账凭证号", "会计凭证号", "凭证编号", "记账凭证")),
        ImportField("useful_life_years", "使用年限", ("折旧年限", "使用年限(年)", "预计使用年限"),
                    parser=integer_parser("年", what="使用年限（整数年）"), help="留空则按资产分类的默认年限。"),
        ImportField("is_batch", "批量同类", ("是否批量", "大批同类"), parser=parse_bool,
                    help="是/否；留空则按资产分类（图书、学生课桌椅默认为是）。"),
        ImportField("note", "备注", ("说明", "备考", "remark")),
    )
    options = (
        ImportOption("create_missing", "创建这些部门/地点",
                     help="勾选后，文件中系统里没有的使用部门和存放地点在导入时一并新建（与资产卡片一起保存）；"
                          "不勾选则这些行不导入。",
                     default=False, available=_can_create_places, show="missing"),
        ImportOption("holding_building", "无法识别楼栋的新地点放在",
                     help="能识别出已有楼栋的地点（如“教学楼301”）建在该楼栋中；其余的建在这里，"
                          "导入后可在“房间与区域”中整理。",
                     choices=_holding_choices, available=_can_create_rooms, show="missing"),
    )
    notes = (
        "6. 每一行是一张资产卡片，可以是一件物品，也可以是一批同类物品（如课桌椅 40 套，数量填 40）。",
        "7. 使用人必须是系统中已有的人员。系统中没有的使用部门、存放地点会在预览时列出，可选择一并新建。",
        "8. 已入账卡片的分类、数量、单价、取得信息和状态不能通过导入修改，请使用相应的业务操作。",
        "9. 日期请写成 2024-09-01 或 2024年9月1日：在 Excel 中直接输入 2019.10 会被存成数字 2019.1（1 月）。",
    )

    # --- Lookups, once per import -------------------------------------------------------------------------------
    def setup(self) -> None:
        user, org = self.user, self.org
        self.mapped = self.data.mapped_fields
        edition = category_edition(org)
        categories = list(AssetCategory.objects.restrict(user, "view").for_org(org).filter(edition=edition,
                                                                                          is_active=True))
        self.categories_by_code = {c.code: c for c in categories}
        self.categories_by_name: dict[str, list[AssetCategory]] = {}
        for c in categories:
            self.categories_by_name.setdefault(_key(c.name), []).append(c)
        self.departments: dict[str, list[Department]] = {}
        for d in Department.objects.restrict(user, "view").filter(org=org):
            self.departments.setdefault(_key(d.name), []).append(d)
        self.rooms: dict[str, list] = {}
        self.rooms_in_building: dict[tuple, list] = {}  # (building id, number or name) → rooms
        for room in room_choices(user, org).select_related("campus", "building"):
            self._index_room(room)
        self.people: dict[str, list] = {}
        for person in staff_choices(org):
            for key in {_key(person.full_name), _key(person.username)} - {""}:
                self.people.setdefault(key, []).append(person)
        self.buildings: dict[str, list[Building]] = {}
        for building in Building.objects.restrict(user, "view").filter(org=org).select_related("campus"):
            for key in {_key(building.name), _key(f"{building.campus.name}{building.name}")}:
                self.buildings.setdefault(key, []).append(building)
        self.building_keys = sorted(self.buildings, key=len, reverse=True)
        self.floors = {(f.building_id, f.level): f
                       for f in Floor.objects.restrict(user, "view").filter(org=org).only("id", "building_id", "level",
                                                                                          "org_id", "name")}
        self.today = timezone.localdate()
        self.threshold = capitalisation_threshold(org)
        self.create_offered = _can_create_places(user, org)
        # Places the file names that the school does not have: key → [text as written, rows, what happens].
        self.missing_departments: dict[str, list] = {}
        self.missing_rooms: dict[str, list] = {}
        self.new_departments: dict[str, Department] = {}
        self.new_rooms: dict[str, Room] = {}  # by the text's key
        self.new_rooms_by_place: dict[tuple, Room] = {}
        self.new_buildings: list[Building] = []
        self.new_campuses: list[Campus] = []
        self.new_floors: dict[tuple, Floor] = {}
        self.place_plans: dict[str, tuple] = {}  # text key → what it means (see place_plan)
        self.holding: Building | None = None
        self.holding_checked = False
        self.unsaved: list = []  # new parents, in the order they must be saved
        self.numbers = iter(())
        self.reserved = False
        self.highest_pk = None  # of the cards written so far

    def _index_room(self, room) -> None:
        keys = {room.full_name, room.name, f"{room.campus.name}{room.name}"}
        if room.number:
            keys |= {room.number, f"{room.number}{room.name}", f"{room.campus.name}{room.number}"}
            if room.building_id:
                keys |= {f"{room.building.name}{room.number}",
                         f"{room.campus.name}{room.building.name}{room.number}"}
        if room.building_id:
            keys |= {f"{room.building.name}{room.name}"}
            for part in {room.number, room.name} - {""}:
                self.rooms_in_building.setdefault((room.building_id, _key(part)), []).append(room)
        for key in {_key(k) for k in keys}:
            self.rooms.setdefault(key, []).append(room)

    def new_instance(self, row: ParsedRow):
        """A new card: a copy of a blank one with a state of its own, cheaper than building each of 100,000 cards
        field by field."""
        template = getattr(self, "_blank", None)
        if template is None:
            template = self._blank = super().new_instance(row)
        card = Asset.__new__(Asset)
        card.__dict__.update(template.__dict__)
        card._state = ModelState()
        card._state.fields_cache = dict(template._state.fields_cache)  # the school (org)
        card.attributes = {}
        return card

    def prepare(self, rows: list[ParsedRow]) -> None:
        """The cards the batch's 资产编号 name, with what their history and the comparison read."""
        numbers = sorted({str(r.values["number"]).strip() for r in rows if r.values.get("number")})
        self.existing = {}
        if not numbers:
            return
        cards = (Asset.objects.restrict(self.user, "view").filter(org=self.org, number__in=numbers)
                 .select_related("category", "room__campus", "room__building", "department", "custodian"))
        for card in cards:
            self.existing.setdefault((card.number,), []).append(card)

    def _one(self, row, found: list, text: str, what: str, field_name: str, missing: str):
        if len(found) == 1:
            return found[0]
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

    # --- Departments and places the school does not have ----------------------------------------------------------
    def _create(self) -> bool:
        return bool(self.options.get("create_missing"))

    def resolve_department(self, row: ParsedRow, text: str):
        key = _key(text)
        found = self.departments.get(key)
        if found:
            department = self._one(row, found, text, "部门", "department", "")
            if department is not None and not department.is_active:
                self.error(row, f"部门“{department.name}”已停用，请改为在用的部门。", "department")
                return None
            return department
        entry = self.missing_departments.setdefault(key, [text, 0, ""])
        entry[1] += 1
        if not self._create():
            entry[2] = "不导入这些行（未勾选新建）" if self.create_offered else "不导入这些行"
            self.error(row, f"系统中没有部门“{text}”。可在预览页勾选“创建这些部门/地点”一并新建，或先在“部门”中添加。"
                       if self.create_offered else
                       f"系统中没有部门“{text}”。您没有新建部门的权限，请系统管理员先在“部门”中添加。", "department")
            return None
        if not self.can("add", Department):
            entry[2] = "无法新建：您没有新建部门的权限"
            self.error(row, f"系统中没有部门“{text}”，您没有新建部门的权限，请联系系统管理员先添加。", "department")
            return None
        name = re.sub(r"\s+", " ", text).strip()
        if len(name) > Department._meta.get_field("name").max_length:
            entry[2] = "无法新建：名称太长"
            self.error(row, f"部门名称“{name[:20]}…”太长（最多 60 个字），无法新建。", "department")
            return None
        department = self.new_departments.get(key)
        if department is None:
            department = Department(org=self.org, name=name)
            self.new_departments[key] = department
            self.unsaved.append(department)
        entry[2] = f"新建部门“{department.name}”"
        return department

    def resolve_room(self, row: ParsedRow, text: str):
        key = _key(text)
        found = self.rooms.get(key)
        if found:
            return self._one(row, found, text, "存放地点", "room", "")
        entry = self.missing_rooms.setdefault(key, [text, 0, ""])
        entry[1] += 1
        place = self.place_plan(key, text)
        if place[0] is False:
            entry[2] = place[1]
            self.error(row, f"存放地点“{text}”：{place[1]}", "room")
            return None
        if isinstance(place[0], Room):  # the text names an existing room in a way the lookup does not know
            entry[1] -= 1
            if not entry[1]:
                del self.missing_rooms[key]
            self.rooms[key] = [place[0]]
            return place[0]
        if not self._create():
            if self.create_offered:
                entry[2] = f"不导入这些行（勾选新建后：{self.describe(place)}）"
                self.error(row, f"系统中没有存放地点“{text}”。可在预览页勾选“创建这些部门/地点”一并新建，"
                                "或先在“房间与区域”中添加或导入场所。", "room")
            else:
                entry[2] = "不导入这些行"
                self.error(row, f"系统中没有存放地点“{text}”。您没有新建房间的权限，"
                                "请系统管理员先在“房间与区域”中添加。", "room")
            return None
        room = self.new_room(row, key, place)
        if room is None:
            entry[2] = "无法新建（原因见错误列表）"
            return None
        entry[2] = self.describe(place)
        return room

    def place_plan(self, key: str, text: str) -> tuple:
        """What a place text the school does not know means: ``(building or None, floor level, number, name)`` of
        the room to create (no building: the one picked on the preview), ``(room,)`` for an existing room it names
        in another way ("教学楼1层101"), or ``(False, why)`` when it cannot become a room."""
        plan = self.place_plans.get(key)
        if plan is not None:
            return plan
        written = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()
        compact = written.replace(" ", "")
        lowered = compact.lower()
        building = next((self.buildings[k] for k in self.building_keys if lowered.startswith(k)), None)
        if building is None:
            match = _ROOM_NUMBER.fullmatch(written)
            plan = self._checked(None, None, written if match and not match.group(2) else "", written)
        elif len(set(building)) > 1:
            plan = (False, f"有 {len(set(building))} 个楼栋都叫“{building[0].name}”，请在前面写上校区。")
        else:
            building = building[0]
            rest = compact[len(next(k for k in self.building_keys if lowered.startswith(k))):]
            level = None
            floor_match = _FLOOR_TOKEN.match(rest)
            if floor_match:
                try:
                    level = parse_floor_level(floor_match.group(0))
                    rest = rest[floor_match.end():]
                except CellError:
                    level = None
            number, name = "", rest
            number_match = _ROOM_NUMBER.match(rest)
            if number_match:
                number = number_match.group(1)
                name = rest[number_match.end():] or number_match.group(0)
            if not name:
                name = f"{_floor_name(level)}{PUBLIC_AREA}"
            plan = None
            for part in (number, name):
                existing = self.rooms_in_building.get((building.pk, _key(part))) if part else None
                if existing and len(existing) == 1:
                    plan = (existing[0],)
                    break
            if plan is None:
                plan = self._checked(building, level, number, name)
        self.place_plans[key] = plan
        return plan

    def describe(self, place: tuple) -> str:
        """"新建房间：本部 教学楼 3层 301" for a planned room."""
        building, level, number, name = place
        building = building or self.holding
        where = f"{building.campus.name} {building.name}" if building is not None else "所选楼栋"
        room = f"{number} {name}" if number and number not in name else name
        return " ".join(p for p in ("新建房间：" + where, _floor_name(level), room) if p)

    @staticmethod
    def _checked(building, level, number: str, name: str) -> tuple:
        if len(name) > Room._meta.get_field("name").max_length:
            return (False, "名称太长（最多 60 个字），无法新建为房间。")
        if len(number) > Room._meta.get_field("number").max_length:
            number = ""
        return (building, level, number, name)

    def new_room(self, row: ParsedRow, key: str, place: tuple):
        building, level, number, name = place
        room = self.new_rooms.get(key)
        if room is not None:
            return room
        if not self.can("add", Room):
            self.error(row, "您没有新建房间的权限，请联系系统管理员先添加。", "room")
            return None
        if building is None:
            building = self.holding_building(row)
            if building is None:
                return None
        identity = (id(building), level, number or _key(name))
        room = self.new_rooms_by_place.get(identity)
        if room is None:
            floor = None
            if level is not None:
                floor = self.floor_for(row, building, level)
                if floor is None:
                    return None
            room = Room(org=self.org, campus=building.campus, building=building, floor=floor, number=number,
                        name=name, room_type=_room_type(name))
            self.new_rooms_by_place[identity] = room
            self.unsaved.append(room)
        self.new_rooms[key] = room
        return room

    def floor_for(self, row: ParsedRow, building: Building, level: int):
        floor = self.floors.get((building.pk, level)) if building.pk else None
        floor = floor or self.new_floors.get((id(building), level))
        if floor is not None:
            return floor
        if not self.can("add", Floor):
            self.error(row, "您没有新建楼层的权限，请联系系统管理员先添加楼层。", "room")
            return None
        floor = Floor(org=self.org, building=building, level=level)
        self.new_floors[(id(building), level)] = floor
        self.unsaved.append(floor)
        return floor

    def holding_building(self, row: ParsedRow):
        """The building picked on the preview for rooms whose building the school does not have."""
        if self.holding is not None or self.holding_checked:
            if self.holding is None:
                self.error(row, "请在预览页选择无法识别楼栋的新地点放在哪个楼栋。", "room")
            return self.holding
        self.holding_checked = True
        choice = str(self.options.get("holding_building") or "")
        kind, _, pk = choice.partition(":")
        if kind == "b" and pk.isdigit():
            self.holding = (Building.objects.restrict(self.user, "view").filter(org=self.org, pk=int(pk))
                            .select_related("campus").first())
        elif kind == "new":
            campus = None
            if pk.isdigit():
                campus = Campus.objects.restrict(self.user, "view").filter(org=self.org, pk=int(pk)).first()
            elif self.can("add", Campus):
                campus = Campus(org=self.org, name=HOLDING_CAMPUS)
                self.new_campuses.append(campus)
                self.unsaved.append(campus)
            if campus is not None and self.can("add", Building):
                self.holding = Building(org=self.org, campus=campus, name=HOLDING_BUILDING, use="other")
                self.new_buildings.append(self.holding)
                self.unsaved.append(self.holding)
        if self.holding is None:
            self.error(row, "请在预览页选择无法识别楼栋的新地点放在哪个楼栋。", "room")
        return self.holding

    # --- Rows -------------------------------------------------------------------------------------------------
    def plan_instance(self, row: ParsedRow, instance) -> Plan | None:
        values = row.values
        adding = instance._state.adding
        mapped = self.mapped
        before = None if adding else {name: getattr(instance, Asset._meta.get_field(name).attname)
                                      for name in FIXED_FACTS}
        places = None if adding else history.snapshot(instance, PLACE_FACTS)
        if "category" in mapped or "category_code" in mapped or adding:
            category = self.resolve_category(row)
            if category is None:
                return None
            _relate(instance, "category", category)
            if adding and values.get("is_batch") is None:
                values["is_batch"] = category.default_batch
                if "is_batch" not in mapped:
                    instance.is_batch = category.default_batch
        failed = False
        for name, resolve in (("department", self.resolve_department), ("room", self.resolve_room),
                              ("custodian", self.resolve_custodian)):
            if name not in mapped:
                continue
            text = values.get(name)
            if not text:
                _relate(instance, name, None)
                continue
            related = resolve(row, text)  # each one, so that the preview counts every place a row names
            if related is None:
                failed = True
                continue
            _relate(instance, name, related)
        if failed:
            return None
        instance._custodian_org_id = self.org.pk  # custodians are found among the school's members (Asset.clean)
        # A unit written after the number ("40套"): only a text cell has one.
        index = row.columns.get("quantity")
        unit = quantity_unit(row.text("quantity")) if index is not None and index < len(row.cells) and \
            row.cells[index].__class__ is str else ""
        if unit:
            if "unit" in mapped and not values.get("unit"):
                values["unit"] = unit
            elif "unit" not in mapped and adding:
                instance.unit = unit
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
        if adding:  # the rules of services.register_asset, before the model's checks
            number = values.get("number") or ""
            if len(number) > Asset._meta.get_field("number").max_length:
                self.error(row, "资产编号太长（最多 30 个字符）。", "number")
                return None
            instance.number = number
            quantity = values.get("quantity") or 1
            if instance.category.default_batch and quantity > 1:
                values["is_batch"] = True
                instance.is_batch = True
            instance.status = status or AssetStatus.IN_USE
            instance.registered_on = self.today
        plan = super().plan_instance(row, instance)
        if plan is None:
            return None
        if not adding:
            after = {name: getattr(instance, Asset._meta.get_field(name).attname) for name in FIXED_FACTS}
            changed = [str(Asset._meta.get_field(n).verbose_name) for n in FIXED_FACTS
                       if _comparable(before[n]) != _comparable(after[n])]
            if changed:
                self.error(row, f"资产 {instance.number} 已入账，{'、'.join(changed)}不能通过导入修改，"
                                "请使用调拨、调账等业务操作。")
                return None
            plan.place_changes = history.diff(places, history.snapshot(instance, PLACE_FACTS))
        return plan

    def clean_instance(self, card) -> None:
        """``Asset.clean()`` for a new card built by this importer, with today's date and the school's
        capitalisation threshold worked out once per import instead of once per row (100,000 times in a large
        register); the same checks, messages and derived values (original value, asset class, useful life) —
        test_import_rules compares both. An existing card, or a custodian not picked among the school's members,
        goes through ``Asset.clean()`` itself."""
        values = card.__dict__
        org_id = values["org_id"]
        if not card._state.adding or (values["custodian_id"] and card.__dict__.get("_custodian_org_id") != org_id):
            card.clean()
            return
        errors: dict[str, str] = {}
        card.original_value = Asset.value_of(values["quantity"], values["unit_price"])
        cache = card._state.fields_cache
        category = (cache.get("category") or card.category) if values["category_id"] else None
        if category is not None and category.org_id not in (None, org_id):
            errors["category"] = "必须是国家标准分类或本校的分类。"
        for name in ("room", "department"):
            if values[f"{name}_id"]:
                related = cache.get(name) or getattr(card, name)
                if org_id and related.org_id != org_id:
                    errors[name] = "必须属于本校。"
        warranty, acquired = values["warranty_until"], values["acquired_on"]
        if warranty and acquired and warranty < acquired:
            errors["warranty_until"] = "保修截止日期不能早于取得日期。"
        if acquired and acquired > self.today:
            errors["acquired_on"] = "取得日期不能晚于今天。"
        if category is not None:
            if not category.is_active:
                errors["category"] = "该分类已停用，请选择其他分类。"
            if values["structure"] and not category.path.startswith("/1000000/"):
                errors["structure"] = "只有土地、房屋及构筑物需要填写房屋结构。"
            if org_id:
                card.asset_class = card.classify(self.threshold)
            card._check_life(category, errors)
        if errors:
            raise ValidationError(errors)

    def resolve_custodian(self, row: ParsedRow, text: str):
        return self._one(row, self.people.get(_key(text), []), text, "人员", "custodian",
                         f"系统中没有人员“{text}”，请填写本校人员的姓名或账号。")

    def check_amount(self, row: ParsedRow, instance, adding: bool) -> bool:
        """数量 × 单价 = 金额 (± 0.01); 单价 from 金额 ÷ 数量 when only 金额 is given."""
        values, mapped = row.values, self.mapped
        quantity = values.get("quantity") if values.get("quantity") is not None else (
            1 if adding else instance.quantity)
        price, amount = values.get("unit_price"), values.get("amount")
        if price is None and amount is None:
            if adding:
                self.error(row, "请填写单价或金额。", "unit_price" if "unit_price" in mapped else None)
                return False
            return True
        if price is None:
            if not quantity or quantity < 0:
                return True  # the model's rules report the bad quantity
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

    def finish(self) -> None:
        if self.writing and self.result.ok and (self.result.created or self.result.updated):
            # The bulk writes send no signals: the school's kept analytics figures are out of date (after the
            # commit; rolled back with the import).
            from houqin.assets.analytics_summary import mark_changed

            mark_changed([self.org.pk])
        creating = self._create()
        if self.missing_departments:
            self.result.missing.append(Missing("使用部门", [tuple(v) for v in self.missing_departments.values()], (
                "导入时将新建以上部门。" if creating else
                "勾选下方“创建这些部门/地点”后，导入时一并新建；不勾选则这些行不导入。")))
        if self.missing_rooms:
            holding = ""
            if self.holding is not None:
                holding = f"无法识别楼栋的地点建在“{self.holding.campus.name} {self.holding.name}”中。"
            self.result.missing.append(Missing("存放地点", [tuple(v) for v in self.missing_rooms.values()], (
                f"导入时将新建以上房间。{holding}导入后可在“房间与区域”中整理。" if creating else
                "勾选下方“创建这些部门/地点”后，导入时一并新建：能识别出已有楼栋的（如“教学楼301”）建在该楼栋中，"
                "其余的建在所选的楼栋中；不勾选则这些行不导入。")))

    def extra_counts(self) -> list[tuple[str, int]]:
        return [("新建部门", len(self.new_departments)), ("新建房间", len(self.new_rooms_by_place)),
                ("新建校区", len(self.new_campuses)), ("新建楼栋", len(self.new_buildings)),
                ("新建楼层", len(self.new_floors))]

    # --- Writing ------------------------------------------------------------------------------------------------
    def writer_for(self, plans: list[Plan]):
        """The batch's write in two halves (see ``write``): the first here, in the importing thread, the second
        returned to run in the writer thread while the next batch is planned."""
        return functools.partial(self.write_prepared, self.prepare_write(plans))

    def write(self, plans: list[Plan]) -> list:
        """The batch's new places, then its new cards (a few large statements; their ids read back through what the
        user may see, which checks they are visible), their 登记 events and change-log entry, then the updated
        cards. A few queries per batch, however large."""
        return self.write_prepared(self.prepare_write(plans))

    def prepare_write(self, plans: list[Plan]) -> dict:
        """What can be done before the cards are inserted, and must be done before the next batch is planned: the new
        places saved (their ids go into the cards' rows), the cards numbered, their rows' values and their 登记
        events' facts worked out."""
        saved = self.save_new_places()
        new = [p.instance for p in plans if p.action == Action.CREATE]
        insert = facts = None
        if new:
            self.number_cards(new)
            insert = prepare_create_logged(
                new, key_field="number", keys_from=Asset.objects.restrict(self.user, "view").filter(org=self.org),
                log_batch=f"导入登记 {len(new)} 张资产卡片：{new[0].number} 等" if len(new) > 1
                else f"导入登记资产卡片：{new[0]}")
            facts = [self.registered_facts_json(card) for card in new]
        return {"saved": saved, "new": new, "insert": insert, "facts": facts,
                "updated": [p for p in plans if p.action == Action.UPDATE]}

    def write_prepared(self, prepared: dict) -> list:
        """The rest of the batch's write (``prepare_write`` did the first part): the cards inserted, their ids read
        back, their events and change-log entry, the updated cards."""
        new, updated = prepared["new"], prepared["updated"]
        if new:
            try:
                prepared["insert"](self.highest_pk)
            except KeysNotFound:
                self.abort(NOT_VISIBLE)
            self.highest_pk = max(card.pk for card in new)  # the next batch's new cards come above it
            self.record_events(zip(new, itertools.repeat(AssetEventCode.REGISTER), prepared["facts"],
                                   itertools.repeat("导入登记"), strict=False), new_cards=True)
        if updated:
            bulk_update_logged([p.instance for p in updated])
            self.record_events((p.instance, AssetEventCode.ADJUST, p.place_changes, "导入更新")
                               for p in updated if p.place_changes)
        for _ in range(len(new) + len(updated)):
            self.row_written()
        return [*prepared["saved"], *(p.instance for p in updated)]  # new cards: checked as their ids were read

    def save_new_places(self) -> list:
        """The departments, campuses, buildings, floors and rooms planned so far and not saved yet (in that order
        of dependence), each through ``save()``: the change log records them. In the importing thread (before the
        next batch is planned), also when the batches are written behind."""
        saved = []
        for obj in self.unsaved:
            for name in ("campus", "building", "floor"):  # pick up the ids of parents saved just before
                related = getattr(obj, name, None) if hasattr(type(obj), name) else None
                if related is not None:
                    setattr(obj, name, related)
            if isinstance(obj, Building) and obj.name == HOLDING_BUILDING:
                obj.floors_above = max([1, *(lv for (b, lv) in self.new_floors if b == id(obj) and lv > 0)])
            obj.save()
            saved.append(obj)
        self.unsaved = []
        return saved

    def number_cards(self, cards: list[Asset]) -> None:
        """Numbers for the new cards: the file's own, else the next of one block reserved for the whole file (at
        the first write, after moving the counters past the numbers in this system's format that the file brings,
        so that the block cannot repeat one of them)."""
        if not self.reserved:
            self.reserved = True
            index = self.data.column_of("number")
            without, highest = 0, {}
            for _, cells in self.data.rows:
                text = cell_text(cells[index]) if index is not None and index < len(cells) else ""
                if not text:
                    without += self.has_values(cells)
                    continue
                parsed = parse_number(text)
                if parsed is not None:
                    highest[parsed[0]] = max(highest.get(parsed[0], 0), parsed[1])
            for year, value in sorted(highest.items()):
                advance_to(self.org, year, value)
            self.numbers = iter(reserve_numbers(self.org, without))
        for card in cards:
            if not card.number:
                card.number = next(self.numbers, None) or reserve_numbers(self.org, 1)[0]

    def registered_facts(self, card: Asset) -> dict:
        """``history.diff({}, history.snapshot(card))``, what ``register_asset`` records, field by field in the JSON
        form of ``history.fact`` (a related row as its id and name, worked out once per related row; amounts to
        their decimal places; dates as ISO text)."""
        related = self._facts = getattr(self, "_facts", None) or {}
        values = card.__dict__
        changes = {}
        for name, attname, kind, quantum in _REGISTER_SPECS:
            value = values[attname] if attname in values else getattr(card, attname)
            if value is None or value == "" and value.__class__ is str:
                continue
            if kind == "relation":
                fact = related.get((name, value))
                if fact is None:
                    fact = related[(name, value)] = history.fact(card, name)
            elif kind == "decimal":
                fact = str(value.quantize(quantum)) if isinstance(value, Decimal) else history.fact(card, name)
            elif kind == "date":
                fact = value.isoformat() if isinstance(value, datetime.date) else history.fact(card, name)
            else:
                fact = value
            changes[name] = [None, fact]
        return changes

    def registered_facts_json(self, card: Asset) -> RawJSON:
        """``registered_facts(card)`` as the JSON text ``json.dumps`` would give, put together from the parts for each
        field and value, worked out once per import (registers repeat their names, places, prices and dates): the
        登记 event's ``changes``. The fields are taken in runs that repeat together (what the item is; its price;
        its date; where it is and whose), each run's text remembered by its values."""
        known = self._fact_parts
        if known is None:
            known = self._fact_parts = ([{} for _ in _REGISTER_SPECS], [{} for _ in _FACT_RUNS])
        parts_by_field, texts_by_run = known
        values = card.__dict__
        texts = []
        for (start, end, values_of), run_texts in zip(_FACT_RUNS, texts_by_run, strict=True):
            try:
                key = values_of(values)
            except KeyError:  # a field not loaded (deferred): read the usual way, in the getter's shape
                key = tuple(getattr(card, attname) for _, attname, _, _ in _REGISTER_SPECS[start:end])
                key = key if end - start > 1 else key[0]
            text = run_texts.get(key)
            if text is None:
                parts = []
                for index, value in zip(range(start, end), key if end - start > 1 else (key,), strict=True):
                    if value is None:
                        continue
                    parts_of = parts_by_field[index]
                    part = parts_of.get(value)
                    if part is None:
                        part = self._fact_part(card, _REGISTER_SPECS[index], value, parts_of)
                    if part:  # "": an empty text, left out as history.fact leaves it out
                        parts.append(part)
                text = ", ".join(parts)
                if len(run_texts) < 50_000:
                    run_texts[key] = text
            if text:
                texts.append(text)
        return RawJSON("{" + ", ".join(texts) + "}")

    @staticmethod
    def _fact_part(card: Asset, spec: tuple, value, parts_of: dict) -> str:
        """The JSON text of one field's entry, remembered in ``parts_of`` by value for the value types that give the
        same text for equal values (one type per field) and for a related row (by its id)."""
        name, _, kind, quantum = spec
        cls = value.__class__
        if value == "" and isinstance(value, str):
            part = ""
        elif kind == "relation":
            part = f'"{name}": [null, {_dumps(history.fact(card, name))}]'
        elif isinstance(value, str):  # text, or a choice (a str enum)
            part = f'"{name}": [null, {_quote(value)}]'
        elif kind == "decimal" and cls is Decimal:
            part = f'"{name}": [null, "{value.quantize(quantum)}"]'
        elif kind == "date" and cls is datetime.date:
            part = f'"{name}": [null, "{value.isoformat()}"]'
        elif cls is bool:
            part = f'"{name}": [null, {"true" if value else "false"}]'
        elif cls is int:
            part = f'"{name}": [null, {value}]'
        else:
            part = f'"{name}": [null, {_dumps(history.fact(card, name))}]'
        if len(parts_of) < 20_000 and (cls in _MEMO_CLASSES or kind == "relation"):
            parts_of[value] = part
        return part

    def record_events(self, events, new_cards: bool = False) -> None:
        """Append one AssetEvent per ``(card, code, changes, note)``, as ``services.record_event`` would. ``new_cards``:
        the cards are the ones this import has just inserted and read back (their references need no check)."""
        actor = self.user if getattr(self.user, "is_authenticated", False) else None
        actor_id, actor_name = getattr(actor, "pk", None), (actor.get_full_name() if actor else "系统")[:80]
        now = timezone.now()
        insert_rows(AssetEvent, ["org_id", "asset_id", "code", "time", "actor_id", "actor_name", "status_before",
                                 "status_after", "changes", "reference", "note"],
                    ((card.org_id, card.pk, code, now, actor_id, actor_name,
                      "" if code == AssetEventCode.REGISTER else card.status, card.status, changes, "", note[:200])
                     for card, code, changes, note in events),
                    inserted_here=("asset_id",) if new_cards else ())


def _register_spec(name: str) -> tuple:
    field = Asset._meta.get_field(name)
    if field.is_relation:
        return (name, field.attname, "relation", None)
    if field.get_internal_type() == "DecimalField" and field.decimal_places is not None:
        return (name, field.attname, "decimal", Decimal(1).scaleb(-field.decimal_places))
    if field.get_internal_type() == "DateField":
        return (name, field.attname, "date", None)
    return (name, field.attname, "plain", None)


_REGISTER_SPECS = [_register_spec(name) for name in history.REGISTER_FACTS]  # as history.fact reads them
# Runs of the 登记 facts that repeat together in a register: the item (分类, 名称, 数量, 单位), its price, its date,
# and the rest (取得方式, 存放地点, 使用部门, 保管人, 状态 …): (first index, end, a function giving their values).
_FACT_RUNS = [(start, end, operator.itemgetter(*(attname for _, attname, _, _ in _REGISTER_SPECS[start:end])))
              for start, end in ((0, 4), (4, 6), (6, 7), (7, len(_REGISTER_SPECS)))]
_MEMO_CLASSES = frozenset((str, int, bool, Decimal, datetime.date))  # one type per field: equal values, equal text
_dumps = json.dumps
_quote = json.encoder.encode_basestring_ascii  # a str as json.dumps writes it (ensure_ascii)
_ATTNAMES = {f.name: f.attname for f in Asset._meta.concrete_fields}


def _relate(card: Asset, name: str, obj) -> None:
    """``card.<name> = obj`` for a foreign key, without the descriptor's checks (100,000 times per register): the
    id and the cached object. A parent not saved yet gets its id when the card is written."""
    card.__dict__[_ATTNAMES[name]] = None if obj is None else obj.pk
    if obj is None:
        card._state.fields_cache.pop(name, None)
    else:
        card._state.fields_cache[name] = obj


def _comparable(value):
    return value.normalize() if isinstance(value, Decimal) else value
