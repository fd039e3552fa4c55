"""Import a school's places from one sheet: each row a room or area, with its campus, building and floor.

Campuses, buildings and floors that do not exist yet are created on the way (in the current school). A room
is found again by campus + building + room number; a row without a room number by campus + building (+ floor,
when the file has that column) + name. Outdoor areas (操场, 停车场) have no building and no floor.
"""

from __future__ import annotations

from houqin.core.forms import BuildingForm, CampusForm, FloorForm, RoomForm
from houqin.core.importing.base import Action, Importer, ParsedRow, Plan
from houqin.core.importing.mapping import ImportField
from houqin.core.importing.registry import register
from houqin.core.importing.values import choice_parser, integer_parser, parse_decimal, parse_floor_level
from houqin.core.models import Building, Campus, Floor, Room, RoomType

ROOM_TYPE_SYNONYMS = {
    "普通教室": RoomType.CLASSROOM, "班级教室": RoomType.CLASSROOM, "课室": RoomType.CLASSROOM,
    "专用教室": RoomType.FUNCTION, "功能教室": RoomType.FUNCTION, "专用室": RoomType.FUNCTION,
    "实验室": RoomType.LAB, "实验教室": RoomType.LAB,
    "行政办公室": RoomType.OFFICE, "办公": RoomType.OFFICE,
    "寝室": RoomType.DORM, "学生宿舍": RoomType.DORM, "教工宿舍": RoomType.DORM,
    "餐厅": RoomType.CANTEEN, "饭堂": RoomType.CANTEEN,
    "操作间": RoomType.KITCHEN, "后厨": RoomType.KITCHEN,
    "库房": RoomType.STOREROOM, "储藏室": RoomType.STOREROOM, "器材室": RoomType.STOREROOM,
    "保管室": RoomType.STOREROOM,
    "厕所": RoomType.TOILET, "洗手间": RoomType.TOILET, "盥洗室": RoomType.TOILET,
    "会议厅": RoomType.MEETING, "报告厅": RoomType.MEETING,
    "体育馆": RoomType.SPORTS, "运动场馆": RoomType.SPORTS,
    "卫生室": RoomType.CLINIC, "保健室": RoomType.CLINIC,
    "门卫": RoomType.GUARD, "传达室": RoomType.GUARD, "值班室": RoomType.GUARD,
    "机房": RoomType.EQUIPMENT, "配电房": RoomType.EQUIPMENT, "配电室": RoomType.EQUIPMENT,
    "泵房": RoomType.EQUIPMENT,
    "室外": RoomType.OUTDOOR, "户外": RoomType.OUTDOOR, "室外场地": RoomType.OUTDOOR, "场地": RoomType.OUTDOOR,
}


