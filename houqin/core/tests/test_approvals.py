"""The approval engine (houqin.core.approvals) and its pages: bands, frozen steps, the commands and their rules
(own request, different person, role and bureau steps), hooks, notifications, inbox, tenancy, concurrency and the
band editor."""

from __future__ import annotations

import dataclasses
import threading
import types
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import include, path, reverse

import houqin.urls
from houqin.core import approvals
from houqin.core.approvals import Band, Step
from houqin.core.context import acting_as
from houqin.core.models import Role
from houqin.core.models.approvals import (
    ApprovalAction,
    ApprovalActionKind,
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalStatus,
    GeneralOutcome,
    GeneralRequest,
)
from houqin.core.testing import factories as f

try:  # the in-app inbox (importing it registers its models, so the test database has their tables)
    from houqin.core import notifications as notification_engine
except ModuleNotFoundError:
    notification_engine = None

# The project's URLs with the approval pages mounted where houqin/urls.py mounts them.
urlpatterns = [p for p in houqin.urls.urlpatterns if str(getattr(p, "pattern", "")) != "approvals/"]
urlpatterns.append(path("approvals/", include("houqin.core.views.approvals")))
pytestmark = pytest.mark.urls(__name__)


# --- Fixtures ---------------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class People:
    teacher: object  # files requests
    head: object  # 总务主任
    head2: object  # a second 总务主任
    principal: object  # 校长
    head_and_principal: object  # holds both roles in school A
    principal_b: object  # 校长 of school B
    bureau_admin: object
    admin_a: object  # 系统管理员 of A


@pytest.fixture
def people(world) -> People:
    a, b = world.a.org, world.b.org
    return People(
        teacher=world.teacher_a,
        head=world.head_a,
        head2=f.make_user("head2_a", full_name="甲校副总务主任", org=a, roles=("logistics_head",)),
        principal=f.make_user("principal_a", full_name="甲校校长", org=a, roles=("principal",)),
        head_and_principal=f.make_user("both_a", full_name="甲校兼职", org=a, roles=("logistics_head", "principal")),
        principal_b=f.make_user("principal_b", full_name="乙校校长", org=b, roles=("principal",)),
        bureau_admin=world.bureau_admin,
        admin_a=world.admin_a,
    )


@pytest.fixture
def policy_perms(db):
    """School admins edit approval bands (houqin.core.roles grants core.*_approvalpolicy and *_approvalrule)."""
    role = Role.objects.get(code="school_admin")
    perms = Permission.objects.filter(content_type__app_label="core",
                                      codename__regex=r"^(add|change|delete)_approval(policy|rule)$")
    role.permissions.add(*perms)


REAL_NOTIFICATIONS = approvals._load_notify


@pytest.fixture(autouse=True)
def sent(monkeypatch):
    """Notifications sent through houqin.core.notifications.notify, captured (one test below uses the real
    engine)."""
    calls: list[dict] = []

    def notify(recipients, *, org, title, body="", url="", kind="info", source=None, dedupe_key=None):
        calls.append({"to": {u.username for u in recipients}, "org": org, "title": title, "body": body, "url": url,
                      "kind": kind, "source": source, "dedupe_key": dedupe_key})

    def mark_read_for(source, *, recipients=None):
        return 0

    engine = types.SimpleNamespace(notify=notify, mark_read_for=mark_read_for)
    monkeypatch.setattr(approvals, "_load_notify", lambda: engine)
    return calls


@pytest.fixture
def hooks(monkeypatch):
    """Counts the general type's hooks (which still do their work)."""
    calls = {"on_approved": [], "on_rejected": [], "on_withdrawn": []}
    original = approvals.get_type("general")

    def counting(name):
        def hook(request):
            calls[name].append(request.pk)
            getattr(original, name)(request)
        return hook

    monkeypatch.setitem(approvals.REQUEST_TYPES, "general",
                        dataclasses.replace(original, **{name: counting(name) for name in calls}))
    return calls


def file(user, org, amount, *, category="other", title="购买办公用品", request_type=None) -> ApprovalRequest:
    with acting_as(user):
        general = GeneralRequest.objects.create(org=org, requester=user, title=title, amount=Decimal(str(amount)),
                                                category=category)
        return approvals.submit(general, user, request_type=request_type)


