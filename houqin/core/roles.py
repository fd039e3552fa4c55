"""The roles of DESIGN §2 as permission sets.

A role is a list of glob patterns over "app_label.codename" (Django's model permissions view/add/change/delete
plus any custom ones). Patterns are expanded against every installed permission after each migrate, so a new
domain app's models fall into the roles that name its app without editing this file. A membership in a bureau
grants its view permissions over every school of that bureau (read across schools); other bureau permissions
apply to the bureau itself only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase

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


def expand(definition: RoleDefinition, available: list[str]) -> set[str]:
    """The permission names of ``available`` that the role's patterns grant."""
    granted = {p for p in available if any(fnmatchcase(p, pat) for pat in definition.patterns)}
    removed = {p for p in granted if any(fnmatchcase(p, pat) for pat in (*definition.exclude, *NEVER))}
    return granted - removed


def sync_roles(using: str = "default", verbosity: int = 0) -> None:
    """Create or update the Role rows and their permissions from ROLES (idempotent)."""
    from django.contrib.auth.models import Permission

    from houqin.core.models import Role

    perms = list(Permission.objects.using(using).select_related("content_type"))
    by_name = {f"{p.content_type.app_label}.{p.codename}": p for p in perms}
    for order, definition in enumerate(ROLES):
        role, _ = Role.objects.using(using).update_or_create(
            code=definition.code,
            defaults={
                "name": definition.name,
                "scope": definition.scope,
                "description": definition.description,
                "sort_order": order,
            },
        )
        role.permissions.set([by_name[n] for n in sorted(expand(definition, list(by_name)))])
    if verbosity >= 2:
        print(f"Synced {len(ROLES)} roles")


def _post_migrate(sender, app_config=None, using="default", verbosity=0, **kwargs):
    sync_roles(using=using, verbosity=verbosity)


def connect_post_migrate(app_config) -> None:
    from django.db.models.signals import post_migrate

    # Connected without a sender so it runs after every app's permissions have been created.
    post_migrate.connect(_post_migrate, dispatch_uid="houqin.core.sync_roles")
