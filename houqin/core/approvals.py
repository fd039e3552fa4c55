"""The approval engine (DESIGN §4.5): request types, approvers, bands, and the commands that move a request.

A *request type* (采购申请, 资产处置, …) has default *bands* from RULES.md: amount ranges [min, max), optionally
limited to one category, each with an ordered list of *steps*. A step names an *approver* (a role in the school
or in the school's bureau) and may require a person who has not approved an earlier step. A school admin may
replace a type's bands for their school (``ApprovalPolicy``); the steps are frozen on the request at submission.

Commands — each atomic, validated, writing one ``ApprovalAction`` and raising ``ValidationError`` with a Chinese
message on an illegal move:

    submit(obj_or_request, user, amount=..., category=..., title=...)
    approve(request, user, comment="")
    reject(request, user, comment)          # comment required
    send_back(request, user, comment)       # back to the requester; resubmitting restarts at step 1
    withdraw(request, user)

A domain app declares its type once (see docs/approvals.md):

    approvals.register_type(approvals.RequestType(
        code="purchase", name="采购申请", model="stock.purchaserequest", bands=PURCHASE_BANDS,
        on_approved=mark_approved, on_rejected=mark_rejected))

or attaches hooks to a type core already declares: ``approvals.connect("purchase", on_approved=...)``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from houqin.core.models import Membership, Organization, User
from houqin.core.models.approvals import (
    SUBMITTABLE_STATUSES,
    ApprovalAction,
    ApprovalActionKind,
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalRule,
    ApprovalStatus,
    GeneralOutcome,
    GeneralRequest,
    GeneralRequestCategory,
    StepKind,
)
from houqin.core.numbering import next_number
from houqin.core.roles import ROLES_BY_CODE

logger = logging.getLogger(__name__)

NUMBER_PREFIX = "SP"  # 审批单号: SP-2026-00001, one sequence per school and year
MAX_STEPS = 6
MAX_AMOUNT = Decimal("999999999999.99")
CENT = Decimal("0.01")


# --- Approvers --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Approver:
    """Who may act on a step: holders of ``role`` in the school (scope "school") or in its bureau ("bureau").

    A RECORD step is acted on by the role holder on behalf of a body without accounts (校务会, 财政部门): the
    comment must say which meeting or document decided.
    """

    key: str
    label: str  # in the band editor
    role: str
    step_label: str  # in timelines and notifications
    scope: str = "school"
    kind: str = StepKind.APPROVE


APPROVERS: dict[str, Approver] = {}


def register_approver(approver: Approver) -> Approver:
    APPROVERS[approver.key] = approver
    return approver


for _approver in (
    Approver("logistics_head", "总务主任", "logistics_head", "总务主任审批"),
    Approver("principal", "校长/园长", "principal", "校长审批"),
    # The school committee (校务会) has no account: the principal records its decision as a step of its own.
    Approver("committee", "校务会（由校长录入决议）", "principal", "校务会决议", kind=StepKind.RECORD),
    Approver("accountant", "财务/会计", "accountant", "财务审核"),
    Approver("asset_keeper", "资产管理员", "asset_keeper", "资产管理员审核"),
    Approver("bureau", "教育局", "bureau_admin", "教育局审批", scope="bureau"),
    # The finance department (财政部门) has no account either: the bureau records its reply.
    Approver("bureau_finance", "财政部门（由教育局录入批复）", "bureau_admin", "财政部门批复", scope="bureau",
             kind=StepKind.RECORD),
):
    register_approver(_approver)


# --- Bands and request types ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    approver: str
    distinct: bool = False  # must be someone who approved no earlier step of this round

    def as_dict(self) -> dict:
        return {"approver": self.approver, "distinct": self.distinct}


@dataclass(frozen=True)
class Band:
    """Amounts in [min_amount, max_amount) (max None: no limit), for ``category`` ("" = every category)."""

    min_amount: Decimal
    max_amount: Decimal | None
    steps: tuple[Step, ...]
    category: str = ""

    def contains(self, amount: Decimal) -> bool:
        return self.min_amount <= amount and (self.max_amount is None or amount < self.max_amount)

    @property
    def text(self) -> str:
        return band_text(self.min_amount, self.max_amount)


def band(min_amount, max_amount, *steps: Step | str, category: str = "") -> Band:
    """Shorthand for default bands: ``band(0, 1000, "logistics_head")``; a ``Step`` for a distinct step."""
    return Band(Decimal(str(min_amount)), None if max_amount is None else Decimal(str(max_amount)),
                tuple(s if isinstance(s, Step) else Step(s) for s in steps), category)


@dataclass(frozen=True)
class RequestType:
    """A kind of request and its defaults. ``model`` ("app_label.modelname") is the domain object submitted for
    approval; the hooks are called with the ApprovalRequest inside the deciding transaction (raise
    ValidationError to refuse the decision)."""

    code: str
    name: str
    bands: tuple[Band, ...]
    categories: tuple[tuple[str, str], ...] = ()
    model: str | None = None
    flag_label: str = ""
    # Amount from which ``flag_label`` is shown; a callable is read when needed (e.g. from settings).
    flag_min_amount: Decimal | Callable[[], Decimal | None] | None = None
    basis: str = ""  # the rule's source, shown next to the bands
    on_approved: Callable[[ApprovalRequest], None] | None = None
    on_rejected: Callable[[ApprovalRequest], None] | None = None
    on_withdrawn: Callable[[ApprovalRequest], None] | None = None
    extra: dict = field(default_factory=dict)

    def default_flag_min_amount(self) -> Decimal | None:
        value = self.flag_min_amount() if callable(self.flag_min_amount) else self.flag_min_amount
        return None if value is None else Decimal(str(value))


REQUEST_TYPES: dict[str, RequestType] = {}


def register_type(request_type: RequestType, *, replace: bool = False) -> RequestType:
    """Declare a request type. A domain app taking over a type core pre-declares passes ``replace=True``."""
    if request_type.code in REQUEST_TYPES and not replace:
        raise ValueError(f"approval request type {request_type.code!r} is already registered")
    problems = validate_bands(request_type, list(request_type.bands))
    if problems:
        raise ValueError(f"default bands of {request_type.code!r} are invalid: {problems}")
    REQUEST_TYPES[request_type.code] = request_type
    return request_type


def connect(code: str, *, model: str | None = None, **hooks) -> RequestType:
    """Attach the hooks (on_approved, on_rejected, on_withdrawn) and the source model to a declared type."""
    unknown = set(hooks) - {"on_approved", "on_rejected", "on_withdrawn"}
    if unknown:
        raise TypeError(f"unknown approval hooks: {sorted(unknown)}")
    changes = dict(hooks)
    if model is not None:
        changes["model"] = model
    REQUEST_TYPES[code] = dataclasses.replace(get_type(code), **changes)
    return REQUEST_TYPES[code]


def get_type(code: str) -> RequestType:
    try:
        return REQUEST_TYPES[code]
    except KeyError:
        raise LookupError(f"unknown approval request type {code!r}") from None


def type_name(code: str) -> str:
    request_type = REQUEST_TYPES.get(code)
    return request_type.name if request_type else code


def category_name(code: str, category: str) -> str:
    request_type = REQUEST_TYPES.get(code)
    if not category:
        return ""
    return dict(request_type.categories).get(category, category) if request_type else category


def type_for_model(obj) -> RequestType:
    label = obj._meta.label_lower
    matches = [t for t in REQUEST_TYPES.values() if t.model == label]
    if len(matches) != 1:
        raise LookupError(f"{len(matches)} approval request types for {label}: pass request_type=")
    return matches[0]


# --- Amounts and bands ------------------------------------------------------------------------------------------------
def _fmt(amount: Decimal) -> str:
    text = f"{amount:,.2f}"
    return text[:-3] if text.endswith(".00") else text


def band_text(min_amount, max_amount) -> str:
    lo = Decimal(str(min_amount or 0))
    hi = None if max_amount is None else Decimal(str(max_amount))
    if hi is None:
        return "全部金额" if lo == 0 else f"金额 ≥ {_fmt(lo)} 元"
    if lo == 0:
        return f"金额 < {_fmt(hi)} 元"
    return f"{_fmt(lo)} 元 ≤ 金额 < {_fmt(hi)} 元"


def money(value) -> Decimal:
    """A non-negative amount in 元 with at most two decimal places, or a Chinese ValidationError."""
    try:
        amount = Decimal(str(value).replace(",", "").strip() or "0")
    except (InvalidOperation, ValueError):
        raise ValidationError("金额必须是数字。") from None
    if not amount.is_finite():
        raise ValidationError("金额必须是数字。")
    if amount < 0:
        raise ValidationError("金额不能为负数。")
    if amount != amount.quantize(CENT):
        raise ValidationError("金额最多保留两位小数。")
    if amount > MAX_AMOUNT:
        raise ValidationError("金额过大。")
    return amount.quantize(CENT)


@dataclass
class Policy:
    """The bands in force for one school and type: its own (``saved`` is the ApprovalPolicy) or the defaults."""

    request_type: RequestType
    bands: list[Band]
    flag_label: str
    flag_min_amount: Decimal | None
    saved: ApprovalPolicy | None = None

    @property
    def is_default(self) -> bool:
        return self.saved is None

    def flags_for(self, amount: Decimal) -> list[str]:
        if self.flag_label and self.flag_min_amount is not None and amount >= self.flag_min_amount:
            return [self.flag_label]
        return []


def policy_for(org, code: str) -> Policy:
    request_type = get_type(code)
    saved = ApprovalPolicy.objects.filter(org=org, request_type=code).first()
    if saved is None:
        return Policy(request_type, list(request_type.bands), request_type.flag_label,
                      request_type.default_flag_min_amount())
    bands = [Band(r.min_amount, r.max_amount, tuple(Step(s["approver"], bool(s.get("distinct"))) for s in r.steps),
                  r.category) for r in saved.rules.all()]
    return Policy(request_type, bands, saved.flag_label, saved.flag_min_amount, saved)


def select_band(bands: Iterable[Band], amount: Decimal, category: str = "") -> Band:
    """The band for ``amount``: among the category's own bands when it has any, else among the general ones."""
    bands = list(bands)
    own = [b for b in bands if category and b.category == category]
    candidates = own or [b for b in bands if not b.category]
    for candidate in sorted(candidates, key=lambda b: b.min_amount):
        if candidate.contains(amount):
            return candidate
    raise ValidationError(f"没有适用于 {_fmt(amount)} 元的审批档位，请联系本校系统管理员检查审批设置。")