def approvers(request: ApprovalRequest) -> list[str]:
    return [s["approver"] for s in request.steps]


def fails(fn, *args, match: str = "", **kwargs) -> str:
    with pytest.raises(ValidationError) as exc:
        fn(*args, **kwargs)
    message = " ".join(exc.value.messages)
    assert match in message, message
    return message


# --- Bands ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("amount", "expected"), [
    ("0", ["logistics_head"]),
    ("999.99", ["logistics_head"]),
    ("1000", ["logistics_head", "principal"]),
    ("9999.99", ["logistics_head", "principal"]),
    ("10000", ["logistics_head", "principal", "committee"]),
    ("2500000", ["logistics_head", "principal", "committee"]),
])
def test_default_purchase_bands_choose_steps_by_amount(amount, expected):
    chosen = approvals.select_band(approvals.get_type("purchase").bands, Decimal(amount))
    assert [s.approver for s in chosen.steps] == expected


def test_submission_freezes_the_band_of_its_amount(world, people):
    small, middle, large = (file(people.teacher, world.a.org, amount) for amount in ("999.99", "1000", "10000"))
    assert [len(r.steps) for r in (small, middle, large)] == [1, 2, 3]
    assert approvers(large) == ["logistics_head", "principal", "committee"]
    assert large.steps[1]["distinct"] is True and large.steps[0]["distinct"] is False
    assert large.steps[2]["kind"] == "record" and large.steps[2]["role"] == "principal"
    assert middle.band == "1,000 元 ≤ 金额 < 10,000 元"
    assert small.status == ApprovalStatus.PENDING and small.current_role == "logistics_head"
    assert small.current_org_id == world.a.org.pk


def test_purchase_flag_above_the_government_procurement_limit(world, people, settings):
    settings.HOUQIN_GOV_PROCUREMENT_LIMIT = "50000"
    below = file(people.teacher, world.a.org, "49999.99", request_type="purchase", category="goods")
    above = file(people.teacher, world.a.org, "50000", request_type="purchase", category="goods")
    assert below.flags == [] and above.flags == ["需政府采购"]


def test_category_condition_uses_the_categorys_own_bands(world, people, policy_perms):
    general = approvals.get_type("general")
    approvals.save_policy(world.a.org, "general", [
        *general.bands,
        Band(Decimal(0), None, (Step("principal"),), category="venue"),
    ], people.admin_a)
    venue = file(people.teacher, world.a.org, 50, category="venue", title="借用礼堂")
    other = file(people.teacher, world.a.org, 50, category="other")
    assert approvers(venue) == ["principal"]
    assert approvers(other) == ["logistics_head"]


def test_steps_are_frozen_at_submission(world, people, policy_perms):
    request = file(people.teacher, world.a.org, 500)
    approvals.save_policy(world.a.org, "general", [Band(Decimal(0), None, (Step("principal"),))], people.admin_a)
    request.refresh_from_db()
    assert approvers(request) == ["logistics_head"]
    approvals.approve(request, people.head)
    assert request.status == ApprovalStatus.APPROVED
    # A new request follows the new bands.
    assert approvers(file(people.teacher, world.a.org, 500)) == ["principal"]


def test_numbers_per_school_and_year(world, people, admin_b):
    first, second = file(people.teacher, world.a.org, 1), file(people.teacher, world.a.org, 2)
    year = first.created_at.year
    assert (first.number, second.number) == (f"SP-{year}-00001", f"SP-{year}-00002")
    other = file(world.teacher_b, world.b.org, 1)
    assert other.number == f"SP-{year}-00001"


