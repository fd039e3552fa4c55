"""The national category tables (GB/T 14885), their loading, and the rules of a school's own categories."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from houqin.assets.categories import EDITIONS, ensure_categories, load_categories, national, read_rows
from houqin.assets.choices import CategoryValueClass
from houqin.assets.models import AssetCategory
from houqin.assets.tests.factories import make_asset, make_category

pytestmark = pytest.mark.django_db


def test_data_file_is_well_formed():
    rows = read_rows("2010")
    codes = {r.code for r in rows}
    # The six 门类 of GB/T 14885-2010 are there, each with 7-digit standard codes below it.
    assert {"1000000", "2000000", "3000000", "4000000", "5000000", "6000000"} <= codes
    for row in rows:
        if row.standard:
            assert len(row.code) == 7 and row.code.isdigit(), row.code
            assert not row.parent or row.code[0] == row.parent[0], row.code
        else:
            assert row.code.startswith(row.parent + "."), row.code  # extensions never look like standard codes
        if row.depreciable:
            assert row.default_life and row.min_life and row.default_life >= row.min_life, row.code
        assert row.value_class in CategoryValueClass.values
    by_code = {r.code: r for r in rows}
    # RULES.md: minimum lives and the classes that are never depreciated.
    assert by_code["2010000"].min_life == 6 and by_code["2020000"].min_life == 6
    assert by_code["2030000"].min_life == 8 and by_code["2100000"].min_life == 10
    assert by_code["2200000"].min_life == 5 and by_code["2310000"].min_life == 5 and by_code["2400000"].min_life == 5
    assert by_code["6010000"].min_life == 15 and by_code["6010000.01"].min_life == 5
    assert by_code["3310000"].min_life == 5 and by_code["3300000"].min_life == 5
    assert by_code["1020000"].min_life == 30 and by_code["1030000"].min_life == 8
    for code in ("1010000", "4000000", "4010000", "4020000", "5000000", "5010000", "5020000", "6030000"):
        assert not by_code[code].depreciable, code
    assert by_code["5010000"].batch


def test_loading_is_idempotent_and_builds_the_tree():
    for level in (4, 3, 2, 1):  # children first: a parent is protected while it has any
        AssetCategory.objects.filter(org__isnull=True, level=level).delete()
    first = load_categories("2010")
    assert first.created == len(read_rows("2010")) and first.updated == 0
    second = load_categories("2010")
    assert (second.created, second.updated, second.deactivated) == (0, 0, 0)
    assert second.unchanged == first.created
    computers = AssetCategory.objects.get(org__isnull=True, code="2010100")
    assert (computers.level, computers.path) == (3, "/2000000/2010000/2010100/")
    assert computers.parent.code == "2010000" and computers.is_standard
    assert "jsjsb" in computers.search_index  # 计算机设备 by its pinyin initials
    extension = AssetCategory.objects.get(org__isnull=True, code="6010000.01")
    assert not extension.is_standard and extension.scope_display == "系统扩展"


def test_loading_repairs_edited_rows_and_switches_off_dropped_ones():
    ensure_categories()
    AssetCategory.objects.filter(org__isnull=True, code="2010100").update(min_life_years=2, name="改过的名称")
    dropped = AssetCategory.objects.create(org=None, edition="2010", code="2999999", name="已取消的分类",
                                           parent=national("2000000"), default_life_years=5, min_life_years=5)
    result = load_categories("2010")
    assert (result.updated, result.deactivated) == (1, 1)
    computers = national("2010100")
    assert (computers.name, computers.min_life_years) == ("计算机设备", 6)
    dropped.refresh_from_db()
    assert not dropped.is_active and AssetCategory.objects.filter(pk=dropped.pk).exists()


def test_management_command():
    out = io.StringIO()
    call_command("load_asset_categories", stdout=out)
    assert "GB/T 14885-2010" in out.getvalue() and "新增 0 类" in out.getvalue()
    assert set(EDITIONS) == {"2010"}


def test_migration_loaded_the_categories():
    # The data migration filled the table of the test database (or a flushed database is refilled on demand).
    ensure_categories()
    assert AssetCategory.objects.filter(org__isnull=True, edition="2010").count() == len(read_rows("2010"))


# --- A card's useful life against the category minimum -------------------------------------------------------------
def test_useful_life_below_the_category_minimum_is_refused(world):
    with pytest.raises(ValidationError) as exc:
        make_asset(world.a.org, useful_life_years=4)
    message = exc.value.message_dict["useful_life_years"][0]
    assert message.startswith("使用年限不能低于“计算机设备”类资产的最低折旧年限 6 年")
    assert "《政府会计准则第3号——固定资产》应用指南" in message
    card = make_asset(world.a.org, useful_life_years=8)
    assert card.useful_life_years == 8
    assert make_asset(world.a.org).useful_life_years == 6  # the category's default


def test_building_minimum_follows_its_structure(world):
    with pytest.raises(ValidationError) as exc:
        make_asset(world.a.org, category="1020000", name="教学楼", unit_price="5000000", structure="concrete",
                   useful_life_years=40)
    assert "钢筋混凝土结构房屋的最低折旧年限 50 年" in exc.value.message_dict["useful_life_years"][0]
    simple = make_asset(world.a.org, category="1020000", name="自行车棚", unit_price="30000", structure="simple",
                        useful_life_years=8)
    assert simple.useful_life_years == 8
    with pytest.raises(ValidationError) as exc:
        make_asset(world.a.org, name="电脑", structure="simple")
    assert exc.value.message_dict["structure"] == ["只有土地、房屋及构筑物需要填写房屋结构。"]


# --- A school's own categories --------------------------------------------------------------------------------------
def test_school_category_rules(world):
    org = world.a.org
    own = make_category(org, "学生机房电脑")
    assert own.level == 4 and own.path == "/2000000/2010000/2010100/2010100.01/"
    assert own.scope_display == "本校自定义"

    def refused(**fields):
        data = {"org": org, "edition": "2010", "parent": national("2010100"), "code": "2010100.02",
                "name": "测试", "default_life_years": 6, "min_life_years": 6, **fields}
        with pytest.raises(ValidationError) as exc:
            AssetCategory(**data).full_clean()
        return exc.value.message_dict

    assert "不能低于上级分类“2010100 计算机设备”的最低折旧年限 6 年" in refused(min_life_years=3)["min_life_years"][0]
    assert refused(code="2010100")["code"] == ["该代码已是国家标准分类代码，请换一个代码（如在上级代码后加 .01）。"]
    assert refused(parent=None)["parent"] == ["自定义分类必须放在某个国家标准分类之下。"]
    books = refused(parent=national("5010000"))
    assert books["is_depreciable"] == ["上级分类“5010000 图书”不计提折旧，下级分类也不能计提折旧。"]
    assert refused(code="2010100.01")["__all__"] == ["本校已有此分类代码。"]
    # School B may use the same code for its own category.
    AssetCategory(org=world.b.org, edition="2010", parent=national("2010100"), code="2010100.01", name="乙校分类",
                  default_life_years=6, min_life_years=6).full_clean()


def test_national_rows_are_shared_and_own_rows_are_not(world):
    own = make_category(world.a.org, "甲校自定义分类")
    visible_b = AssetCategory.objects.restrict(world.admin_b, "view")
    assert visible_b.filter(pk=national("2010100").pk).exists()
    assert not visible_b.filter(pk=own.pk).exists()
    assert AssetCategory.objects.restrict(world.head_a, "view").filter(pk=own.pk).exists()
    assert AssetCategory.objects.restrict(world.bureau_admin, "view").filter(pk=own.pk).exists()
    # Nobody but a superuser changes a national row; a school changes its own.
    for user in (world.head_a, world.admin_a, world.bureau_admin):
        assert not AssetCategory.objects.restrict(user, "change").filter(org__isnull=True).exists()
    assert AssetCategory.objects.restrict(world.head_a, "change").filter(pk=own.pk).exists()
    assert not AssetCategory.objects.restrict(world.outsider, "view").exists()
    assert not AssetCategory.objects.restrict(world.teacher_a, "view").exists()