def validate_bands(request_type: RequestType, bands: list[Band], org=None) -> list[str]:
    """Chinese messages for every problem of a set of bands (empty: valid). Each category's bands (and the
    general bands, which must exist) start at 0 元, follow each other without gap or overlap and end unbounded."""
    errors: list[str] = []
    categories = dict(request_type.categories)
    has_bureau = org is None or bool(getattr(org, "parent_id", None))
    for i, b in enumerate(bands, start=1):
        where = f"第 {i} 档（{b.text}）"
        if b.min_amount < 0:
            errors.append(f"{where}：下限不能为负数。")
        if b.max_amount is not None and b.max_amount <= b.min_amount:
            errors.append(f"第 {i} 档：上限须大于下限。")
        if b.category and b.category not in categories:
            errors.append(f"{where}：类别“{b.category}”不是{request_type.name}的类别。")
        if not b.steps:
            errors.append(f"{where}：至少需要一个审批步骤。")
        if len(b.steps) > MAX_STEPS:
            errors.append(f"{where}：审批步骤不能超过 {MAX_STEPS} 步。")
        for step in b.steps:
            approver = APPROVERS.get(step.approver)
            if approver is None:
                errors.append(f"{where}：审批人“{step.approver}”无效。")
            elif approver.scope == "bureau" and not has_bureau:
                errors.append(f"{where}：本校未设置上级教育局，不能设置“{approver.label}”步骤。")
    groups: dict[str, list[Band]] = defaultdict(list)
    for b in bands:
        groups[b.category].append(b)
    if "" not in groups:
        errors.append("须设置适用于全部类别（类别条件留空）的档位。")
    for category, members in sorted(groups.items()):
        name = f"类别“{categories.get(category, category)}”的档位" if category else "适用于全部类别的档位"
        members = sorted(members, key=lambda b: (b.min_amount, b.max_amount is None, b.max_amount or 0))
        if members[0].min_amount != 0:
            errors.append(f"{name}须从 0 元起：0 元至 {_fmt(members[0].min_amount)} 元之间没有档位。")
        for prev, cur in zip(members, members[1:], strict=False):
            if prev.max_amount is None or cur.min_amount < prev.max_amount:
                errors.append(f"{name}重叠：“{prev.text}”与“{cur.text}”。")
            elif cur.min_amount > prev.max_amount:
                errors.append(f"{name}不连续：{_fmt(prev.max_amount)} 元至 {_fmt(cur.min_amount)} 元之间没有档位。")
        if members[-1].max_amount is not None:
            top = _fmt(members[-1].max_amount)
            errors.append(f"{name}最高一档的上限须留空（不限），否则 {top} 元及以上的申请无法提交。")
    return errors