# --- The commands -----------------------------------------------------------------------------------------------------
def test_approve_through_every_step_calls_on_approved_once(world, people, hooks, sent):
    request = file(people.teacher, world.a.org, 12000, title="更换教室窗帘")
    assert sent[-1]["to"] == {"head_a", "head2_a", "both_a"}
    assert sent[-1]["title"] == f"待审批：通用申请 {request.number}"

    approvals.approve(request, people.head, "同意")
    assert request.status == ApprovalStatus.PENDING and request.current_step == 1
    assert request.current_role == "principal"
    # both_a holds 校长 too, and did not approve step 1: they are notified.
    assert sent[-1]["to"] == {"principal_a", "both_a"}

    approvals.approve(request, people.principal)
    assert request.current_step == 2 and request.steps[2]["label"] == "校务会决议"
    fails(approvals.approve, request, people.principal, match="校务会决议")  # the decision must be recorded
    approvals.approve(request, people.principal, "2026-03-05 校务会研究同意")

    assert request.status == ApprovalStatus.APPROVED and request.decided_at is not None
    assert request.current_role == "" and request.current_org is None
    assert hooks["on_approved"] == [request.pk] and not hooks["on_rejected"]
    assert GeneralRequest.objects.get(pk=request.object_id).outcome == GeneralOutcome.APPROVED
    assert sent[-1]["to"] == {"teacher_a"} and sent[-1]["title"].startswith("审批通过")
    trail = list(request.actions.values_list("action", "step", "actor__username"))
    assert trail == [("submit", None, "teacher_a"), ("approve", 0, "head_a"), ("approve", 1, "principal_a"),
                     ("approve", 2, "principal_a")]
    # Nothing moves a decided request.
    fails(approvals.approve, request, people.principal, "再次", match="已通过")
    fails(approvals.reject, request, people.principal, "不行", match="已通过")
    assert hooks["on_approved"] == [request.pk]


def test_reject_needs_a_comment_and_is_final(world, people, hooks, sent):
    request = file(people.teacher, world.a.org, 300)
    fails(approvals.reject, request, people.head, "  ", match="驳回时必须填写意见")
    assert request.status == ApprovalStatus.PENDING
    approvals.reject(request, people.head, "预算已用完")
    assert request.status == ApprovalStatus.REJECTED
    assert hooks["on_rejected"] == [request.pk]
    assert GeneralRequest.objects.get(pk=request.object_id).outcome == GeneralOutcome.REJECTED
    assert sent[-1]["to"] == {"teacher_a"} and "预算已用完" in sent[-1]["body"]
    fails(approvals.approve, request, people.head2, match="已驳回")
    fails(approvals.submit, request, people.teacher, match="已驳回")


def test_send_back_and_resubmit_restarts_at_the_first_step(world, people, sent):
    request = file(people.teacher, world.a.org, 1500)
    approvals.approve(request, people.head)
    fails(approvals.send_back, request, people.principal, "", match="退回时请填写")
    approvals.send_back(request, people.principal, "请附报价单")
    assert request.status == ApprovalStatus.SENT_BACK
    assert sent[-1]["to"] == {"teacher_a"} and "请附报价单" in sent[-1]["body"]
    fails(approvals.approve, request, people.principal, match="已退回")
    fails(approvals.submit, request, people.head, match="只有申请人本人")

    general = GeneralRequest.objects.get(pk=request.object_id)
    general.amount = Decimal("800")
    general.save()
    approvals.submit(request, people.teacher, comment="已降低金额")
    assert request.status == ApprovalStatus.PENDING
    assert (request.round, request.current_step) == (2, 0)
    assert approvers(request) == ["logistics_head"] and request.amount == Decimal("800.00")
    assert request.actions.order_by("-pk").first().action == ApprovalActionKind.RESUBMIT
    approvals.approve(request, people.head)
    assert request.status == ApprovalStatus.APPROVED
    assert [a.round for a in request.actions.all()] == [1, 1, 1, 2, 2]


def test_send_back_then_resubmit_clears_earlier_approvals_for_the_different_person_rule(world, people):
    request = file(people.teacher, world.a.org, 2000)
    approvals.approve(request, people.head_and_principal)
    approvals.send_back(request, people.principal, "补充说明")
    approvals.submit(request, people.teacher)
    approvals.approve(request, people.head)
    # In this round both_a approved nothing yet, so they may act as 校长.
    approvals.approve(request, people.head_and_principal)
    assert request.status == ApprovalStatus.APPROVED


def test_withdraw_by_the_requester_only(world, people, hooks, sent):
    request = file(people.teacher, world.a.org, 100)
    fails(approvals.withdraw, request, people.head, match="只有申请人本人")
    approvals.withdraw(request, people.teacher)
    assert request.status == ApprovalStatus.WITHDRAWN and hooks["on_withdrawn"] == [request.pk]
    assert sent[-1]["to"] == {"head_a", "head2_a", "both_a"} and "撤回" in sent[-1]["title"]
    fails(approvals.withdraw, request, people.teacher, match="已撤回")
    fails(approvals.approve, request, people.head, match="已撤回")
    # The object may be submitted again: a new request with a new number.
    again = approvals.submit(GeneralRequest.objects.get(pk=request.object_id), people.teacher)
    assert again.pk != request.pk and again.number != request.number and again.round == 1


