"""Organisations (bureau → schools and kindergartens) and the school's own structure: departments,
classes, school years and terms."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from houqin.core.models.base import (
    ChangeLoggedModel,
    RestrictedQuerySet,
    SearchableModel,
    TenantModel,
    TimeStampedModel,
)


class OrgKind(models.TextChoices):
    BUREAU = "bureau", "教育局"
    PRIMARY = "primary", "小学"
    MIDDLE = "middle", "初级中学"
    NINE_YEAR = "nine_year", "九年一贯制学校"
    HIGH = "high", "高级中学"
    COMPLETE = "complete", "完全中学"
    KINDERGARTEN = "kindergarten", "幼儿园"


class OrganizationQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        from houqin.core.auth import access_for

        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(pk__in=sorted(access_for(user).orgs_for(f"core.{action}_organization")))

    def schools(self):
        return self.exclude(kind=OrgKind.BUREAU)


class Organization(ChangeLoggedModel, SearchableModel, TimeStampedModel):
    """A bureau (教育局) or one of its schools/kindergartens. Every domain row belongs to one of these."""

    org_field = "pk"
    search_fields = ("name", "short_name", "code")

    kind = models.CharField("类型", max_length=20, choices=OrgKind.choices)
    name = models.CharField("名称", max_length=100)
    short_name = models.CharField("简称", max_length=40, blank=True)
    code = models.CharField("机构代码", max_length=40, unique=True, help_text="统一社会信用代码或教育局编码")
    parent = models.ForeignKey(
        "self", verbose_name="上级教育局", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    address = models.CharField("地址", max_length=200, blank=True)
    phone = models.CharField("联系电话", max_length=40, blank=True)
    principal_name = models.CharField("负责人", max_length=40, blank=True)
    pupil_count = models.PositiveIntegerField("在校学生数", default=0)
    staff_count = models.PositiveIntegerField("教职工数", default=0)
    is_active = models.BooleanField("启用", default=True)
    settings = models.JSONField("单位设置", default=dict, blank=True)

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        verbose_name = "单位"
        verbose_name_plural = "单位"
        ordering = ["kind", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind=OrgKind.BUREAU, parent__isnull=True) | ~Q(kind=OrgKind.BUREAU),
                name="org_bureau_is_top_level",
            )
        ]

    def __str__(self):
        return self.name

    @property
    def org_id(self):  # an organisation owns itself (tenancy checks use obj.org_id)
        return self.pk

    @property
    def is_bureau(self) -> bool:
        return self.kind == OrgKind.BUREAU

    def clean(self):
        if self.kind == OrgKind.BUREAU and self.parent_id:
            raise ValidationError({"parent": "教育局不能再有上级单位。"})
        if self.kind != OrgKind.BUREAU and self.parent_id and self.parent.kind != OrgKind.BUREAU:
            raise ValidationError({"parent": "学校的上级单位必须是教育局。"})


class DepartmentKind(models.TextChoices):
    OFFICE = "office", "行政部门"
    GRADE = "grade", "年级组"
    SUBJECT = "subject", "教研组"
    OTHER = "other", "其他"


class Department(TenantModel):
    """A department of a school: 总务处, 教务处, 年级组 …"""

    name = models.CharField("部门名称", max_length=60)
    kind = models.CharField("部门类型", max_length=20, choices=DepartmentKind.choices, default=DepartmentKind.OFFICE)
    code = models.CharField("部门编码", max_length=20, blank=True)
    head = models.ForeignKey(
        "core.User", verbose_name="负责人", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    phone = models.CharField("电话", max_length=40, blank=True)
    is_active = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = "部门"
        verbose_name_plural = "部门"
        ordering = ["org", "kind", "name"]
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="department_unique_name")]

    def __str__(self):
        return self.name


class Grade(models.IntegerChoices):
    G1 = 1, "一年级"
    G2 = 2, "二年级"
    G3 = 3, "三年级"
    G4 = 4, "四年级"
    G5 = 5, "五年级"
    G6 = 6, "六年级"
    G7 = 7, "七年级"
    G8 = 8, "八年级"
    G9 = 9, "九年级"
    G10 = 10, "高一"
    G11 = 11, "高二"
    G12 = 12, "高三"
    NURSERY = 21, "托班"
    JUNIOR = 22, "小班"
    MIDDLE = 23, "中班"
    SENIOR = 24, "大班"


class SchoolClass(TenantModel):
    """A class (班级): 一年级(1)班, 大班(2)班 …"""

    search_fields = ("name",)

    grade = models.PositiveSmallIntegerField("年级", choices=Grade.choices)
    number = models.PositiveSmallIntegerField("班号")
    name = models.CharField("班级名称", max_length=40, blank=True, help_text="留空则自动生成，如：一年级(1)班")
    head_teacher = models.ForeignKey(
        "core.User", verbose_name="班主任", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pupil_count = models.PositiveSmallIntegerField("学生人数", default=0)
    home_room = models.ForeignKey(
        "core.Room", verbose_name="教室", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField("在读", default=True)

    class Meta:
        verbose_name = "班级"
        verbose_name_plural = "班级"
        ordering = ["org", "grade", "number"]
        constraints = [models.UniqueConstraint(fields=["org", "grade", "number"], name="class_unique_number")]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if not self.name:
            self.name = f"{Grade(self.grade).label}({self.number})班"
        super().save(*args, **kwargs)

    def clean(self):
        if self.home_room_id and self.org_id and self.home_room.org_id != self.org_id:
            raise ValidationError({"home_room": "教室必须属于本校。"})


class SchoolYear(TenantModel):
    """A school year (学年), e.g. 2025-2026学年, from September to the following summer."""

    name = models.CharField("学年", max_length=20, help_text="如：2025-2026学年")
    start_date = models.DateField("开始日期")
    end_date = models.DateField("结束日期")

    class Meta:
        verbose_name = "学年"
        verbose_name_plural = "学年"
        ordering = ["org", "-start_date"]
        constraints = [
            models.UniqueConstraint(fields=["org", "name"], name="schoolyear_unique_name"),
            models.CheckConstraint(condition=Q(end_date__gt=models.F("start_date")), name="schoolyear_dates"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if self.start_date and self.end_date and self.end_date <= self.start_date:
            raise ValidationError({"end_date": "结束日期必须晚于开始日期。"})

    @staticmethod
    def name_for(start_year: int) -> str:
        return f"{start_year}-{start_year + 1}学年"


class TermKind(models.IntegerChoices):
    FIRST = 1, "第一学期"
    SECOND = 2, "第二学期"


class Term(TenantModel):
    """A term (学期) within a school year: 第一学期 (autumn) and 第二学期 (spring)."""

    search_fields = ("name",)

    school_year = models.ForeignKey(SchoolYear, verbose_name="学年", on_delete=models.CASCADE, related_name="terms")
    kind = models.PositiveSmallIntegerField("学期", choices=TermKind.choices)
    name = models.CharField("名称", max_length=40, blank=True, help_text="留空则自动生成，如：2025-2026学年 第一学期")
    start_date = models.DateField("开始日期")
    end_date = models.DateField("结束日期")

    class Meta:
        verbose_name = "学期"
        verbose_name_plural = "学期"
        ordering = ["org", "-start_date"]
        constraints = [
            models.UniqueConstraint(fields=["school_year", "kind"], name="term_unique_kind"),
            models.CheckConstraint(condition=Q(end_date__gt=models.F("start_date")), name="term_dates"),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if not self.name and self.school_year_id:
            self.name = f"{self.school_year.name} {TermKind(self.kind).label}"
        super().save(*args, **kwargs)

    def clean(self):
        errors = {}
        if self.start_date and self.end_date and self.end_date <= self.start_date:
            errors["end_date"] = "结束日期必须晚于开始日期。"
        if self.school_year_id and self.start_date and self.end_date:
            year = self.school_year
            if self.org_id and year.org_id != self.org_id:
                errors["school_year"] = "学年必须属于本校。"
            elif self.start_date < year.start_date or self.end_date > year.end_date:
                errors["start_date"] = f"学期必须在学年（{year.start_date} 至 {year.end_date}）之内。"
        if errors:
            raise ValidationError(errors)

    @classmethod
    def current_for(cls, org, day: datetime.date | None = None):
        day = day or datetime.date.today()
        return cls.objects.filter(org=org, start_date__lte=day, end_date__gte=day).first()
