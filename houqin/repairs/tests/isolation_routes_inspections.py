"""Isolation checks of the inspection pages that are not ModelUI routes (collected by
houqin.core.testing.route_checks).

巡检任务 is open to everyone signed in and shows only their own runs (and, to the school's managers, the school's
counts). The buttons need the plan permissions in the current school. 填写巡检 needs the run to be visible (else
404) and the user to be its responsible person, a holder of its role, or to hold ``repairs.change_inspectionrun``
(else 403: the school's system administrator and the bureau read runs but do not fill them in)."""

from __future__ import annotations

from houqin.core.testing.isolation import LOGIN
from houqin.core.testing.route_checks import ANON, Check, everyone


def plan_of_a(world):
    from houqin.core.testing.factories import unique
    from houqin.repairs.tests.factories_inspections import make_plan

    return make_plan(world.a.org, name=f"甲校大型玩具周检{unique()}", target="甲校操场滑梯", lead_days=7)


def run_of_a(world):
    import datetime

    from django.utils import timezone

    from houqin.repairs.tests.factories_inspections import make_run

    today = timezone.localdate()
    return make_run(plan_of_a(world), due_date=today, opens_on=today - datetime.timedelta(days=6))


REFUSED_BUTTON = {ANON: LOGIN, "admin_a": 403, "teacher_a": 403, "admin_b": 403, "bureau_admin": 403,
                  "outsider": 403}

ROUTES = {
    "repairs:inspection_home": (
        Check("GET", {**everyone(200), "head_a": 200}, no_leak=True, setup=run_of_a),
    ),
    # School-wide buttons act in the user's current school: its logistics head (and a superuser) may press them.
    "repairs:inspection_generate": (
        Check("POST", {**REFUSED_BUTTON, "head_a": 302, "superuser": 302}, setup=plan_of_a),
        Check("GET", {ANON: LOGIN, "head_a": 405, "admin_b": 405}),
    ),
    "repairs:inspection_seed": (
        Check("POST", {**REFUSED_BUTTON, "head_a": 302, "superuser": 302}),
    ),
    "repairs:inspectionplan_generate": (
        Check("POST", {ANON: LOGIN, "teacher_a": 404, "admin_b": 404, "outsider": 404, "admin_a": 403,
                       "bureau_admin": 403, "head_a": 302, "superuser": 302}, setup=plan_of_a),
    ),
    "repairs:inspectionrun_do": (
        Check("GET", {ANON: LOGIN, "teacher_a": 404, "admin_b": 404, "outsider": 404, "admin_a": 403,
                      "bureau_admin": 403, "head_a": 200, "superuser": 200}, setup=run_of_a, no_leak=True),
        # An empty submission: refused with the form's messages (200) for those who may fill it in.
        Check("POST", {ANON: LOGIN, "teacher_a": 404, "admin_b": 404, "outsider": 404, "admin_a": 403,
                       "bureau_admin": 403, "head_a": 200, "superuser": 200}, setup=run_of_a,
              unchanged_for=("head_a", "superuser")),
    ),
}