def freeze_steps(org, chosen: Band) -> list[dict]:
    """The steps of ``chosen`` resolved for ``org``: who (role, organisation) acts, as named at submission."""
    frozen = []
    for step in chosen.steps:
        approver = APPROVERS.get(step.approver)
        if approver is None:
            raise ValidationError(f"审批设置中的审批人“{step.approver}”无效，请联系本校系统管理员。")
        acting_org = org
        if approver.scope == "bureau":
            acting_org = Organization.objects.filter(pk=org.parent_id).first() if org.parent_id else None
            if acting_org is None:
                raise ValidationError(f"本校未设置上级教育局，无法提交需“{approver.label}”审批的申请。")
        role = ROLES_BY_CODE.get(approver.role)
        frozen.append({
            "approver": approver.key, "label": approver.step_label, "kind": str(approver.kind),
            "role": approver.role, "role_name": role.name if role else approver.role,
            "org_id": acting_org.pk, "org_name": acting_org.name, "distinct": bool(step.distinct),
        })
    return frozen


# --- The request types core declares ----------------------------------------------------------------------------------
def _gov_procurement_limit() -> Decimal:
    return Decimal(str(getattr(settings, "HOUQIN_GOV_PROCUREMENT_LIMIT", "1000000")))


# Internal purchase bands (RULES.md, Procurement, practice): < 1,000 元 总务主任; 1,000–10,000 元 then 校长;
# more → 校务会 as well. The principal must not be the person who approved as logistics head.
_SCHOOL_BANDS = (
    band(0, 1000, "logistics_head"),
    band(1000, 10000, "logistics_head", Step("principal", distinct=True)),
    band(10000, None, "logistics_head", Step("principal", distinct=True), "committee"),
)
_SCHOOL_BASIS = "依据：学校内部采购审批惯例（1,000 元以下总务主任；1,000–10,000 元校长；以上校务会）"


