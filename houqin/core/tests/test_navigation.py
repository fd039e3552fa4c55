"""The side menu: written once per permission set and page (houqin.core.navigation.menu_html), it still shows each
user exactly the entries their roles allow, and marks the page they are on."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from houqin.core.auth import clear_access_cache

pytestmark = pytest.mark.django_db


def _menu(client, url) -> list[tuple[str, bool]]:
    html = client.get(url).content.decode()
    menu = html[html.index('id="sidebar-menu"'):html.index("</aside>")]
    return [(label, "active" in css) for css, label in
            re.findall(r'<a class="dropdown-item([^"]*)" href="[^"]*"><i class="[^"]*"></i>([^<]+)</a>', menu)]


def test_each_user_sees_only_what_their_roles_allow(world, client_for):
    teacher = dict(_menu(client_for(world.teacher_a), reverse("dashboard")))
    admin = dict(_menu(client_for(world.admin_a), reverse("dashboard")))
    assert "待我审批" in teacher and "待我审批" in admin
    assert "审批设置" in admin and "审批设置" not in teacher


def test_the_current_page_is_marked(world, client_for):
    client = client_for(world.admin_a)
    on_policies = _menu(client, reverse("approvals:policy_list"))
    assert [label for label, active in on_policies if active] == ["审批设置"]
    on_inbox = _menu(client, reverse("approvals:inbox"))
    assert [label for label, active in on_inbox if active] == ["待我审批"]


def test_a_role_change_changes_the_menu(world, client_for):
    teacher = world.teacher_a
    client = client_for(teacher)
    assert "审批设置" not in dict(_menu(client, reverse("dashboard")))
    role = teacher.memberships.get(org=world.a.org).role
    role.permissions.add(Permission.objects.get(codename="view_approvalpolicy"))
    clear_access_cache(teacher)
    assert "审批设置" in dict(_menu(client, reverse("dashboard")))