def test_an_object_in_approval_cannot_be_submitted_twice(world, people):
    request = file(people.teacher, world.a.org, 100)
    general = GeneralRequest.objects.get(pk=request.object_id)
    fails(approvals.submit, general, people.teacher, match="已在审批中")
    approvals.approve(request, people.head)
    fails(approvals.submit, general, people.teacher, match="已审批通过")


def test_nobody_approves_their_own_request(world, people):
    request = file(people.head, world.a.org, 100)
    fails(approvals.approve, request, people.head, match="不能审批自己提交的申请")
    fails(approvals.reject, request, people.head, "x", match="不能审批自己提交的申请")
    assert list(approvals.inbox(people.head)) == []
    assert list(approvals.inbox(people.head2)) == [request]
    approvals.approve(request, people.head2)
    assert request.status == ApprovalStatus.APPROVED


def test_a_distinct_step_needs_someone_who_approved_no_earlier_step(world, people):
    request = file(people.teacher, world.a.org, 5000)
    approvals.approve(request, people.head_and_principal)
    assert request.current_role == "principal"
    assert request not in approvals.inbox(people.head_and_principal)
    fails(approvals.approve, request, people.head_and_principal, match="须由未参与前序审批的人员办理")
    assert request in approvals.inbox(people.principal)
    approvals.approve(request, people.principal)
    assert request.status == ApprovalStatus.APPROVED


def test_a_step_without_the_different_person_flag_may_be_the_same_person(world, people):
    request = file(people.teacher, world.a.org, 20000)
    approvals.approve(request, people.head)
    approvals.approve(request, people.principal)
    approvals.approve(request, people.principal, "校务会 2026-03-05 同意")  # 校务会 step is not "distinct"
    assert request.status == ApprovalStatus.APPROVED


@pytest.mark.parametrize("who", ["teacher_b", "admin_a", "principal_b", "outsider", "bureau_admin", "superuser"])
def test_users_without_the_steps_role_are_refused(world, people, who):
    request = file(people.teacher, world.a.org, 100)
    user = {"principal_b": people.principal_b}.get(who) or world.persona(who)
    fails(approvals.approve, request, user, match="审批人")
    assert request.status == ApprovalStatus.PENDING and request.current_step == 0
    assert not ApprovalAction.objects.filter(actor=user).exists()


def test_a_principal_of_the_school_cannot_approve_a_step_of_the_bureau(world, people):
    request = file(people.teacher, world.a.org, 800, request_type="disposal", title="报废旧电脑")
    assert approvers(request) == ["principal", "bureau"]
    assert request.steps[1]["org_id"] == world.bureau.pk and request.steps[1]["role"] == "bureau_admin"
    approvals.approve(request, people.principal)
    assert request.current_org_id == world.bureau.pk
    fails(approvals.approve, request, people.head_and_principal, match="测试区教育局")
    fails(approvals.approve, request, people.principal_b, match="审批人")
    assert request in approvals.inbox(people.bureau_admin)
    approvals.approve(request, people.bureau_admin, "同意报废")
    assert request.status == ApprovalStatus.APPROVED


def test_large_disposals_need_the_bureau_and_a_recorded_finance_reply(world, people):
    request = file(people.teacher, world.a.org, 1000, request_type="disposal")
    assert approvers(request) == ["principal", "bureau", "bureau_finance"]
    approvals.approve(request, people.principal)
    approvals.approve(request, people.bureau_admin)
    fails(approvals.approve, request, people.bureau_admin, match="财政部门批复")
    approvals.approve(request, people.bureau_admin, "县财政局 2026-04-01 批复同意")
    assert request.status == ApprovalStatus.APPROVED


def test_a_school_without_a_bureau_cannot_submit_a_bureau_step(db):
    school = f.make_school(None, "独立学校")
    teacher = f.make_user(org=school, roles=("teacher",))
    with pytest.raises(ValidationError, match="未设置上级教育局"):
        file(teacher, school, 800, request_type="disposal")
    assert not ApprovalRequest.objects.exists()
    assert approvers(file(teacher, school, 300, request_type="disposal")) == ["principal"]


