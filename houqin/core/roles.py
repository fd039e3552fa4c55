"""The roles of DESIGN §2 as permission sets.

A role is a list of glob patterns over "app_label.codename" (Django's model permissions view/add/change/delete
plus any custom ones). Patterns are expanded against every installed permission after each migrate, so a new
domain app's models fall into the roles that name its app without editing this file. A membership in a bureau
grants its view permissions over every school of that bureau (read across schools); other bureau permissions
apply to the bureau itself only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import translate

VIEW_ALL = "*.view_*"
LOCATIONS = ("campus", "building", "floor", "room")
SCHOOL_STRUCTURE = ("department", "schoolclass", "schoolyear", "term")


def _crud(app: str, *models: str) -> list[str]:
    return [f"{app}.{action}_{m}" for m in models for action in ("view", "add", "change", "delete")]


@dataclass(frozen=True)
class RoleDefinition:
    code: str
    name: str
    scope: str  # "bureau" or "school"
    description: str
    patterns: tuple[str, ...]
    exclude: tuple[str, ...] = field(default=())


# Everyone who belongs to an organisation can see the organisation and its places and structure.
BASE = ("core.view_organization", *(f"core.view_{m}" for m in (*LOCATIONS, *SCHOOL_STRUCTURE)))
# Nobody but a superuser edits the log, roles or sequences: these are left out of every wildcard.
NEVER = (
    "core.add_changelogentry",
    "core.change_changelogentry",
    "core.delete_changelogentry",
    "core.*_role",
    "core.*_documentsequence",
    "core.*_loginattempt",
    "*.*_permission",
    "*.*_contenttype",
    "*.*_session",
    "*.*_group",
    "authtoken.*",
    # The approval trail is append-only and a request changes only through the engine's actions.
    "core.add_approvalaction",
    "core.change_approvalaction",
    "core.delete_approvalaction",
    "core.add_approvalrequest",
    "core.change_approvalrequest",
    "core.delete_approvalrequest",
)

ROLES: tuple[RoleDefinition, ...] = (
    RoleDefinition(
        "bureau_admin",
        "教育局管理员",
        "bureau",
        "查看所辖全部学校，管理本局账号",
        (
            VIEW_ALL,
            "core.change_organization",
            "core.add_user",
            "core.change_user",
            "core.add_membership",
            "core.change_membership",
            "core.delete_membership",
        ),
    ),
    RoleDefinition(
        "bureau_inspector",
        "教育局督查",
        "bureau",
        "只读查看所辖全部学校，开展验收与督查",
        (VIEW_ALL,),
        exclude=("core.view_user", "core.view_membership"),
    ),
    RoleDefinition(
        "school_admin",
        "系统管理员",
        "school",
        "管理本校账号、角色、场所与设置",
        (
            VIEW_ALL,
            "core.change_organization",
            "core.change_job",
            *_crud("core", *LOCATIONS, *SCHOOL_STRUCTURE, "user", "membership", "approvalpolicy", "approvalrule"),
            *_crud("core", "channelconfig"),
        ),
    ),
    RoleDefinition("principal", "校长/园长", "school", "审批、看板与学期总结", (VIEW_ALL,)),
    RoleDefinition(
        "logistics_head",
        "总务主任",
        "school",
        "主管后勤全部业务，审批与报表",
        (
            VIEW_ALL,
            *_crud("core", *LOCATIONS, "department", "schoolclass"),
            "assets.*",
            "stock.*",
            "repairs.*",
            "canteen.*",
            "safety.*",
            "dorms.*",
            "health.*",
            "energy.*",
            "cleaning.*",
            "staff.*",
            "feedback.*",
            "fees.*",
            "plans.*",
            "reports.*",
        ),
        exclude=("core.view_user", "core.view_membership"),
    ),
    RoleDefinition(
        "asset_keeper",
        "资产管理员",
        "school",
        "资产卡片、标签、调拨、盘点、处置与仓库",
        (*BASE, "core.view_changelogentry", "assets.*", "stock.*"),
    ),
    RoleDefinition(
        "technician",
        "维修工",
        "school",
        "手机接单、用料与完工",
        (*BASE, "repairs.view_*", "repairs.change_workorder", "assets.view_asset"),
    ),
    RoleDefinition("canteen_manager", "食堂管理员", "school", "进货查验、留样、消毒、菜谱与晨检", (*BASE, "canteen.*")),
    RoleDefinition(
        "canteen_staff",
        "食堂从业人员",
        "school",
        "填写晨检、留样、消毒记录",
        (*BASE, "canteen.view_*", "canteen.add_*"),
    ),
    RoleDefinition(
        "health_officer", "保健医/校医", "school", "晨检、因病缺课追踪、生长发育、消毒", (*BASE, "health.*")
    ),
    RoleDefinition("safety_officer", "安全员", "school", "安全检查、隐患、消防器材、值班与来访", (*BASE, "safety.*")),
    RoleDefinition(
        "guard",
        "门卫",
        "school",
        "来访登记、值班与巡查记录",
        (*BASE, "safety.view_visitor", "safety.add_visitor", "safety.change_visitor", "safety.add_patrollog"),
    ),
    RoleDefinition("dorm_staff", "宿管/生活老师", "school", "床位、查寝与宿舍检查", (*BASE, "dorms.*")),
    RoleDefinition(
        "teacher",
        "教师/班主任",
        "school",
        "扫码报修、领用申请、班级财产",
        (*BASE, "repairs.add_workorder", "stock.add_requisition"),
    ),
    RoleDefinition(
        "accountant",
        "财务/会计",
        "school",
        "资产价值、折旧、采购金额与食堂账务",
        (VIEW_ALL,),
        exclude=("core.view_user", "core.view_membership"),
    ),
)
ROLES_BY_CODE = {r.code: r for r in ROLES}


def _matcher(patterns) -> re.Pattern:
    return re.compile("|".join(translate(p) for p in patterns) or "(?!)")


def expand(definition: RoleDefinition, available: list[str]) -> set[str]:
    """The permission names of ``available`` that the role's patterns grant."""
    grants, removes = _matcher(definition.patterns), _matcher((*definition.exclude, *NEVER))
    return {p for p in available if grants.match(p) and not removes.match(p)}


