"""Dispatch help (派工): who can fix an order, and who is suggested — by trade, then by the fewest open jobs.

Technicians of a school are the holders of the 维修工 role there, plus anyone with a ``Technician`` profile of the
school (e.g. a 总务主任 who also repairs). A profile names trades; without one (or without trades) a technician
counts as 综合 (every trade). A profile switched off (``is_active`` false: on leave) is listed but never suggested.
Everything is read in four queries per page, however many orders the page shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count

from houqin.repairs.models import WORKING_STATES, Technician, Trade, WorkOrder

TECHNICIAN_ROLES = ("technician",)


@dataclass
class Candidate:
    user: object
    trades: tuple[str, ...] = ()
    on_duty: bool = True
    load: int = 0  # open jobs (已派工, 维修中, 待配件, 外修)
    phone: str = ""
    profile_id: int | None = None

    @property
    def name(self) -> str:
        return self.user.get_full_name()

    @property
    def trades_display(self) -> str:
        labels = dict(Trade.choices)
        return "、".join(labels.get(t, t) for t in self.trades) if self.trades else "综合"

    def fits(self, trade: str) -> int:
        """2: the order's trade is theirs; 1: they are 综合 (or the order is); 0: another trade."""
        if trade in self.trades:
            return 2
        if not self.trades or Trade.GENERAL in self.trades or trade == Trade.GENERAL:
            return 1
        return 0

    @property
    def label(self) -> str:
        duty = "" if self.on_duty else "，不在岗"
        return f"{self.name}（{self.trades_display}，在修 {self.load} 单{duty}）"


@dataclass
class Board:
    candidates: list[Candidate] = field(default_factory=list)

    def by_user(self) -> dict[int, Candidate]:
        return {c.user.pk: c for c in self.candidates}

    def suggest(self, order: WorkOrder) -> Candidate | None:
        """The best fit for the order's trade among those on duty, the least loaded first, never someone of
        another trade only."""
        trade = order.category.trade if order.category_id else Trade.GENERAL
        ranked = sorted((c for c in self.candidates if c.on_duty and c.fits(trade)),
                        key=lambda c: (-c.fits(trade), c.load, c.name))
        return ranked[0] if ranked else None

    def ordered_for(self, order: WorkOrder) -> list[Candidate]:
        trade = order.category.trade if order.category_id else Trade.GENERAL
        return sorted(self.candidates, key=lambda c: (not c.on_duty, -c.fits(trade), c.load, c.name))


def board(org) -> Board:
    """The school's technicians with their trades and open load."""
    from houqin.core.models import User

    profiles = {t.user_id: t for t in Technician.objects.filter(org=org)}
    role_holders = set(User.objects.filter(memberships__org=org, memberships__role__code__in=TECHNICIAN_ROLES)
                       .values_list("pk", flat=True))
    users = list(User.objects.filter(pk__in=sorted(role_holders | set(profiles)), is_active=True,
                                     memberships__org=org).distinct().order_by("full_name", "username"))
    loads = dict(WorkOrder.objects.filter(org=org, state__in=WORKING_STATES, assignee__in=[u.pk for u in users])
                 .values_list("assignee").annotate(n=Count("pk")).order_by())
    result = []
    for user in users:
        profile = profiles.get(user.pk)
        result.append(Candidate(
            user=user, trades=tuple(profile.trades or ()) if profile else (),
            on_duty=profile.is_active if profile else True, load=loads.get(user.pk, 0),
            phone=(profile.phone if profile and profile.phone else user.phone),
            profile_id=profile.pk if profile else None,
        ))
    return Board(result)