@register
class LocationImporter(Importer):
    key = "locations"
    title = "场所"
    model = Room
    form_class = RoomForm
    list_url_name = "core:room_list"
    resolved_fields = ("campus", "building", "floor")
    fields = (
        ImportField("campus", "校区", ("校区名称", "所在校区", "校园", "campus"), required=True, example="本部",
                    help="只有一个校区的学校也要填写，如“本部”。系统中没有的校区会自动新建。"),
        ImportField("building", "楼栋", ("楼栋名称", "所在楼栋", "楼宇", "楼名", "建筑物", "建筑", "building"),
                    example="教学楼", help="室外区域（操场、停车场等）留空。系统中没有的楼栋会自动新建。"),
        ImportField("floor", "楼层", ("所在楼层", "层", "楼层号", "floor", "level"), parser=parse_floor_level,
                    example="3层", help="如 1、3层、三楼、-1、地下一层；填写楼层时必须填写楼栋。"),
        ImportField("number", "房间号", ("门牌号", "房号", "房间编号", "室号", "编号", "room no", "room number",
                                       "number"), example="301",
                    help="同一楼栋内不重复；再次导入时按“校区 + 楼栋 + 房间号”找到已有的房间并更新。"),
        ImportField("name", "名称", ("房间名称", "区域名称", "场所名称", "房间名", "name"), required=True,
                    example="三年级(1)班教室", help="没有房间号的房间按“校区 + 楼栋 + 楼层 + 名称”识别。"),
        ImportField("room_type", "类型", ("房间类型", "场所类型", "用途", "类别", "type"),
                    parser=choice_parser(RoomType.choices, ROOM_TYPE_SYNONYMS),
                    choices=tuple(str(label) for _, label in RoomType.choices), default=RoomType.OTHER,
                    keep_when_empty=True, example=str(RoomType.CLASSROOM.label),
                    help="从可选值中选择；留空时新房间记为“其他”，已有房间保持不变。"),
        ImportField("area_m2", "面积(㎡)", ("面积", "使用面积", "面积(平方米)", "面积(m2)", "area"),
                    parser=parse_decimal, example=72, help="数字，可带两位小数，如 72 或 72.5。"),
        ImportField("capacity", "容纳人数", ("可容纳人数", "容量", "座位数", "人数", "capacity"),
                    parser=integer_parser("人", "座", "位", what="人数"), example=50, help="整数，如 50。"),
        ImportField("note", "备注", ("说明", "备考", "note", "remark", "remarks"), help="可选，最多 200 字。"),
    )
    notes = (
        "6. 每一行是一个房间或区域。系统中没有的校区、楼栋、楼层会在导入时自动新建"
        "（楼层名称自动生成，如“3层”“地下1层”）。",
    )

    # --- Lookups ----------------------------------------------------------------------------------------------
    def prepare(self, rows: list[ParsedRow]) -> None:
        user, org = self.user, self.org
        self.campuses = {c.name: c for c in Campus.objects.restrict(user, "view").filter(org=org)}
        self.buildings = {
            (b.campus.name, b.name): b
            for b in Building.objects.restrict(user, "view").filter(org=org).select_related("campus")
        }
        self.floors = {
            (f.building.campus.name, f.building.name, f.level): f
            for f in Floor.objects.restrict(user, "view").filter(org=org).select_related("building__campus")
        }
        self.by_number: dict[tuple, list[Room]] = {}
        self.by_name: dict[tuple, list[Room]] = {}
        rooms = Room.objects.restrict(user, "view").filter(org=org).select_related("campus", "building", "floor")
        for room in rooms:
            place = (room.campus.name, room.building.name if room.building_id else "")
            if room.number:
                self.by_number.setdefault((*place, room.number), []).append(room)
            self.by_name.setdefault((*place, room.name), []).append(room)
        self.new_campuses: list[Campus] = []
        self.new_buildings: list[Building] = []
        self.new_floors: list[Floor] = []
        self.bad_parents: dict[tuple, int] = {}  # parents that failed validation → the row that said why
        self.levels: dict[tuple, set[int]] = {}  # levels seen per new building

    # --- Parents ----------------------------------------------------------------------------------------------
    def _bad_parent(self, row: ParsedRow, key: tuple, what: str, field_name: str) -> bool:
        first = self.bad_parents.get(key)
        if first is not None and first != row.number:
            self.error(row, f"{what}有误，见第 {first} 行。", field_name)
        return first is not None

    def _validate_parent(self, row, key, form_class, names, data, instance, what, field_name) -> bool:
        """A new parent passes its own form's rules (the ones of its add page) before any room refers to it."""
        form = self.get_form_class(form_class, names)(data=data, instance=instance, user=self.user, org=self.org)
        if form.is_valid():
            return True
        self.bad_parents[key] = row.number
        self.form_errors(row, form, prefix=f"{what}：", field_name=field_name)
        return False

    def campus_for(self, row: ParsedRow, name: str) -> Campus | None:
        campus = self.campuses.get(name)
        if campus is not None:
            return campus
        key = ("campus", name)
        if self._bad_parent(row, key, f"校区“{name}”", "campus"):
            return None
        if not self.can("add", Campus):
            self.bad_parents[key] = row.number
            self.error(row, f"系统中没有校区“{name}”，您没有新建校区的权限。", "campus")
            return None
        campus = Campus(org=self.org, name=name)
        if not self._validate_parent(row, key, CampusForm, ["name"], {"name": name}, campus, f"校区“{name}”",
                                     "campus"):
            return None
        self.campuses[name] = campus
        self.new_campuses.append(campus)
        return campus

    def building_for(self, row: ParsedRow, campus: Campus, name: str) -> Building | None:
        building = self.buildings.get((campus.name, name))
        if building is not None:
            return building
        key = ("building", campus.name, name)
        if self._bad_parent(row, key, f"楼栋“{name}”", "building"):
            return None
        if not self.can("add", Building):
            self.bad_parents[key] = row.number
            self.error(row, f"系统中没有楼栋“{campus.name} {name}”，您没有新建楼栋的权限。", "building")
            return None
        building = Building(org=self.org, campus=campus, name=name)
        if not self._validate_parent(row, key, BuildingForm, ["name"], {"name": name}, building,
                                     f"楼栋“{name}”", "building"):
            return None
        self.buildings[(campus.name, name)] = building
        self.new_buildings.append(building)
        self.levels[(campus.name, name)] = set()
        return building

    def floor_for(self, row: ParsedRow, campus: Campus, building: Building, level: int) -> Floor | None:
        floor = self.floors.get((campus.name, building.name, level))
        if floor is not None:
            return floor
        key = ("floor", campus.name, building.name, level)
        if self._bad_parent(row, key, f"楼层“{level}”", "floor"):
            return None
        if not self.can("add", Floor):
            self.bad_parents[key] = row.number
            self.error(row, f"系统中没有楼层“{building.name} {level}”，您没有新建楼层的权限。", "floor")
            return None
        floor = Floor(org=self.org, building=building, level=level)
        if not self._validate_parent(row, key, FloorForm, ["level"], {"level": level}, floor, "楼层", "floor"):
            return None
        self.floors[(campus.name, building.name, level)] = floor
        self.new_floors.append(floor)
        if (campus.name, building.name) in self.levels:
            self.levels[(campus.name, building.name)].add(level)
        return floor

    # --- Rows -------------------------------------------------------------------------------------------------
    def plan(self, row: ParsedRow) -> Plan | None:
        values = row.values
        campus_name = values["campus"]
        building_name = values.get("building") or ""
        level = values.get("floor")
        number = values.get("number") or ""
        name = values["name"]
        if level is not None and not building_name:
            self.error(row, "填写了楼层，但没有填写楼栋。室外区域请把楼层留空。", "floor")
            return None
        place = (campus_name, building_name)
        if number:
            if not self.claim_key(row, ("number", *place, number), "校区、楼栋和房间号"):
                return None
        else:
            same = ("name", *place, level if "floor" in self.data.mapped_fields else None, name)
            if not self.claim_key(row, same, "校区、楼栋、楼层和名称"):
                return None
        room = self.find_room(row, place, number, name, level)
        if room is False:
            return None

        campus = self.campus_for(row, campus_name)
        if campus is None:
            return None
        building = self.building_for(row, campus, building_name) if building_name else None
        if building_name and building is None:
            return None
        floor = self.floor_for(row, campus, building, level) if level is not None else None
        if level is not None and floor is None:
            return None

        instance = room if room is not None else self.new_instance(row)
        instance.campus = campus
        instance.building = building
        if "floor" in self.data.mapped_fields or instance._state.adding:
            instance.floor = floor
        return self.plan_instance(row, instance)

    def find_room(self, row: ParsedRow, place: tuple, number: str, name: str, level: int | None):
        """The existing room this row describes; None for a new one; False (with an error) if ambiguous."""
        with_floor = "floor" in self.data.mapped_fields
        if number:
            matches = self.by_number.get((*place, number), [])
            if not matches:
                # A room registered earlier without a number, now given one.
                matches = [r for r in self.by_name.get((*place, name), []) if not r.number]
                if with_floor:
                    matches = [r for r in matches if (r.floor.level if r.floor_id else None) == level]
        else:
            matches = self.by_name.get((*place, name), [])
            if with_floor and len(matches) > 1:
                matches = [r for r in matches if (r.floor.level if r.floor_id else None) == level]
        if len(matches) > 1:
            hint = "请填写房间号以区分。" if not number else "请先在系统中处理重复的房间。"
            self.error(row, f"系统中有 {len(matches)} 个房间与这一行匹配，无法确定更新哪一个。{hint}")
            return False
        return matches[0] if matches else None

    # --- Writing ------------------------------------------------------------------------------------------------
    def write(self, plans: list[Plan]) -> list:
        saved: list = []
        for campus in self.new_campuses:
            campus.save()
            saved.append(campus)
        for building in self.new_buildings:
            levels = self.levels.get((building.campus.name, building.name), set())
            building.floors_above = max([1, *(lv for lv in levels if lv > 0)])
            building.floors_below = max([0, *(-lv for lv in levels if lv < 0)])
            building.campus = building.campus  # picks up the id of a campus saved just above
            building.save()
            saved.append(building)
        for floor in self.new_floors:
            floor.building = floor.building
            floor.save()
            saved.append(floor)
        for plan in plans:
            if plan.action in (Action.CREATE, Action.UPDATE):
                room = plan.instance
                for name in ("campus", "building", "floor"):
                    related = getattr(room, name, None)
                    if related is not None:
                        setattr(room, name, related)
                room.save()
                saved.append(room)
                self.row_written()
        return saved

    def extra_counts(self) -> list[tuple[str, int]]:
        return [("新建校区", len(self.new_campuses)), ("新建楼栋", len(self.new_buildings)),
                ("新建楼层", len(self.new_floors))]
