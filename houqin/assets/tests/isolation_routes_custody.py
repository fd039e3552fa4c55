"""Isolation checks of the custody pages (collected by houqin.core.testing.route_checks).

A card's command pages need the card to be visible (else 404: teachers, other schools, outsiders) and the ``change``
permission on it (else 403: the school's system administrator and the bureau read cards but do not move them).
我的资产 is open to everyone signed in and shows only the user's own things."""

from __future__ import annotations

from houqin.core.testing.isolation import LOGIN
from houqin.core.testing.route_checks import ANON, Check, everyone

SIGNATURE = None


def _signature():
    global SIGNATURE
    if SIGNATURE is None:
        import base64
        import io

        from PIL import Image, ImageDraw

        img = Image.new("RGB", (300, 120), (255, 255, 255))
        ImageDraw.Draw(img).line([(20, 60), (80, 20), (140, 100), (200, 30), (280, 80)], fill=(0, 0, 0), width=4)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        SIGNATURE = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return SIGNATURE


def _card(world, status="in_use"):
    import datetime
    from decimal import Decimal

    from houqin.assets import services
    from houqin.assets.categories import national
    from houqin.assets.models import Asset

    card = Asset(org=world.a.org, category=national("2010100"), name="甲校保管资产", unit_price=Decimal("5600"),
                 acquired_on=datetime.date(2024, 9, 1), room=world.a.rooms[0], department=world.a.department,
                 custodian=world.a.staff if status == "in_use" else None)
    return services.register_asset(card, status=status)


def card_in_use(world):
    return _card(world)


def card_idle(world):
    return _card(world, "idle")


def lent_card(world):
    from houqin.assets.tests.factories_custody import make_loan

    card = _card(world)
    make_loan(card, borrower=world.a.staff)
    return card


def open_loan(world):
    from houqin.assets.tests.factories_custody import make_loan

    return make_loan(_card(world), borrower=world.a.staff)


def _cards_of(world):
    from houqin.assets.models import Asset

    return Asset.objects.filter(org=world.a.org, room=world.a.rooms[0])


# GET: the form. POST: the school's logistics head does it (302); everyone else is refused and changes nothing.
GET = {ANON: LOGIN, "admin_b": 404, "outsider": 404, "teacher_a": 404, "bureau_admin": 403, "admin_a": 403,
       "head_a": 200, "superuser": 200}
POST = {ANON: LOGIN, "admin_b": 404, "outsider": 404, "teacher_a": 404, "bureau_admin": 403, "admin_a": 403,
        "head_a": 302}


def _data(**values):
    def build(world):
        resolved = {k: (v(world) if callable(v) else v) for k, v in values.items()}
        return {k: v for k, v in resolved.items() if v is not None}

    return build


ROUTES = {
    "assets:asset_assign": (
        Check("GET", GET, setup=card_idle, no_leak=True),
        Check("POST", POST, setup=card_idle,
              data=_data(department=lambda w: w.a.department.pk, custodian=lambda w: w.a.staff.pk)),
    ),
    "assets:asset_return_to_store": (
        Check("GET", GET, setup=card_in_use, no_leak=True),
        Check("POST", POST, setup=card_in_use, data=_data(note="越权退库")),
    ),
    "assets:asset_transfer": (
        Check("GET", GET, setup=card_in_use, no_leak=True),
        Check("POST", POST, setup=card_in_use,
              data=_data(department=lambda w: w.a.department.pk, room=lambda w: w.a.rooms[1].pk,
                         custodian=lambda w: w.a.staff.pk)),
    ),
    "assets:asset_lend": (
        Check("GET", GET, setup=card_in_use, no_leak=True),
        Check("POST", POST, setup=card_in_use,
              data=_data(borrower_kind="member", borrower=lambda w: w.a.staff.pk, purpose="越权借出",
                         due_on="2099-01-01", signature_later="on")),
    ),
    "assets:asset_return_loan": (
        Check("GET", GET, setup=lent_card, no_leak=True),
        Check("POST", POST, setup=lent_card, data=_data(condition="good")),
    ),
    "assets:loan_return": (
        Check("GET", GET, setup=open_loan, no_leak=True),
        Check("POST", POST, setup=open_loan, data=_data(condition="good")),
    ),
    "assets:loan_sign": (
        Check("GET", GET, setup=open_loan, no_leak=True),
        Check("POST", POST, setup=open_loan, data=_data(signature=lambda w: _signature())),
    ),
    # The current school's keepers and heads; the school's administrator, teachers and the bureau only read cards.
    "assets:transfer_batch": (
        Check("GET", {ANON: LOGIN, "admin_a": 403, "teacher_a": 403, "admin_b": 403, "bureau_admin": 403,
                      "outsider": 403, "head_a": 200}),
        Check("GET", {"admin_b": 403, "head_a": 200}, setup=card_in_use,
              data=_data(from_room=lambda w: w.a.rooms[0].pk)),
        Check("POST", {ANON: LOGIN, "admin_a": 403, "teacher_a": 403, "admin_b": 403, "bureau_admin": 403,
                       "outsider": 403, "head_a": 302}, setup=card_in_use,
              data=lambda w: {"from_room": w.a.rooms[0].pk, "room": w.a.rooms[1].pk,
                              "assets": [a.pk for a in _cards_of(w)]}),
    ),
    # Everyone signed in has their own list; nobody sees another's (school A's teacher keeps the card).
    "assets:my_assets": (
        Check("GET", everyone(200), setup=card_in_use, no_leak=True),
    ),
}