def test_submit_validates_its_input(world, people):
    general = GeneralRequest.objects.create(org=world.a.org, requester=people.teacher, title="x")
    fails(approvals.submit, general, people.teacher, amount="-1", match="不能为负数")
    fails(approvals.submit, general, people.teacher, amount="abc", match="必须是数字")
    fails(approvals.submit, general, people.teacher, amount="1.005", match="两位小数")
    fails(approvals.submit, general, people.teacher, title="  ", match="请填写申请事由")
    fails(approvals.submit, general, people.teacher, category="nope", match="不是通用申请的类别")
    fails(approvals.submit, general, world.teacher_b, match="不是甲城第一小学的成员")
    assert not ApprovalRequest.objects.exists()


def test_the_trail_is_append_only(world, people):
    request = file(people.teacher, world.a.org, 100)
    action = request.actions.get()
    action.comment = "改过"
    with pytest.raises(PermissionError):
        action.save()
    with pytest.raises(PermissionError):
        action.delete()
    with pytest.raises(PermissionError):
        ApprovalAction.objects.filter(request=request).update(comment="改过")
    with pytest.raises(PermissionError):
        ApprovalAction.objects.filter(request=request).delete()


def test_a_hook_that_refuses_rolls_the_decision_back(world, people, monkeypatch):
    def refuse(request):
        raise ValidationError("资产已被调拨，不能处置。")

    monkeypatch.setitem(approvals.REQUEST_TYPES, "general",
                        dataclasses.replace(approvals.get_type("general"), on_approved=refuse))
    request = file(people.teacher, world.a.org, 100)
    fails(approvals.approve, request, people.head, match="资产已被调拨")
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING
    assert list(request.actions.values_list("action", flat=True)) == ["submit"]


# --- Inbox, pages and tenancy -----------------------------------------------------------------------------------------
def badge(client) -> int:
    response = client.get(reverse("approvals:badge"))
    assert response.status_code == 200
    return int(response.content.decode().split('data-count="')[1].split('"')[0])


def test_inbox_and_its_count_follow_the_steps(world, people, client_for):
    head, principal = client_for(people.head), client_for(people.principal)
    first = file(people.teacher, world.a.org, 1200)
    file(people.teacher, world.a.org, 50)
    assert (badge(head), badge(principal)) == (2, 0)
    page = head.get(reverse("approvals:inbox"))
    assert [r.pk for r in page.context["page"].rows][0] == first.pk
    assert first.number in page.content.decode()

    approvals.approve(first, people.head)
    assert (badge(head), badge(principal)) == (1, 1)
    approvals.approve(first, people.principal)
    assert (badge(head), badge(principal)) == (1, 0)
    done = head.get(reverse("approvals:inbox"), {"tab": "done"})
    assert [r.pk for r in done.context["page"].rows] == [first.pk]


def test_inbox_is_one_query(world, people, django_assert_max_num_queries):
    for amount in range(5):
        file(people.teacher, world.a.org, amount)
    with django_assert_max_num_queries(1):
        assert approvals.inbox_count(people.head) == 5


def test_another_schools_user_gets_404_and_an_empty_inbox(world, people, client_for):
    request = file(people.teacher, world.a.org, 100, title="甲校机密事项")
    for user in (world.admin_b, people.principal_b, world.teacher_b, world.outsider):
        client = client_for(user)
        assert client.get(reverse("approvals:detail", args=[request.pk])).status_code == 404, user
        assert client.post(reverse("approvals:act", args=[request.pk]),
                           {"action": "approve", "step": 0, "round": 1}).status_code == 404
        assert client.post(reverse("approvals:withdraw", args=[request.pk])).status_code == 404
        assert client.get(reverse("approvals:resubmit", args=[request.pk])).status_code == 404
        assert "甲校机密事项" not in client.get(reverse("approvals:inbox")).content.decode()
        assert "甲校机密事项" not in client.get(reverse("approvals:mine")).content.decode()
        assert badge(client) == 0
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING
    # Bureau users read across their schools; school A's admin reads its own school's requests.
    assert client_for(world.bureau_admin).get(request.get_absolute_url()).status_code == 200
    assert client_for(world.admin_a).get(request.get_absolute_url()).status_code == 200


