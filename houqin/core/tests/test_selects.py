"""Drop-down lists written without a template per option, with choices kept for a short while per process
(houqin.core.selects): the same HTML as Django's own widgets, and never a stale or foreign choice."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django import forms
from django.urls import reverse

from houqin.core import selects
from houqin.core.models import Department, Room
from houqin.core.templatetags.houqin import as_control
from houqin.core.testing import factories as f

pytestmark = pytest.mark.django_db


class _Select(HTMLParser):
    """The attributes of each <select> and its options: (value, label, selected), optgroups flattened."""

    def __init__(self):
        super().__init__()
        self.selects: dict[str, dict] = {}
        self._current = None
        self._option = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "select":
            self._current = {"attrs": attrs, "options": []}
            self.selects[attrs.get("name")] = self._current
        elif tag == "option" and self._current is not None:
            self._option = [attrs.get("value"), "", "selected" in attrs]
            self._current["options"].append(self._option)

    def handle_data(self, data):
        if self._option is not None:
            self._option[1] += data

    def handle_endtag(self, tag):
        if tag == "option":
            self._option = None
        elif tag == "select":
            self._current = None


def _parsed(html: str) -> dict:
    parser = _Select()
    parser.feed(str(html))
    return parser.selects


def _filter_selects(client, url, **params) -> dict:
    response = client.get(url, params)
    assert response.status_code == 200
    return _parsed(response.content.decode())


class _Form(forms.Form):
    status = forms.ChoiceField(choices=[("", "全部"), ("a", "在用 <A>"), ("b", "闲置 & 待用")], required=False)
    grouped = forms.ChoiceField(choices=[("", "—"), ("一楼", [("1", "101"), ("2", "102")]), ("3", "操场")],
                                required=False)
    room = forms.ModelChoiceField(queryset=Room.objects.none(), required=False, empty_label="全部地点")
    department = forms.ModelChoiceField(queryset=Department.objects.none(), required=True)


@pytest.mark.parametrize("data", [None, {"status": "b", "grouped": "2"}, {"status": "zz", "grouped": "3"}])
def test_same_select_as_django_writes(world, data):
    form = _Form(data={**(data or {}), "room": str(world.a.rooms[1].pk), "department": ""} if data else None)
    form.fields["room"].queryset = Room.objects.filter(org=world.a.org).order_by("pk")
    form.fields["department"].queryset = Department.objects.filter(org=world.a.org)
    if data:
        form.is_valid()
    for name in form.fields:
        bound = form[name]
        ours = _parsed(as_control(bound))[bound.html_name]
        theirs = _parsed(bound.as_widget(attrs={"class": "form-select"}))[bound.html_name]
        assert ours["options"] == theirs["options"], name
        expected_attrs = dict(theirs["attrs"])
        if bound.errors:
            expected_attrs["class"] += " is-invalid"
            expected_attrs["aria-invalid"] = "true"
        assert ours["attrs"] == expected_attrs, name


def test_labels_are_escaped(world):
    form = _Form()
    html = str(as_control(form["status"]))
    assert "在用 &lt;A&gt;" in html and "闲置 &amp; 待用" in html
    assert not re.search(r"<A>", html)


def test_new_room_shows_at_once_and_other_schools_never(world, client_for):
    client = client_for(world.head_a)
    url = reverse("assets:asset_list")
    before = {o[0] for o in _filter_selects(client, url)["room"]["options"]}
    assert str(world.a.rooms[0].pk) in before
    assert not before & {str(r.pk) for r in world.b.rooms}
    room = f.make_room(floor=world.a.floor, name="新建的实验室", number="399")
    after = _filter_selects(client, url)["room"]["options"]
    assert str(room.pk) in {o[0] for o in after}
    assert any("新建的实验室" in label for _value, label, _sel in after)
    # A rename of a building shows in the rooms' names (the rooms' labels name their building).
    world.a.building.name = "改名后的教学楼"
    world.a.building.save()
    labels = [label for _v, label, _s in _filter_selects(client, url)["room"]["options"]]
    assert any("改名后的教学楼" in label for label in labels)


def test_bulk_written_rows_show_within_the_freshness_window(world, client_for, monkeypatch):
    client = client_for(world.head_a)
    url = reverse("assets:asset_list")
    _filter_selects(client, url)
    Department.objects.bulk_create([Department(org=world.a.org, name="批量导入的部门", kind="office")])
    # Bulk writes send no signals: the kept list stands until it expires…
    labels = [label for _v, label, _s in _filter_selects(client, url)["department"]["options"]]
    assert "批量导入的部门" not in labels
    # …which it does after TTL_SECONDS.
    now = selects.time.monotonic()
    monkeypatch.setattr(selects.time, "monotonic", lambda: now + selects.TTL_SECONDS + 1)
    labels = [label for _v, label, _s in _filter_selects(client, url)["department"]["options"]]
    assert "批量导入的部门" in labels


def test_selected_choice_is_kept_and_marked(world, client_for):
    client = client_for(world.head_a)
    room = world.a.rooms[1]
    options = _filter_selects(client, reverse("assets:asset_list"), room=room.pk)["room"]["options"]
    assert [value for value, _label, selected in options if selected] == [str(room.pk)]
