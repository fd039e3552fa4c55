"""Extensions of the staged import framework: import options chosen on the preview, batches with model validation,
the bulk writers with their change log, two-row headers, total rows and dates without a day."""

from __future__ import annotations

import datetime
import io

import openpyxl
import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from houqin.core import changelog, context
from houqin.core.forms import DepartmentForm
from houqin.core.importing import (
    CellError,
    Importer,
    ImportField,
    ImportOption,
    ImportResult,
    Missing,
    commit,
    load_data,
    validate,
)
from houqin.core.importing.bulk import bulk_create_logged, bulk_update_logged, insert_rows, search_index, wide_batches
from houqin.core.importing.locations import LocationImporter
from houqin.core.importing.options import clean_options, form_values, options_form
from houqin.core.importing.values import choice_parser, parse_bool, parse_date
from houqin.core.models import Campus, ChangeLogEntry, Department, Membership, Organization, OrgKind, Role, User
from houqin.core.models.orgs import DepartmentKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def school(db):
    return Organization.objects.create(kind=OrgKind.PRIMARY, name="选项实验小学", code="OPT-A")


@pytest.fixture
def admin(school):
    user = User.objects.create_user("opt_admin", password="opt-Passw0rd!", full_name="选项管理员", default_org=school)
    Membership.objects.create(user=user, org=school, role=Role.objects.get(code="school_admin"))
    return user


def xlsx(rows, merges=()) -> bytes:
    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append(list(row))
    for cells in merges:
        wb.active.merge_cells(cells)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def data_for(tmp_path, content: bytes, importer, name="f.xlsx"):
    path = tmp_path / name
    path.write_bytes(content)
    return load_data(path, path.suffix, importer.fields)


# --- Options -------------------------------------------------------------------------------------------------------
def _campuses(user, org):
    return [(c.pk, c.name) for c in Campus.objects.filter(org=org).order_by("name")]


OPTIONS = (
    ImportOption("create", "创建缺少的校区", default=False, show="missing"),
    ImportOption("campus", "放在哪个校区", choices=_campuses),
    ImportOption("secret", "只给超级用户", default=True, available=lambda user, org: user.is_superuser),
)


def test_options_are_cleaned_against_what_is_offered_now(school, admin):
    north = Campus.objects.create(org=school, name="北园")
    south = Campus.objects.create(org=school, name="南园")
    values, problems = clean_options(OPTIONS, None, admin, school)
    assert (values, problems) == ({"create": False, "campus": str(north.pk), "secret": True}, [])
    values, problems = clean_options(OPTIONS, {"create": "on", "campus": south.pk, "secret": False}, admin, school)
    assert values == {"create": True, "campus": str(south.pk), "secret": True}  # not available: its default
    south.delete()
    values, problems = clean_options(OPTIONS, {"campus": str(south.pk)}, admin, school)
    assert values["campus"] == str(north.pk)
    assert problems == ["导入选项“放在哪个校区”的选择已失效，请在预览页重新选择后再导入。"]


def test_the_options_form_offers_what_the_user_may_set(school, admin):
    north = Campus.objects.create(org=school, name="北园")
    form = options_form(OPTIONS, admin, school, {"create": True, "campus": str(north.pk)})
    assert list(form.fields) == ["opt_create", "opt_campus"] and form["opt_create"].field.show == "missing"
    bound = options_form(OPTIONS, admin, school, {}, data={"opt_create": "on", "opt_campus": str(north.pk)})
    assert bound.is_valid() and form_values(bound) == {"create": True, "campus": str(north.pk)}
    assert not options_form(OPTIONS, admin, school, {}, data={"opt_campus": "999999"}).is_valid()
    assert options_form((), admin, school, {}) is None


def test_missing_values_travel_with_the_result():
    result = ImportResult(total=2, missing=[Missing("部门", [("信息中心", 2, "将新建")], "说明")])
    again = ImportResult.from_dict(result.to_dict())
    assert again.missing == [Missing("部门", [("信息中心", 2, "将新建")], "说明")]