def sync_roles(using: str = "default", verbosity: int = 0) -> None:
    """Create or update the Role rows and their permissions from ROLES (idempotent).

    A handful of queries whatever the number of roles: it runs after every migrate and after every flush (each
    committed test), so it reads what is there and writes only the difference."""
    from django.contrib.auth.models import Permission
    from django.db import transaction

    from houqin.core.models import Role

    through = Role.permissions.through
    perms = Permission.objects.using(using).values_list("pk", "content_type__app_label", "codename")
    by_name = {f"{app}.{codename}": pk for pk, app, codename in perms}
    with transaction.atomic(using=using):
        roles = {r.code: r for r in Role.objects.using(using).select_for_update()}
        missing, changed = [], []
        for order, definition in enumerate(ROLES):
            wanted = {"name": definition.name, "scope": definition.scope, "description": definition.description,
                      "sort_order": order}
            role = roles.get(definition.code)
            if role is None:
                missing.append(Role(code=definition.code, **wanted))
            elif any(getattr(role, k) != v for k, v in wanted.items()):
                for k, v in wanted.items():
                    setattr(role, k, v)
                changed.append(role)
        for role in changed:
            role.save(using=using)
        if missing:
            Role.objects.using(using).bulk_create(missing)
            roles = {r.code: r for r in Role.objects.using(using).filter(code__in=[r.code for r in ROLES])}
        wanted_pairs = {(roles[d.code].pk, by_name[n]) for d in ROLES for n in expand(d, list(by_name))}
        role_ids = [roles[d.code].pk for d in ROLES]
        have = set(through.objects.using(using).filter(role_id__in=role_ids).values_list("role_id", "permission_id"))
        extra = have - wanted_pairs
        if extra:
            by_role: dict[int, list[int]] = {}
            for role_id, perm_id in extra:
                by_role.setdefault(role_id, []).append(perm_id)
            for role_id, perm_ids in by_role.items():
                through.objects.using(using).filter(role_id=role_id, permission_id__in=perm_ids).delete()
        through.objects.using(using).bulk_create(
            [through(role_id=r, permission_id=p) for r, p in sorted(wanted_pairs - have)])
    if verbosity >= 2:
        print(f"Synced {len(ROLES)} roles")


def _post_migrate(sender, app_config=None, using="default", verbosity=0, **kwargs):
    # post_migrate is sent once per app with models (after a migrate and after every flush). The roles need every
    # app's permissions, which exist once the signal is sent for the last of those apps: sync then, once.
    from django.apps import apps

    with_models = [config for config in apps.get_app_configs() if config.models_module is not None]
    if app_config is not None and with_models and app_config.label != with_models[-1].label:
        return
    sync_roles(using=using, verbosity=verbosity)


def connect_post_migrate(app_config) -> None:
    from django.db.models.signals import post_migrate

    # Connected without a sender: it acts when the signal is sent for the last app (see _post_migrate).
    post_migrate.connect(_post_migrate, dispatch_uid="houqin.core.sync_roles")