def _general_approved(request: ApprovalRequest) -> None:
    _close_general(request, GeneralOutcome.APPROVED)


def _general_rejected(request: ApprovalRequest) -> None:
    _close_general(request, GeneralOutcome.REJECTED)


def _general_withdrawn(request: ApprovalRequest) -> None:
    _close_general(request, GeneralOutcome.WITHDRAWN)


def _close_general(request: ApprovalRequest, outcome: str) -> None:
    general = GeneralRequest.objects.get(pk=request.object_id)
    general.outcome = outcome
    general.decided_at = request.decided_at or timezone.now()
    general.save(update_fields=["outcome", "decided_at", "updated_at"])


for _type in (
    RequestType(
        "general", "通用申请", _SCHOOL_BANDS, categories=tuple(GeneralRequestCategory.choices),
        model="core.generalrequest", basis=_SCHOOL_BASIS,
        on_approved=_general_approved, on_rejected=_general_rejected, on_withdrawn=_general_withdrawn,
    ),
    RequestType(
        "purchase", "采购申请", _SCHOOL_BANDS, categories=(("goods", "货物"), ("service", "服务"), ("works", "工程")),
        flag_label="需政府采购", flag_min_amount=_gov_procurement_limit,
        basis=_SCHOOL_BASIS + "；达到分散采购限额标记“需政府采购”",
    ),
    # Disposal (RULES.md, Fixed assets; 行政事业性国有资产管理条例 第十九、二十一条): < 500 元 the school head;
    # 500–1,000 元 the bureau as well; more → bureau and finance.
    RequestType(
        "disposal", "资产处置",
        (band(0, 500, "principal"),
         band(500, 1000, "principal", "bureau"),
         band(1000, None, "principal", "bureau", "bureau_finance")),
        basis="依据：《行政事业性国有资产管理条例》第十九、二十一条（金额分档为示例，可按本地规定修改）",
    ),
    RequestType(
        "transfer", "资产调拨", (band(0, None, "logistics_head"),),
        basis="资产在部门、地点或保管人之间调拨，由总务主任审批",
    ),
    RequestType(
        "outside_repair", "外修申请", _SCHOOL_BANDS,
        basis="委托校外维修按金额分档审批（同采购审批惯例）",
    ),
):
    register_type(_type)


# --- Policy editing ---------------------------------------------------------------------------------------------------
def can_edit_policy(user, org) -> bool:
    from houqin.core.auth import user_can

    return org is not None and not org.is_bureau and user_can(user, "change", ApprovalPolicy, org_id=org.pk)


def save_policy(org, code: str, bands: list[Band], user, *, flag_label: str = "",
                flag_min_amount: Decimal | None = None, note: str = "") -> ApprovalPolicy:
    """Replace the school's bands for one request type (requests already submitted keep their frozen steps)."""
    request_type = get_type(code)
    if not can_edit_policy(user, org):
        raise ValidationError("您没有修改本校审批设置的权限。")
    errors = validate_bands(request_type, bands, org)
    if flag_min_amount is not None and flag_min_amount < 0:
        errors.append("标记起点金额不能为负数。")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        policy, _ = ApprovalPolicy.objects.select_for_update().get_or_create(org=org, request_type=code)
        policy.flag_label = flag_label.strip()
        policy.flag_min_amount = flag_min_amount
        policy.note = note.strip()
        policy.save()
        for rule in list(policy.rules.all()):
            rule.delete()
        ordered = sorted(bands, key=lambda b: (b.category, b.min_amount))
        for order, b in enumerate(ordered):
            ApprovalRule.objects.create(org=org, policy=policy, min_amount=b.min_amount, max_amount=b.max_amount,
                                        category=b.category, steps=[s.as_dict() for s in b.steps], sort_order=order)
    return policy