# --- Batches and model validation ------------------------------------------------------------------------------------
class BatchDepartmentImporter(Importer):
    """A flat register written in batches of two, validated with the model's rules (no form per row)."""

    key = "test-departments-batched"
    title = "部门"
    model = Department
    form_class = DepartmentForm
    key_fields = ("name",)
    batch_size = 2
    validate_with = "model"
    options = (ImportOption("prefix", "名称前缀", default=False),)
    fields = (
        ImportField("name", "部门名称", ("部门",), required=True),
        ImportField("kind", "部门类型", ("类型",), parser=choice_parser(DepartmentKind.choices),
                    default=DepartmentKind.OFFICE, keep_when_empty=True),
        ImportField("code", "编码"),
        ImportField("phone", "电话", ("联系电话",)),
        ImportField("is_active", "启用", ("是否启用",), parser=parse_bool),
    )

    def plan(self, row):
        if self.options["prefix"] and row.values.get("name"):
            row.values["name"] = f"新{row.values['name']}"
        return super().plan(row)

    def write(self, plans):
        new = [p.instance for p in plans if p.action == "create"]
        changed = [p.instance for p in plans if p.action == "update"]
        bulk_create_logged(new)
        bulk_update_logged(changed)
        for _ in range(len(new) + len(changed)):
            self.row_written()
        return [*new, *changed]


HEADER = ["部门", "类型", "编码", "联系电话", "是否启用"]


def test_batches_create_update_and_log_like_save(tmp_path, school, admin):
    rows = [HEADER, *[[f"部门{i}", "行政部门", f"D{i}", "", "是"] for i in range(5)]]
    seen = []
    data = data_for(tmp_path, xlsx(rows), BatchDepartmentImporter)
    result = commit(BatchDepartmentImporter, data, admin, school, progress=lambda d, t: seen.append((d, t)))
    assert result.committed and result.created == 5, result.errors
    assert seen[0] == (1, 10) and seen[-1] == (10, 10)
    department = Department.objects.get(org=school, name="部门3")
    departments = ContentType.objects.get_for_model(Department)
    entry = ChangeLogEntry.objects.get(action="create", content_type=departments, object_id=str(department.pk))
    assert entry.user == admin and entry.after == changelog.snapshot(department)
    assert department.search_index == search_index(department)
    department.refresh_search_index()
    assert department.search_index == search_index(department) and "bm" in department.search_index

    rows[2][3], rows[4][2] = "0571-1", "X4"
    again = commit(BatchDepartmentImporter, data_for(tmp_path, xlsx(rows), BatchDepartmentImporter), admin, school)
    assert (again.created, again.updated, again.unchanged) == (0, 2, 3)
    update = ChangeLogEntry.objects.get(action="update", content_type=departments,
                                        object_id=str(Department.objects.get(name="部门1").pk))
    assert (update.before, update.after) == ({"phone": ""}, {"phone": "0571-1"})
    assert Department.objects.get(name="部门3").code == "X4"


def test_model_validation_reports_each_rule_under_its_column(tmp_path, school, admin):
    rows = [HEADER, ["部门甲", "行政部门", "X" * 30, "", ""], ["", "教研组", "", "", ""],
            ["部门乙", "处室", "", "", ""], ["部门甲", "", "", "", ""]]
    result = validate(BatchDepartmentImporter, data_for(tmp_path, xlsx(rows), BatchDepartmentImporter), admin,
                      school)
    errors = [(e.row, e.column, e.message) for e in result.errors]
    assert any(e[:2] == (2, "C 列「编码」") and "20" in e[2] and "30" in e[2] for e in errors)  # Django's own words
    assert (3, "A 列「部门」", "“部门名称”必须填写。") in errors
    assert any(e[0] == 4 and e[1] == "B 列「类型」" for e in errors)
    assert any(e[0] == 5 and "与第 2 行重复" in e[2] for e in errors)


def test_options_reach_the_importer(tmp_path, school, admin):
    data = data_for(tmp_path, xlsx([HEADER, ["总务处", "", "", "", ""]]), BatchDepartmentImporter)
    assert commit(BatchDepartmentImporter, data, admin, school, options={"prefix": True}).committed
    assert Department.objects.filter(org=school, name="新总务处").exists()