def test_a_teacher_sees_their_own_requests_only(world, people, client_for):
    mine = file(people.teacher, world.a.org, 100, title="我的申请")
    other_teacher = f.make_user("teacher2_a", org=world.a.org, roles=("teacher",))
    theirs = file(other_teacher, world.a.org, 100, title="别人的申请")
    client = client_for(people.teacher)
    assert client.get(mine.get_absolute_url()).status_code == 200
    assert client.get(theirs.get_absolute_url()).status_code == 404
    listed = [r.pk for r in client.get(reverse("approvals:mine")).context["page"].rows]
    assert listed == [mine.pk]


def test_approving_on_the_page(world, people, client_for):
    request = file(people.teacher, world.a.org, 1200, title="购买打印机")
    head = client_for(people.head)
    page = head.get(request.get_absolute_url())
    assert page.status_code == 200 and page.context["approval"]["can_act"]
    assert 'data-testid="approve"' in page.content.decode()
    # The requester sees the timeline and a withdraw button, but no approval buttons.
    own = client_for(people.teacher).get(request.get_absolute_url()).content.decode()
    assert 'data-testid="approve"' not in own and 'data-testid="withdraw"' in own and "总务主任审批" in own

    response = head.post(reverse("approvals:act", args=[request.pk]),
                         {"action": "approve", "comment": "同意采购", "step": 0, "round": 1})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.current_step == 1
    assert request.actions.last().comment == "同意采购"

    # A stale page (step 0 again) is refused with a Chinese message, and nothing is recorded.
    stale = client_for(people.head2).post(reverse("approvals:act", args=[request.pk]),
                                          {"action": "approve", "step": 0, "round": 1})
    assert stale.status_code == 200
    assert "已被他人处理" in " ".join(stale.context["act_errors"]) or "审批人" in " ".join(stale.context["act_errors"])
    principal = client_for(people.principal)
    refused = principal.post(reverse("approvals:act", args=[request.pk]),
                             {"action": "reject", "comment": "", "step": 1, "round": 1})
    assert refused.context["act_errors"] == ["驳回时必须填写意见。"] and refused.context["comment"] == ""
    principal.post(reverse("approvals:act", args=[request.pk]),
                   {"action": "reject", "comment": "暂缓", "step": 1, "round": 1})
    request.refresh_from_db()
    assert request.status == ApprovalStatus.REJECTED
    trail = client_for(people.teacher).get(request.get_absolute_url()).content.decode()
    assert "暂缓" in trail and "同意采购" in trail and "甲校校长" in trail


def test_filing_a_general_request_on_the_page(world, people, client_for):
    client = client_for(people.teacher)
    assert client.get(reverse("approvals:general_add")).status_code == 200
    bad = client.post(reverse("approvals:general_add"), {"title": "", "category": "venue", "amount": "-5"})
    assert bad.status_code == 200 and bad.context["form"].errors
    assert not GeneralRequest.objects.exists()
    response = client.post(reverse("approvals:general_add"), {
        "title": "借用多功能厅开家长会", "category": "venue", "amount": "0", "description": "周五下午"})
    request = ApprovalRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == request.get_absolute_url()
    assert request.requester == people.teacher and request.org == world.a.org
    assert request.source.description == "周五下午"
    # A bureau user has no school to file in.
    assert client_for(world.bureau_admin).get(reverse("approvals:general_add")).status_code == 403


def test_resubmitting_on_the_page(world, people, client_for):
    request = file(people.teacher, world.a.org, 1500)
    approvals.send_back(request, people.head, "金额偏高")
    client = client_for(people.teacher)
    assert client.get(reverse("approvals:resubmit", args=[request.pk])).status_code == 200
    assert client_for(people.head).get(reverse("approvals:resubmit", args=[request.pk])).status_code == 403
    client.post(reverse("approvals:resubmit", args=[request.pk]), {
        "title": "购买办公用品（调整）", "category": "other", "amount": "900", "comment": "已调整"})
    request.refresh_from_db()
    assert (request.status, request.round, request.amount) == (ApprovalStatus.PENDING, 2, Decimal("900.00"))
    assert request.title == "购买办公用品（调整）" and len(request.steps) == 1