def reset_policy(org, code: str, user) -> None:
    """Back to the type's defaults from code."""
    get_type(code)
    if not can_edit_policy(user, org):
        raise ValidationError("您没有修改本校审批设置的权限。")
    with transaction.atomic():
        for policy in ApprovalPolicy.objects.filter(org=org, request_type=code):
            for rule in list(policy.rules.all()):
                rule.delete()
            policy.delete()


# --- Who may act ------------------------------------------------------------------------------------------------------
def _holds(user, step: dict) -> bool:
    return Membership.objects.filter(user=user, org_id=step["org_id"], role__code=step["role"],
                                     org__is_active=True).exists()


def _approved_earlier(request: ApprovalRequest, user) -> bool:
    return ApprovalAction.objects.filter(request=request, round=request.round, actor=user,
                                         action=ApprovalActionKind.APPROVE).exists()


def refusal(request: ApprovalRequest, user) -> str | None:
    """Why ``user`` may not approve/reject/send back the request's current step now (None: they may)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return "请先登录。"
    if request.status != ApprovalStatus.PENDING:
        return f"该申请{request.get_status_display()}，不能再审批。"
    step = request.current
    if step is None:
        return "该申请没有待审批的步骤。"
    if user.pk == request.requester_id:
        return "不能审批自己提交的申请。"
    if not _holds(user, step):
        return f"您不是本步骤（{step['label']}）的审批人：需由{step['org_name']}的“{step['role_name']}”办理。"
    if step.get("distinct") and _approved_earlier(request, user):
        return f"本步骤（{step['label']}）须由未参与前序审批的人员办理，您已审批过本申请的前序步骤。"
    return None


def eligible_approvers(request: ApprovalRequest):
    """The users who may act on the current step (for notifications and the "no approver" warning)."""
    step = request.current
    if step is None:
        return User.objects.none()
    users = User.objects.filter(
        is_active=True,
        pk__in=Membership.objects.filter(org_id=step["org_id"], role__code=step["role"],
                                         org__is_active=True).values("user_id"),
    ).exclude(pk=request.requester_id)
    if step.get("distinct"):
        users = users.exclude(pk__in=ApprovalAction.objects.filter(
            request=request, round=request.round, action=ApprovalActionKind.APPROVE).values("actor_id"))
    return users.order_by("pk")


def inbox(user):
    """待我审批: the pending requests ``user`` may act on now, oldest first."""
    return ApprovalRequest.objects.actionable_by(user).order_by("submitted_at", "pk")


def inbox_count(user) -> int:
    return ApprovalRequest.objects.actionable_by(user).count()


# --- Commands ---------------------------------------------------------------------------------------------------------
def _locked(request: ApprovalRequest) -> ApprovalRequest:
    """Re-read the request inside the transaction, holding its row lock (PostgreSQL; SQLite's IMMEDIATE
    transactions already serialise writers), so two approvers acting at once cannot both succeed."""
    return ApprovalRequest.objects.select_for_update(of=("self",)).select_related("org", "requester").get(pk=request.pk)


def _expect_pending(request: ApprovalRequest, expected_step: int | None, expected_round: int | None, verb: str):
    if request.status != ApprovalStatus.PENDING:
        raise ValidationError(f"该申请{request.get_status_display()}，不能{verb}。")
    moved = expected_step is not None and request.current_step != expected_step
    moved |= expected_round is not None and request.round != expected_round
    if moved:
        step = request.current
        raise ValidationError(f"该申请已被他人处理，现在处于“{step['label']}”步骤，请刷新页面后再操作。")


def _sync_current(request: ApprovalRequest) -> None:
    step = request.current
    request.current_org_id = step["org_id"] if step else None
    request.current_role = step["role"] if step else ""
    request.current_distinct = bool(step and step.get("distinct"))


def _acting_as(step: dict | None) -> str:
    return f"{step['role_name']} · {step['org_name']}"[:120] if step else "申请人"


def _record(request: ApprovalRequest, user, action: str, *, step: int | None = None, comment: str = ""):
    frozen = request.steps[step] if step is not None else None
    return ApprovalAction.objects.create(
        request=request, org_id=request.org_id, round=request.round, step=step,
        step_label=frozen["label"] if frozen else "", action=action, actor=user,
        actor_name=(user.get_full_name() or user.username)[:80], acting_as=_acting_as(frozen), comment=comment.strip(),
    )


def _hook(request: ApprovalRequest, name: str) -> None:
    request_type = REQUEST_TYPES.get(request.request_type)
    hook = getattr(request_type, name, None)
    if hook is None:
        return
    # A type connected to a model (approvals.connect(code, model=...)) runs its hooks for that model's requests
    # only: a general request filed under the same type (its bands, its approvers) has nothing of theirs to change.
    model = getattr(request_type, "model", None)
    if model and request.content_type_id is not None:
        source_model = ContentType.objects.get_for_id(request.content_type_id).model_class()
        if source_model is None or source_model._meta.label_lower != model.lower():
            return
    hook(request)


def _refresh(caller_copy: ApprovalRequest, saved: ApprovalRequest) -> ApprovalRequest:
    if caller_copy is not saved:
        caller_copy.refresh_from_db()
    return saved


def _lock_source(source) -> None:
    list(type(source)._base_manager.select_for_update().filter(pk=source.pk).values_list("pk", flat=True))


def submit(obj_or_request, user, *, amount=None, category: str | None = None, title: str | None = None,
           request_type: str | None = None, comment: str = "") -> ApprovalRequest:
    """Submit a domain object for approval (creating its request), or resubmit a request that was sent back.

    ``amount``, ``category`` and ``title`` default to the object's ``amount``, ``category`` and ``str()``. The
    band is chosen and its steps frozen now; resubmitting chooses again (the requester may have changed the
    amount) and starts at the first step.
    """
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        raise ValidationError("请先登录。")
    with transaction.atomic():
        if isinstance(obj_or_request, ApprovalRequest):
            req = _locked(obj_or_request)
            source = req.source
            rtype = get_type(req.request_type)
        else:
            source = obj_or_request
            rtype = get_type(request_type) if request_type else type_for_model(source)
            _lock_source(source)
            ct = ContentType.objects.get_for_model(source, for_concrete_model=True)
            req = (ApprovalRequest.objects.select_for_update().filter(content_type=ct, object_id=source.pk)
                   .order_by("-pk").first())
            if req is not None and req.status == ApprovalStatus.PENDING:
                raise ValidationError(f"该事项已在审批中（{req.number}），不能重复提交。")
            if req is not None and req.status == ApprovalStatus.APPROVED:
                raise ValidationError(f"该事项已审批通过（{req.number}），不能重复提交。")
            if req is not None and req.status not in SUBMITTABLE_STATUSES:
                req = None  # rejected or withdrawn: a new request
        org = req.org if req is not None else source.org
        if org.is_bureau:
            raise ValidationError("审批申请须由学校提交。")
        if not user.is_superuser:
            from houqin.core.auth import access_for

            if org.pk not in access_for(user).member_org_ids:
                raise ValidationError(f"您不是{org.name}的成员，不能在该单位提交申请。")
        if req is not None:
            if req.requester_id != user.pk:
                raise ValidationError("只有申请人本人可以提交或重新提交该申请。")
            if req.status not in SUBMITTABLE_STATUSES:
                raise ValidationError(f"该申请{req.get_status_display()}，不能提交。")

        # Defaults come from the domain object (which the requester may have changed after a send-back).
        if amount is None:
            amount = getattr(source, "amount", None) if source is not None else None
            amount = amount if amount is not None else (req.amount if req is not None else 0)
        amount = money(amount)
        if category is None:
            category = getattr(source, "category", None) if source is not None else None
            category = category if category is not None else (req.category if req is not None else "")
        category = category or ""
        if category and rtype.categories and category not in dict(rtype.categories):
            raise ValidationError(f"类别“{category}”不是{rtype.name}的类别。")
        title = (title if title is not None else (req.title if req is not None else str(source))).strip()
        if not title:
            raise ValidationError("请填写申请事由。")
        if len(title) > 200:
            raise ValidationError("申请事由不能超过 200 个字。")

        policy = policy_for(org, rtype.code)
        chosen = select_band(policy.bands, amount, category)
        steps = freeze_steps(org, chosen)

        now = timezone.now()
        if req is None:
            req = ApprovalRequest(org=org, request_type=rtype.code, number=next_number(org, NUMBER_PREFIX),
                                  requester=user)
            if source is not None:
                req.content_type = ContentType.objects.get_for_model(source, for_concrete_model=True)
                req.object_id = source.pk
        action = ApprovalActionKind.SUBMIT if req.round == 0 else ApprovalActionKind.RESUBMIT
        req.round += 1
        req.title, req.amount, req.category = title, amount, category
        req.steps, req.band, req.flags = steps, chosen.text, policy.flags_for(amount)
        req.status, req.current_step = ApprovalStatus.PENDING, 0
        req.submitted_at, req.decided_at = now, None
        _sync_current(req)
        req.save()
        _record(req, user, action, comment=comment)
        _notify_step(req)
    if isinstance(obj_or_request, ApprovalRequest):
        return _refresh(obj_or_request, req)
    return req


@contextmanager
def _deciding_step(request: ApprovalRequest, user, verb: str, expected_step: int | None, expected_round: int | None):
    """The locked request inside the transaction of an approver's decision, once it is still at the step and round
    the user saw (default: those of ``request`` as the caller holds it) and the user may decide it."""
    with transaction.atomic():
        req = _locked(request)
        _expect_pending(req, request.current_step if expected_step is None else expected_step,
                        request.round if expected_round is None else expected_round, verb)
        reason = refusal(req, user)
        if reason:
            raise ValidationError(reason)
        yield req


def approve(request: ApprovalRequest, user, comment: str = "", *, expected_step: int | None = None,
            expected_round: int | None = None) -> ApprovalRequest:
    """Approve the current step; after the last step the request is 已通过 and the type's on_approved runs.

    ``expected_step``/``expected_round`` are the step the user saw (default: those of ``request`` as the caller
    holds it); if someone acted in between, the move is refused.
    """
    comment = (comment or "").strip()
    with _deciding_step(request, user, "审批", expected_step, expected_round) as req:
        step = req.current
        if step["kind"] == StepKind.RECORD and not comment:
            raise ValidationError(f"请在意见中填写{step['label']}的内容（会议或文件日期、结论）。")
        index = req.current_step
        step_users = [user, *eligible_approvers(req)]
        _record(req, user, ApprovalActionKind.APPROVE, step=index, comment=comment)
        _clear_todos(req, step_users)
        if index + 1 < len(req.steps):
            req.current_step = index + 1
            _sync_current(req)
            req.save()
            _notify_step(req)
        else:
            req.status = ApprovalStatus.APPROVED
            req.decided_at = timezone.now()
            _sync_current(req)
            req.save()
            _hook(req, "on_approved")
            _notify_requester(req, "审批通过", f"您的{req.type_name}“{req.title}”已审批通过。")
    return _refresh(request, req)


def reject(request: ApprovalRequest, user, comment: str, *, expected_step: int | None = None,
           expected_round: int | None = None) -> ApprovalRequest:
    """Reject the request at the current step (final); a comment is required. The type's on_rejected runs."""
    comment = (comment or "").strip()
    if not comment:
        raise ValidationError("驳回时必须填写意见。")
    with _deciding_step(request, user, "驳回", expected_step, expected_round) as req:
        _clear_todos(req, [user, *eligible_approvers(req)])
        _record(req, user, ApprovalActionKind.REJECT, step=req.current_step, comment=comment)
        req.status = ApprovalStatus.REJECTED
        req.decided_at = timezone.now()
        _sync_current(req)
        req.save()
        _hook(req, "on_rejected")
        _notify_requester(req, "审批驳回", f"您的{req.type_name}“{req.title}”被驳回：{comment}")
    return _refresh(request, req)


