"""Places of a school: campus (校区) → building (楼栋) → floor (楼层) → room (房间/区域)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from houqin.core.models.base import TenantModel


class Campus(TenantModel):
    """A campus of a school (校区), e.g. 南园 and 北园."""

    search_fields = ("name", "code")

    name = models.CharField("校区名称", max_length=60)
    code = models.CharField("校区编码", max_length=20, blank=True)
    address = models.CharField("地址", max_length=200, blank=True)
    area_m2 = models.DecimalField("占地面积(㎡)", max_digits=12, decimal_places=2, null=True, blank=True)

    class Meta:
        verbose_name = "校区"
        verbose_name_plural = "校区"
        ordering = ["org", "name"]
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="campus_unique_name")]

    def __str__(self):
        return self.name


class BuildingUse(models.TextChoices):
    TEACHING = "teaching", "教学楼"
    OFFICE = "office", "办公楼"
    LAB = "lab", "实验楼"
    DORM = "dorm", "宿舍楼"
    CANTEEN = "canteen", "食堂"
    GYM = "gym", "体育馆"
    OTHER = "other", "其他"


class Building(TenantModel):
    """A building (楼栋) on a campus."""

    search_fields = ("name", "code")

    campus = models.ForeignKey(Campus, verbose_name="校区", on_delete=models.PROTECT, related_name="buildings")
    name = models.CharField("楼栋名称", max_length=60)
    code = models.CharField("楼栋编码", max_length=20, blank=True)
    use = models.CharField("用途", max_length=20, choices=BuildingUse.choices, default=BuildingUse.TEACHING)
    floors_above = models.PositiveSmallIntegerField("地上层数", default=1)
    floors_below = models.PositiveSmallIntegerField("地下层数", default=0)
    built_year = models.PositiveSmallIntegerField("建成年份", null=True, blank=True)
    floor_area_m2 = models.DecimalField("建筑面积(㎡)", max_digits=12, decimal_places=2, null=True, blank=True)

    class Meta:
        verbose_name = "楼栋"
        verbose_name_plural = "楼栋"
        ordering = ["org", "campus", "name"]
        constraints = [models.UniqueConstraint(fields=["campus", "name"], name="building_unique_name")]

    def __str__(self):
        return f"{self.campus.name} {self.name}" if self.campus_id else self.name

    def clean(self):
        if self.campus_id and self.org_id and self.campus.org_id != self.org_id:
            raise ValidationError({"campus": "校区必须属于本校。"})


class Floor(TenantModel):
    """A floor (楼层) of a building; level 1 is the ground floor, negative levels are basements."""

    search_fields = ("name",)

    building = models.ForeignKey(Building, verbose_name="楼栋", on_delete=models.PROTECT, related_name="floors")
    level = models.SmallIntegerField("楼层", help_text="1 为一层，-1 为地下一层")
    name = models.CharField("名称", max_length=40, blank=True, help_text="留空则自动生成，如：3层")

    class Meta:
        verbose_name = "楼层"
        verbose_name_plural = "楼层"
        ordering = ["org", "building", "level"]
        constraints = [models.UniqueConstraint(fields=["building", "level"], name="floor_unique_level")]

    def __str__(self):
        return f"{self.building} {self.name}" if self.building_id else self.name

    def save(self, *args, **kwargs):
        if not self.name:
            self.name = f"{self.level}层" if self.level > 0 else f"地下{-self.level}层"
        super().save(*args, **kwargs)

    def clean(self):
        if self.level == 0:
            raise ValidationError({"level": "楼层不能为 0：一层填 1，地下一层填 -1。"})
        if self.building_id and self.org_id and self.building.org_id != self.org_id:
            raise ValidationError({"building": "楼栋必须属于本校。"})


class RoomType(models.TextChoices):
    CLASSROOM = "classroom", "教室"
    OFFICE = "office", "办公室"
    FUNCTION = "function", "功能室"
    LAB = "lab", "实验室"
    DORM = "dorm", "宿舍"
    CANTEEN = "canteen", "食堂"
    KITCHEN = "kitchen", "厨房"
    STOREROOM = "storeroom", "仓库"
    TOILET = "toilet", "卫生间"
    MEETING = "meeting", "会议室"
    SPORTS = "sports", "体育场馆"
    CLINIC = "clinic", "医务室"
    GUARD = "guard", "门卫室"
    EQUIPMENT = "equipment", "设备间"
    OUTDOOR = "outdoor", "室外区域"
    OTHER = "other", "其他"


class Room(TenantModel):
    """A room or an area (房间/区域). Outdoor areas (操场, 停车场) belong to a campus without a building."""

    search_fields = ("name", "number")

    campus = models.ForeignKey(Campus, verbose_name="校区", on_delete=models.PROTECT, related_name="rooms")
    building = models.ForeignKey(
        Building, verbose_name="楼栋", null=True, blank=True, on_delete=models.PROTECT, related_name="rooms"
    )
    floor = models.ForeignKey(
        Floor, verbose_name="楼层", null=True, blank=True, on_delete=models.PROTECT, related_name="rooms"
    )
    number = models.CharField("房间号", max_length=20, blank=True)
    name = models.CharField("名称", max_length=60)
    room_type = models.CharField("类型", max_length=20, choices=RoomType.choices, default=RoomType.CLASSROOM)
    area_m2 = models.DecimalField("面积(㎡)", max_digits=10, decimal_places=2, null=True, blank=True)
    capacity = models.PositiveSmallIntegerField("容纳人数", null=True, blank=True)
    responsible = models.ForeignKey(
        "core.User", verbose_name="责任人", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    department = models.ForeignKey(
        "core.Department", verbose_name="使用部门", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField("启用", default=True)
    note = models.CharField("备注", max_length=200, blank=True)

    class Meta:
        verbose_name = "房间"
        verbose_name_plural = "房间"
        ordering = ["org", "campus", "building", "floor", "number", "name"]
        indexes = [models.Index(fields=["org", "room_type"], name="room_org_type")]

    def __str__(self):
        return self.full_name

    @property
    def full_name(self) -> str:
        parts = [self.campus.name if self.campus_id else ""]
        if self.building_id:
            parts.append(self.building.name)
        parts.append(
            f"{self.number} {self.name}".strip() if self.number and self.number not in self.name else self.name
        )
        return " ".join(p for p in parts if p)

    def save(self, *args, **kwargs):
        if self.floor_id and not self.building_id:
            self.building_id = self.floor.building_id
        if self.building_id and not self.campus_id:
            self.campus_id = self.building.campus_id
        super().save(*args, **kwargs)

    def clean(self):
        errors = {}
        if self.floor_id and self.building_id and self.floor.building_id != self.building_id:
            errors["floor"] = "楼层不属于所选楼栋。"
        if self.building_id and self.campus_id and self.building.campus_id != self.campus_id:
            errors["building"] = "楼栋不属于所选校区。"
        for field in ("campus", "building", "floor", "department"):
            related = getattr(self, field) if getattr(self, f"{field}_id") else None
            if related is not None and self.org_id and related.org_id != self.org_id:
                errors[field] = "必须属于本校。"
        if errors:
            raise ValidationError(errors)