def test_batch_queries_do_not_grow_with_rows(tmp_path, school, admin):
    def queries(n, offset):
        rows = [HEADER, *[[f"部门{offset + i}", "", "", "", ""] for i in range(n)]]
        data = data_for(tmp_path, xlsx(rows), BatchDepartmentImporter)
        BatchDepartmentImporter.batch_size = 50
        try:
            with CaptureQueriesContext(connection) as captured:
                assert commit(BatchDepartmentImporter, data, admin, school).committed
        finally:
            BatchDepartmentImporter.batch_size = 2
        return len(captured)

    small, large = queries(50, 0), queries(500, 1000)
    assert large <= small * 10 + 5 and large < 150, (small, large)


# --- The bulk writers ------------------------------------------------------------------------------------------------
def test_bulk_writers_match_save(school, admin):
    with context.acting_as(admin, org_id=school.pk):
        departments = bulk_create_logged([Department(org=school, name=f"批量{i}", code=f"P{i}") for i in range(3)])
    assert all(d.pk and not d._state.adding for d in departments)
    entries = ChangeLogEntry.objects.filter(action="create", object_id__in=[str(d.pk) for d in departments],
                                            content_type__model="department")
    assert entries.count() == 3 and {e.user for e in entries} == {admin}
    assert insert_rows(Campus, ["org_id", "name", "code", "address", "search_index", "created_at", "updated_at"],
                       [(school.pk, "东园", "", "", "东园", datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
                         datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))]) == 1
    assert Campus.objects.get(org=school, name="东园").created_at.year == 2026
    limit = connection.features.max_query_params
    with wide_batches():
        pass
    assert connection.features.max_query_params == limit and "max_query_params" not in connection.features.__dict__


# --- Headers, totals and dates ---------------------------------------------------------------------------------------
def test_two_row_header_with_merged_cells(tmp_path):
    rows = [["各校区房间一览"], ["位置", None, None, "房间", None, "面积(㎡)"],
            ["校区", "楼栋", "楼层", "房间号", "名称", None], ["南园", "明德楼", 1, "101", "教室", 72],
            ["小计", None, None, None, None, 72], ["南园", "明德楼", 2, "201", "美术室", 90]]
    data = data_for(tmp_path, xlsx(rows, merges=("A1:F1", "A2:C2", "D2:E2", "F2:F3")), LocationImporter)
    assert (data.header_row, data.header_depth) == (2, 2)
    assert data.mapping == {0: "campus", 1: "building", 2: "floor", 3: "number", 4: "name", 5: "area_m2"}
    assert [n for n, _ in data.rows] == [4, 6] and data.skipped == [(5, "合计行“小计”，已忽略")]


def test_a_data_row_below_the_header_is_not_taken_for_a_sub_header(tmp_path):
    rows = [["校区", "楼栋", "名称"], ["南园", "明德楼", "名称"]]  # text only, but it names nothing new
    data = data_for(tmp_path, xlsx(rows), LocationImporter)
    assert data.header_depth == 1 and len(data.rows) == 1


@pytest.mark.parametrize(("value", "expected"), [
    (2019.9, datetime.date(2019, 9, 1)), (2019.12, datetime.date(2019, 12, 1)), (2019, datetime.date(2019, 1, 1)),
    ("2019.9", datetime.date(2019, 9, 1)), ("2019-09", datetime.date(2019, 9, 1)),
    ("2019/9", datetime.date(2019, 9, 1)),
    ("2019年9月", datetime.date(2019, 9, 1)), ("2019 年 9 月份", datetime.date(2019, 9, 1)),
    ("201909", datetime.date(2019, 9, 1)), ("2019年", datetime.date(2019, 1, 1)), (43709, datetime.date(2019, 9, 1)),
])
def test_months_without_a_day(value, expected):
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", ["2019.13", 2019.123, "2019年13月", "1850.3"])
def test_bad_months(value):
    with pytest.raises(CellError):
        parse_date(value)