def send_back(request: ApprovalRequest, user, comment: str, *, expected_step: int | None = None,
              expected_round: int | None = None) -> ApprovalRequest:
    """Return the request to the requester for changes (a comment saying what to change is required)."""
    comment = (comment or "").strip()
    if not comment:
        raise ValidationError("退回时请填写需要修改的内容。")
    with _deciding_step(request, user, "退回", expected_step, expected_round) as req:
        _clear_todos(req, [user, *eligible_approvers(req)])
        _record(req, user, ApprovalActionKind.SEND_BACK, step=req.current_step, comment=comment)
        req.status = ApprovalStatus.SENT_BACK
        _sync_current(req)
        req.save()
        _notify_requester(req, "申请被退回", f"您的{req.type_name}“{req.title}”被退回修改：{comment}")
    return _refresh(request, req)


def withdraw(request: ApprovalRequest, user, comment: str = "") -> ApprovalRequest:
    """The requester withdraws a request that is not decided yet (final). The type's on_withdrawn runs."""
    with transaction.atomic():
        req = _locked(request)
        if user is None or user.pk != req.requester_id:
            raise ValidationError("只有申请人本人可以撤回申请。")
        if req.status not in (ApprovalStatus.PENDING, *SUBMITTABLE_STATUSES):
            raise ValidationError(f"该申请{req.get_status_display()}，不能撤回。")
        was_pending = req.status == ApprovalStatus.PENDING
        notify_users = list(eligible_approvers(req)) if was_pending else []
        _clear_todos(req, notify_users)
        _record(req, user, ApprovalActionKind.WITHDRAW, comment=comment or "")
        req.status = ApprovalStatus.WITHDRAWN
        req.decided_at = timezone.now()
        _sync_current(req)
        req.save()
        _hook(req, "on_withdrawn")
        if notify_users:
            _send(notify_users, req, f"申请已撤回：{req.number}",
                  f"{req.requester}撤回了{req.type_name}“{req.title}”，无需再审批。", f"approval:{req.pk}:withdrawn")
    return _refresh(request, req)


