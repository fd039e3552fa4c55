import datetime
import io

import pytest
from django.apps import apps
from django.contrib.auth.password_validation import validate_password
from django.core.management import CommandError, call_command

from houqin.core import demo
from houqin.core.models import (
    Campus,
    ChangeLogEntry,
    Membership,
    Organization,
    OrgKind,
    Room,
    RoomType,
    SchoolClass,
    Term,
    User,
)
from houqin.core.roles import ROLES
from houqin.core.testing.demo_checks import demo_checks

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("demo", *args, stdout=out)
    return out.getvalue()


def test_demo_password_passes_the_validators():
    validate_password(demo.DEMO_PASSWORD)


def check_core_demo():

    bureau = Organization.objects.get(code=demo.ORG_CODES[demo.BUREAU])
    assert bureau.kind == OrgKind.BUREAU and bureau.name.endswith("县教育局")
    schools = Organization.objects.filter(parent=bureau)
    assert sorted(schools.values_list("kind", flat=True)) == [OrgKind.KINDERGARTEN, OrgKind.PRIMARY]

    primary = schools.get(kind=OrgKind.PRIMARY)
    classes = SchoolClass.objects.filter(org=primary)
    assert 35 <= classes.count() <= 45
    assert 1700 <= primary.pupil_count <= 1900
    assert primary.pupil_count == sum(classes.values_list("pupil_count", flat=True))
    assert sorted(Campus.objects.filter(org=primary).values_list("name", flat=True)) == ["北园", "南园"]
    assert Room.objects.filter(org=primary, building=None, room_type=RoomType.OUTDOOR).exists()
    for school_class in classes.select_related("home_room", "head_teacher"):
        assert school_class.home_room.org_id == primary.pk
        assert school_class.home_room.room_type == RoomType.CLASSROOM
        assert school_class.head_teacher.memberships.filter(org=primary, role__code="teacher").exists()

    kindergarten = schools.get(kind=OrgKind.KINDERGARTEN)
    assert 250 <= kindergarten.pupil_count <= 350
    assert set(SchoolClass.objects.filter(org=kindergarten).values_list("grade", flat=True)) == {21, 22, 23, 24}

    for school in schools:
        term = Term.current_for(school, datetime.date(2026, 11, 21))
        assert term is not None and term.name == "2026-2027学年 第一学期"

    held = set(Membership.objects.values_list("role__code", flat=True))
    assert {r.code for r in ROLES} <= held
    for membership in Membership.objects.select_related("role"):
        if membership.role.scope == "bureau":
            assert membership.org_id == bureau.pk
        else:
            assert membership.org_id in {s.pk for s in schools}
    assert not User.objects.filter(default_org=None).exists()
    assert User.objects.get(username="admin").is_superuser

    # Written as 系统 in the change log.
    assert set(ChangeLogEntry.objects.values_list("user_name", "request_id").distinct()) == {("系统", "demo")}


def all_row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for config in apps.get_app_configs()
            if config.name.startswith("houqin.") for model in config.get_models()}


def test_the_whole_demo_once(client, settings):
    """One run of the whole demo (every app's steps), checked by core and by every app's demo checks
    (houqin/<app>/tests/demo_checks*.py); a second run writes nothing; the accounts log in; a changed password
    survives a re-run and --reset-passwords restores the demo password."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    seen = []

    @demo.demo_step("测试步骤", order=500)
    def extra(ctx):
        seen.append((ctx.org(demo.PRIMARY).pupil_count, ctx.user("zongwu").username, len(ctx.home_rooms)))

    try:
        run("--quiet")
    finally:
        del demo.DEMO_STEPS[f"{extra.__module__}.{extra.__qualname__}"]
    # Registered steps run after the core steps, with the context they need.
    assert len(seen) == 1
    pupils, username, home_rooms = seen[0]
    assert pupils > 0 and username == "zongwu" and home_rooms == 51

    check_core_demo()
    checks = demo_checks()
    assert {name.split(".")[1] for name, _ in checks} >= {"assets", "repairs"}
    for _name, check in checks:
        check()

    for username in ("jyj", "principal", "yey_yz"):
        assert client.login(username=username, password=demo.DEMO_PASSWORD), username
    zongwu = User.objects.get(username="zongwu")
    zongwu.set_password("Changed#Pass99")
    zongwu.save()

    first = all_row_counts()
    output = run()
    assert all_row_counts() == first  # includes the change log and every app's rows: the second run writes nothing
    assert "没有任何改动" in output
    for username in ("admin", "jyj", "duban", "zongwu", "yey_yz", "jiaoshi1"):
        assert username in output
    assert demo.DEMO_PASSWORD in output and demo.DEMO_URL in output
    assert not client.login(username="zongwu", password=demo.DEMO_PASSWORD)  # a changed password survives
    run("--quiet", "--reset-passwords")
    assert client.login(username="zongwu", password=demo.DEMO_PASSWORD)


def test_demo_refuses_a_database_with_other_organisations():
    Organization.objects.create(kind=OrgKind.BUREAU, name="正式教育局", code="REAL-1")
    with pytest.raises(CommandError, match="--force"):
        run("--quiet")
    assert not Organization.objects.filter(code=demo.ORG_CODES[demo.BUREAU]).exists()