def test_withdrawing_on_the_page(world, people, client_for):
    request = file(people.teacher, world.a.org, 100)
    client_for(people.head).post(reverse("approvals:withdraw", args=[request.pk]))
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING
    client_for(people.teacher).post(reverse("approvals:withdraw", args=[request.pk]))
    request.refresh_from_db()
    assert request.status == ApprovalStatus.WITHDRAWN


@pytest.mark.skipif(notification_engine is None, reason="houqin.core.notifications is not installed")
def test_notifications_reach_the_approvers_inbox_and_are_cleared_when_the_step_is_decided(world, people, monkeypatch):
    from houqin.core.models.notifications import Notification

    monkeypatch.setattr(approvals, "_load_notify", REAL_NOTIFICATIONS)
    request = file(people.teacher, world.a.org, 1500)

    def unread(user):
        return list(Notification.objects.filter(recipient=user, read_at__isnull=True).values_list("kind", "title"))

    todo = [("todo", f"待审批：通用申请 {request.number}")]
    assert unread(people.head) == unread(people.head2) == todo
    assert unread(people.principal) == [] and unread(people.teacher) == []
    assert Notification.objects.filter(recipient=people.head).get().url == request.get_absolute_url()

    approvals.approve(request, people.head)
    assert unread(people.head) == unread(people.head2) == []  # step 1 is done for every approver
    assert unread(people.principal) == todo and unread(people.head_and_principal) == todo
    approvals.approve(request, people.principal)
    assert unread(people.head_and_principal) == []
    assert unread(people.teacher) == [("info", f"审批通过：{request.number}")]
    # Another school never gets anything.
    assert not Notification.objects.filter(recipient__in=[people.principal_b, world.admin_b]).exists()


def test_pages_need_a_login(world, people, client_for):
    request = file(people.teacher, world.a.org, 100)
    anonymous = client_for(None)
    for url in (reverse("approvals:inbox"), reverse("approvals:mine"), reverse("approvals:badge"),
                request.get_absolute_url(), reverse("approvals:policy_list")):
        response = anonymous.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


# --- Concurrency ------------------------------------------------------------------------------------------------------
@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_approvers_clicking_at_once_record_one_action(world, people):
    request = file(people.teacher, world.a.org, 1500)
    results: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(2)

    def click(user):
        try:
            mine = ApprovalRequest.objects.get(pk=request.pk)  # each approver's own page load
            ready.wait(timeout=30)
            approvals.approve(mine, user, "同意")
            outcome = "ok"
        except ValidationError as exc:
            outcome = " ".join(exc.messages)
        except Exception as exc:  # noqa: BLE001 — reported by the assertion below
            outcome = f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=click, args=(user,)) for user in (people.head, people.head2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results, key=lambda r: r != "ok")[0] == "ok", results
    assert results.count("ok") == 1, results
    assert "已被他人处理" in [r for r in results if r != "ok"][0], results
    request.refresh_from_db()
    assert request.current_step == 1
    assert ApprovalAction.objects.filter(request=request, action=ApprovalActionKind.APPROVE).count() == 1


# --- Band editor ------------------------------------------------------------------------------------------------------
def band_post(rows, **extra) -> dict:
    data = {"bands-TOTAL_FORMS": str(len(rows)), "bands-INITIAL_FORMS": "0", "bands-MIN_NUM_FORMS": "0",
            "bands-MAX_NUM_FORMS": "1000", "flag_label": "", "flag_min_amount": "", "note": "", **extra}
    for i, row in enumerate(rows):
        lo, hi, steps = row[:3]
        category = row[3] if len(row) > 3 else ""
        data.update({f"bands-{i}-min_amount": lo, f"bands-{i}-max_amount": hi, f"bands-{i}-category": category})
        for n, step in enumerate(steps, start=1):
            key, distinct = step if isinstance(step, tuple) else (step, False)
            data[f"bands-{i}-step_{n}"] = key
            if distinct:
                data[f"bands-{i}-distinct_{n}"] = "on"
    return data