STEP_REMINDER = "approval_step"


# --- Notifications -------------------------------------------------------------------------------------------------
def _load_notify():
    """The notification engine (``houqin.core.notifications``), or None while it is not installed."""
    try:
        from houqin.core import notifications
    except ModuleNotFoundError as exc:
        if exc.name != "houqin.core.notifications":
            raise
        return None
    return notifications


def _send(recipients, request: ApprovalRequest, title: str, body: str, dedupe_key: str, kind: str = "info") -> None:
    # Called inside the command's transaction: the in-app notification commits (or rolls back) with the action;
    # the engine queues any robot/e-mail delivery for after the commit.
    engine = _load_notify()
    if engine is None:
        logger.warning("houqin.core.notifications is not available; approval notice not sent: %s", title)
        return
    recipients = list(recipients)
    if recipients:
        engine.notify(recipients, org=request.org, title=title, body=body, url=request.get_absolute_url(),
                      kind=kind, source=request, dedupe_key=dedupe_key)


def _clear_todos(request: ApprovalRequest, users) -> None:
    """The step is decided: the 待办 notifications its other approvers got are done too, and so is its reminder."""
    from houqin.core.reminders import complete_reminder

    complete_reminder(request, key=STEP_REMINDER)
    engine = _load_notify()
    users = list(users)
    if engine is not None and users and hasattr(engine, "mark_read_for"):
        engine.mark_read_for(request, recipients=users)


