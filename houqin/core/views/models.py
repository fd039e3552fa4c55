"""Model UIs of core: organisations, places, school structure, users and roles, change log."""

from houqin.core import filtersets as fs
from houqin.core import forms as f
from houqin.core import models as m
from houqin.core import navigation
from houqin.core import tables as t
from houqin.core.ui import ModelUI, register


@register
class OrganizationUI(ModelUI):
    model = m.Organization
    filterset_class = fs.OrganizationFilterSet
    table_class = t.OrganizationTable
    form_class = f.OrganizationForm
    select_related = ("parent",)
    menu = ("system", "学校与单位", "ti ti-school")
    can_delete = False  # a school is deactivated (启用 off), never deleted: its records must stay
    # Adding needs core.add_organization, which no role grants: only the installation's superuser adds schools.
    detail_fields = ("name", "short_name", "kind", "code", "parent", "address", "phone", "principal_name",
                     "pupil_count", "staff_count", "is_active")
    related = (("下属学校", "children", t.OrganizationTable),)


@register
class CampusUI(ModelUI):
    model = m.Campus
    url_prefix = "campuses"
    filterset_class = fs.CampusFilterSet
    table_class = t.CampusTable
    form_class = f.CampusForm
    select_related = ("org",)
    menu = ("places", "校区", "ti ti-map-pin")
    related = (("楼栋", "buildings", t.BuildingTable),)


@register
class BuildingUI(ModelUI):
    model = m.Building
    filterset_class = fs.BuildingFilterSet
    table_class = t.BuildingTable
    form_class = f.BuildingForm
    select_related = ("campus",)
    menu = ("places", "楼栋", "ti ti-building")
    related = (("楼层", "floors", t.FloorTable), ("房间", "rooms", t.RoomTable))


@register
class FloorUI(ModelUI):
    model = m.Floor
    filterset_class = fs.FloorFilterSet
    table_class = t.FloorTable
    form_class = f.FloorForm
    select_related = ("building__campus",)
    related = (("房间", "rooms", t.RoomTable),)


@register
class RoomUI(ModelUI):
    model = m.Room
    filterset_class = fs.RoomFilterSet
    table_class = t.RoomTable
    form_class = f.RoomForm
    select_related = ("campus", "building", "floor", "responsible", "department")
    menu = ("places", "房间与区域", "ti ti-door")


navigation.add_item("places", navigation.MenuItem("导入场所", "core:import_locations", "core.add_room",
                                                  "ti ti-file-import"))


@register
class DepartmentUI(ModelUI):
    model = m.Department
    filterset_class = fs.DepartmentFilterSet
    table_class = t.DepartmentTable
    form_class = f.DepartmentForm
    select_related = ("head",)
    menu = ("places", "部门", "ti ti-sitemap")


@register
class SchoolClassUI(ModelUI):
    model = m.SchoolClass
    url_prefix = "classes"
    filterset_class = fs.SchoolClassFilterSet
    table_class = t.SchoolClassTable
    form_class = f.SchoolClassForm
    select_related = ("head_teacher", "home_room__campus", "home_room__building")
    menu = ("places", "班级", "ti ti-users-group")


@register
class SchoolYearUI(ModelUI):
    model = m.SchoolYear
    url_prefix = "school-years"
    filterset_class = fs.SchoolYearFilterSet
    table_class = t.SchoolYearTable
    form_class = f.SchoolYearForm
    menu = ("places", "学年", "ti ti-calendar")
    related = (("学期", "terms", t.TermTable),)


@register
class TermUI(ModelUI):
    model = m.Term
    filterset_class = fs.TermFilterSet
    table_class = t.TermTable
    form_class = f.TermForm
    select_related = ("school_year",)
    menu = ("places", "学期", "ti ti-calendar-event")


@register
class UserUI(ModelUI):
    model = m.User
    filterset_class = fs.UserFilterSet
    table_class = t.UserTable
    form_class = f.UserForm
    prefetch_related = ("memberships__role",)
    menu = ("system", "用户", "ti ti-user")
    attachments = False
    can_delete = False  # accounts are disabled (启用 off), never deleted: the change log refers to them
    detail_fields = ("username", "full_name", "phone", "email", "is_active", "last_login", "date_joined")
    related = (("角色分配", "memberships", t.MembershipTable),)


@register
class MembershipUI(ModelUI):
    model = m.Membership
    filterset_class = fs.MembershipFilterSet
    table_class = t.MembershipTable
    form_class = f.MembershipForm
    select_related = ("user", "role", "org")
    menu = ("system", "角色分配", "ti ti-id-badge")
    can_edit = False
    attachments = False
    detail_fields = ("user", "org", "role", "created_at")


@register
class ChangeLogUI(ModelUI):
    model = m.ChangeLogEntry
    url_prefix = "changelog"
    filterset_class = fs.ChangeLogFilterSet
    table_class = t.ChangeLogTable
    select_related = ("content_type",)
    menu = ("system", "变更记录", "ti ti-history")
    can_add = can_edit = can_delete = False
    attachments = False
    detail_view = None  # set below

    @classmethod
    def urls(cls):
        from houqin.core.views.pages import ChangeLogEntryDetailView

        cls.detail_view = ChangeLogEntryDetailView
        return [p for p in super().urls() if not p.name.endswith("_changelog")]