@pytest.mark.parametrize(("rows", "message"), [
    ([("0", "1000", ["logistics_head"]), ("2000", "", ["principal"])], "1,000 元至 2,000 元之间没有档位"),
    ([("0", "1000", ["logistics_head"]), ("500", "", ["principal"])], "重叠"),
    ([("0", "1000", ["logistics_head"]), ("1000", "5000", ["principal"])], "上限须留空"),
    ([("100", "", ["logistics_head"])], "须从 0 元起"),
    ([("0", "", [])], "至少需要一个审批步骤"),
    ([("0", "1000", ["logistics_head"]), ("1000", "500", ["principal"])], "上限须大于下限"),
    ([("0", "", ["principal"], "venue")], "须设置适用于全部类别"),
])
def test_policy_validation_errors(world, people, policy_perms, client_for, rows, message):
    response = client_for(people.admin_a).post(reverse("approvals:policy_edit", args=["general"]), band_post(rows))
    assert response.status_code == 200
    assert any(message in e for e in response.context["errors"]), response.context["errors"]
    assert not ApprovalPolicy.objects.exists()


def test_editing_and_resetting_a_policy(world, people, policy_perms, client_for):
    client = client_for(people.admin_a)
    listing = client.get(reverse("approvals:policy_list"))
    assert listing.status_code == 200 and "通用申请" in listing.content.decode()
    form = client.get(reverse("approvals:policy_edit", args=["purchase"]))
    assert form.status_code == 200 and form.context["formset"].initial[1]["distinct_2"] is True

    response = client.post(reverse("approvals:policy_edit", args=["purchase"]), band_post([
        ("0", "3000", ["logistics_head"]),
        ("3000", "", ["logistics_head", ("principal", True)]),
    ], flag_label="需政府采购", flag_min_amount="400000"))
    assert response.status_code == 302
    policy = approvals.policy_for(world.a.org, "purchase")
    assert not policy.is_default and policy.flag_min_amount == Decimal("400000")
    assert [len(b.steps) for b in policy.bands] == [1, 2] and policy.bands[1].steps[1].distinct
    assert approvers(file(people.teacher, world.a.org, 2999, request_type="purchase", category="goods")) == [
        "logistics_head"]
    # School B keeps the defaults.
    assert approvals.policy_for(world.b.org, "purchase").is_default

    client.post(reverse("approvals:policy_reset", args=["purchase"]))
    assert approvals.policy_for(world.a.org, "purchase").is_default


def test_only_a_school_admin_edits_the_bands(world, people, policy_perms, client_for):
    for user in (people.head, people.principal, people.teacher):
        assert client_for(user).get(reverse("approvals:policy_edit", args=["general"])).status_code == 403
        assert client_for(user).post(reverse("approvals:policy_reset", args=["general"])).status_code == 403
    assert client_for(people.head).get(reverse("approvals:policy_list")).status_code == 200
    assert client_for(people.teacher).get(reverse("approvals:policy_list")).status_code == 403
    with pytest.raises(ValidationError, match="没有修改本校审批设置的权限"):
        approvals.save_policy(world.a.org, "general", list(approvals.get_type("general").bands), people.head)
    assert client_for(people.admin_a).get(reverse("approvals:policy_edit", args=["nope"])).status_code == 404


def test_default_bands_of_every_type_are_valid():
    for request_type in approvals.REQUEST_TYPES.values():
        assert approvals.validate_bands(request_type, list(request_type.bands)) == [], request_type.code


def test_an_undecided_step_has_a_reminder_that_ends_with_the_decision(db):
    """Pending approvals feed the reminder engine: one active reminder for the waiting step, done once decided."""
    from houqin.core.models import GeneralRequest, Membership, Reminder, ReminderState, User
    from houqin.core.testing.world import build_world

    world = build_world()
    with acting_as(None):
        head = User.objects.create_user("rem_head", password="Houqin@2026x", full_name="总务甲")
        Membership.objects.create(user=head, org=world.a.org, role=Role.objects.get(code="logistics_head"))
        general = GeneralRequest.objects.create(org=world.a.org, requester=world.teacher_a, title="买粉笔",
                                                amount=Decimal("200"))
    request = approvals.submit(general, world.teacher_a)
    reminder = Reminder.objects.get(source_id=str(request.pk), key=approvals.STEP_REMINDER)
    assert reminder.state == ReminderState.ACTIVE and head in reminder.users.all()
    approvals.approve(request, head, "同意")
    reminder.refresh_from_db()
    assert reminder.state == ReminderState.DONE