def _notify_step(request: ApprovalRequest) -> None:
    from houqin.core.reminders import schedule_reminder

    step = request.current
    if step is None:
        return
    approvers = eligible_approvers(request)
    _send(approvers, request, f"待审批：{request.type_name} {request.number}",
          f"{request.requester}提交的“{request.title}”（{_fmt(request.amount)} 元）等待您{step['label']}。",
          f"approval:{request.pk}:{request.round}:{request.current_step}", kind="todo")
    # A step left undecided is reminded through the reminder engine (once, when the waiting time is up).
    hours = getattr(settings, "HOUQIN_APPROVAL_REMIND_AFTER_HOURS", 48)
    title = f"审批等待超过 {hours} 小时：{request.type_name} {request.number}"
    schedule_reminder(request, key=STEP_REMINDER, title=title,
                      due=timezone.now() + timedelta(hours=hours), before=(), overdue=True, users=approvers,
                      body=f"“{request.title}”仍在等待{step['label']}，请尽快处理。")


def _notify_requester(request: ApprovalRequest, what: str, body: str) -> None:
    _send([request.requester], request, f"{what}：{request.number}", body,
          f"approval:{request.pk}:{request.round}:{request.status}")


# --- Presentation helpers (the request page and domain pages that embed the panel) ------------------------------------
def timeline(request: ApprovalRequest) -> list[dict]:
    """The steps of the current round with their state: done / current / rejected / sent_back / waiting."""
    acts = {a.step: a for a in request.actions.filter(round=request.round, step__isnull=False).order_by("time", "pk")}
    rows = []
    for i, step in enumerate(request.steps):
        act = acts.get(i)
        if act is not None and act.action == ApprovalActionKind.APPROVE:
            state = "done"
        elif act is not None:
            state = act.action  # reject / send_back
        elif request.status == ApprovalStatus.PENDING and i == request.current_step:
            state = "current"
        else:
            state = "waiting"
        rows.append({**step, "index": i, "number": i + 1, "state": state, "action": act})
    return rows


def panel(request: ApprovalRequest, user) -> dict:
    """Context for ``core/includes/approval_panel.html`` (the steps, the trail and the buttons), which the
    request page and any domain page showing its object's approval include."""
    reason = refusal(request, user)
    is_requester = user.pk == request.requester_id
    pending = request.status == ApprovalStatus.PENDING
    return {
        "request": request,
        "timeline": timeline(request),
        "trail": list(request.actions.select_related("actor").order_by("time", "pk")),
        "can_act": reason is None,
        # Explain a refusal to someone who holds the step's role (e.g. the different-person rule); others just
        # see whose turn it is in the timeline.
        "refusal": reason if pending and reason and request.current and _holds(user, request.current) else None,
        "can_withdraw": is_requester and request.status in (ApprovalStatus.PENDING, *SUBMITTABLE_STATUSES),
        "can_resubmit": is_requester and request.status in SUBMITTABLE_STATUSES,
        "no_approver": pending and not eligible_approvers(request).exists(),
        "is_record_step": bool(request.current and request.current["kind"] == StepKind.RECORD),
    }


def source_of(request: ApprovalRequest):
    try:
        return request.source
    except Exception:  # noqa: BLE001 — a source model that is no longer installed
        return None
