"""The recurrence of inspection plans (houqin.repairs.recurrence): pure date arithmetic, tested exhaustively."""

from __future__ import annotations

import calendar
import datetime
import random

import pytest

from houqin.repairs.recurrence import (
    INTERVAL,
    KEEP,
    LAST,
    MONTHLY,
    NEXT,
    PREVIOUS,
    SKIP,
    TERM,
    WEEKLY,
    YEARLY,
    Rule,
    SchoolCalendar,
    TermSpan,
    clamped,
    nth_weekday,
    occurrences,
    upcoming,
)

D = datetime.date
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)

# The demo school's calendar: 2025-2026 and 2026-2027.
TERMS = (
    TermSpan("t1", D(2025, 9, 1), D(2026, 1, 23), "2025-2026学年 第一学期"),
    TermSpan("t2", D(2026, 3, 2), D(2026, 7, 3), "2025-2026学年 第二学期"),
    TermSpan("t3", D(2026, 9, 1), D(2027, 1, 29), "2026-2027学年 第一学期"),
    TermSpan("t4", D(2027, 2, 22), D(2027, 7, 2), "2026-2027学年 第二学期"),
)
NATIONAL_DAY = frozenset(D(2026, 10, d) for d in range(1, 8))  # 国庆 2026-10-01 … 10-07


def dues(rule, start, end, **kwargs):
    return [o.due for o in occurrences(rule, start, end, **kwargs)]


def all_days(start, end):
    day = start
    while day <= end:
        yield day
        day += datetime.timedelta(days=1)


# --- Nominal dates ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("weekday", range(7))
def test_weekly_every_weekday_of_two_years(weekday):
    rule = Rule(WEEKLY, weekday=weekday)
    found = dues(rule, D(2026, 1, 1), D(2027, 12, 31), adjust=KEEP)
    expected = [d for d in all_days(D(2026, 1, 1), D(2027, 12, 31)) if d.weekday() == weekday]
    assert found == expected
    keys = [o.key for o in occurrences(rule, D(2026, 1, 1), D(2027, 12, 31), adjust=KEEP)]
    assert len(set(keys)) == len(keys)


def test_weekly_keys_are_iso_weeks_across_the_new_year():
    rule = Rule(WEEKLY, weekday=MON)
    found = occurrences(rule, D(2025, 12, 22), D(2026, 1, 12), adjust=KEEP)
    assert [(o.key, o.due) for o in found] == [("2025-W52", D(2025, 12, 22)), ("2026-W01", D(2025, 12, 29)),
                                               ("2026-W02", D(2026, 1, 5)), ("2026-W03", D(2026, 1, 12))]
    # 2026 has 53 ISO weeks: Thursday 31 December is in 2026-W53.
    assert occurrences(Rule(WEEKLY, weekday=THU), D(2026, 12, 31), D(2026, 12, 31), adjust=KEEP)[0].key == "2026-W53"


@pytest.mark.parametrize(("day", "expected"), [
    (31, [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]),
    (30, [30, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30]),
    (29, [29, 28, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29]),
    (1, [1] * 12),
    (15, [15] * 12),
])
def test_monthly_day_is_clamped_to_the_months_last_day(day, expected):
    found = dues(Rule(MONTHLY, month_day=day), D(2026, 1, 1), D(2026, 12, 31), adjust=KEEP)
    assert [d.day for d in found] == expected
    assert [d.month for d in found] == list(range(1, 13))


def test_monthly_in_a_leap_year_february_has_29_days():
    assert dues(Rule(MONTHLY, month_day=31), D(2028, 2, 1), D(2028, 2, 29), adjust=KEEP) == [D(2028, 2, 29)]
    assert dues(Rule(MONTHLY, month_day=29), D(2028, 2, 1), D(2028, 3, 31), adjust=KEEP) == [D(2028, 2, 29),
                                                                                           D(2028, 3, 29)]
    assert dues(Rule(MONTHLY, month_day=30), D(2100, 2, 1), D(2100, 2, 28), adjust=KEEP) == [D(2100, 2, 28)]
    assert dues(Rule(MONTHLY, month_day=31), D(2000, 2, 1), D(2000, 2, 29), adjust=KEEP) == [D(2000, 2, 29)]


@pytest.mark.parametrize("n", [1, 2, 3, 4, LAST])
def test_nth_weekday_of_every_month_of_a_decade(n):
    for year in range(2024, 2034):
        for month in range(1, 13):
            for weekday in range(7):
                days = [D(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)
                        if D(year, month, d).weekday() == weekday]
                expected = days[-1] if n == LAST else days[n - 1]
                assert nth_weekday(year, month, weekday, n) == expected, (year, month, weekday, n)


def test_first_monday_of_the_month():
    found = occurrences(Rule(MONTHLY, weekday=MON, week_of_month=1), D(2025, 9, 1), D(2026, 3, 31), adjust=KEEP)
    assert [(o.key, o.due) for o in found] == [
        ("2025-09", D(2025, 9, 1)), ("2025-10", D(2025, 10, 6)), ("2025-11", D(2025, 11, 3)),
        ("2025-12", D(2025, 12, 1)), ("2026-01", D(2026, 1, 5)), ("2026-02", D(2026, 2, 2)),
        ("2026-03", D(2026, 3, 2))]
    assert dues(Rule(MONTHLY, weekday=FRI, week_of_month=LAST), D(2026, 1, 1), D(2026, 3, 31), adjust=KEEP) == [
        D(2026, 1, 30), D(2026, 2, 27), D(2026, 3, 27)]


def test_yearly_before_summer_and_on_29_february():
    rule = Rule(YEARLY, month=6, month_day=1)
    found = occurrences(rule, D(2025, 1, 1), D(2028, 12, 31), adjust=KEEP)
    assert [(o.key, o.due) for o in found] == [("2025", D(2025, 6, 1)), ("2026", D(2026, 6, 1)),
                                               ("2027", D(2027, 6, 1)), ("2028", D(2028, 6, 1))]
    leap = Rule(YEARLY, month=2, month_day=29)
    assert dues(leap, D(2027, 1, 1), D(2029, 12, 31), adjust=KEEP) == [D(2027, 2, 28), D(2028, 2, 29),
                                                                       D(2029, 2, 28)]


def test_interval_from_an_anchor():
    rule = Rule(INTERVAL, every_days=10, anchor=D(2026, 9, 1))
    assert dues(rule, D(2026, 8, 1), D(2026, 10, 1), adjust=KEEP) == [D(2026, 9, 1), D(2026, 9, 11), D(2026, 9, 21),
                                                                      D(2026, 10, 1)]
    # A window starting mid-way begins with the next step, never before the anchor.
    assert dues(rule, D(2026, 9, 12), D(2026, 9, 30), adjust=KEEP) == [D(2026, 9, 21)]
    keys = [o.key for o in occurrences(rule, D(2026, 9, 1), D(2026, 9, 30), adjust=KEEP)]
    assert keys == ["2026-09-01", "2026-09-11", "2026-09-21"]
    daily = Rule(INTERVAL, every_days=1, anchor=D(2026, 2, 27))
    assert dues(daily, D(2026, 2, 27), D(2026, 3, 2), adjust=KEEP) == list(all_days(D(2026, 2, 27), D(2026, 3, 2)))


def test_term_start_with_an_offset():
    cal = SchoolCalendar(terms=TERMS)
    first_day = occurrences(Rule(TERM), D(2025, 1, 1), D(2027, 12, 31), calendar=cal, adjust=KEEP)
    assert [(o.key, o.due) for o in first_day] == [("t1", D(2025, 9, 1)), ("t2", D(2026, 3, 2)),
                                                   ("t3", D(2026, 9, 1)), ("t4", D(2027, 2, 22))]
    before = dues(Rule(TERM, offset_days=-3), D(2026, 1, 1), D(2026, 12, 31), calendar=cal, adjust=KEEP)
    assert before == [D(2026, 2, 27), D(2026, 8, 29)]
    # Only the terms whose (shifted) day is in the window.
    assert dues(Rule(TERM, offset_days=7), D(2026, 3, 9), D(2026, 9, 7), calendar=cal, adjust=KEEP) == [D(2026, 3, 9)]
    assert occurrences(Rule(TERM), D(2026, 1, 1), D(2026, 12, 31), adjust=KEEP) == []  # no terms known


# --- Working days, holidays and vacations ---------------------------------------------------------------------------
def test_weekend_moves_to_monday_or_friday_or_is_skipped_or_kept():
    rule = Rule(MONTHLY, month_day=1)  # 2026-11-01 is a Sunday, 2026-08-01 a Saturday
    window = (D(2026, 11, 1), D(2026, 11, 30))
    assert dues(rule, *window, adjust=NEXT) == [D(2026, 11, 2)]
    assert dues(rule, *window, adjust=KEEP) == [D(2026, 11, 1)]
    assert dues(rule, *window, adjust=SKIP) == []
    # November's check moves back into October's window (Friday 30 October), October's own stays on Thursday 1st.
    assert dues(rule, D(2026, 10, 1), D(2026, 10, 31), adjust=PREVIOUS) == [D(2026, 10, 1), D(2026, 10, 30)]
    assert dues(rule, D(2026, 10, 1), D(2026, 10, 31), adjust=NEXT) == [D(2026, 10, 1)]
    found = occurrences(rule, D(2026, 11, 1), D(2026, 11, 30), adjust=NEXT)
    assert found[0].key == "2026-11" and found[0].nominal == D(2026, 11, 1)


def test_public_holidays_and_make_up_working_days():
    cal = SchoolCalendar(terms=TERMS, holidays=NATIONAL_DAY, workdays=frozenset({D(2026, 9, 27), D(2026, 10, 10)}))
    first_monday = Rule(MONTHLY, weekday=MON, week_of_month=1)  # 2026-10-05, in the National Day holiday
    assert dues(first_monday, D(2026, 10, 1), D(2026, 10, 31), calendar=cal) == [D(2026, 10, 8)]
    assert dues(first_monday, D(2026, 9, 1), D(2026, 10, 31), calendar=cal, adjust=PREVIOUS) == [
        D(2026, 9, 7), D(2026, 9, 30)]
    weekly_sunday = Rule(WEEKLY, weekday=SUN)  # 2026-09-27 is a make-up working Sunday: kept as it is
    assert D(2026, 9, 27) in dues(weekly_sunday, D(2026, 9, 21), D(2026, 10, 4), calendar=cal, adjust=SKIP)
    assert cal.is_working_day(D(2026, 10, 10)) and not cal.is_working_day(D(2026, 10, 1))


def test_vacations_drop_weekly_checks_but_move_the_last_one_into_the_term():
    cal = SchoolCalendar(terms=TERMS)
    monday = Rule(WEEKLY, weekday=MON)
    summer = dues(monday, D(2026, 6, 22), D(2026, 9, 14), calendar=cal)
    # Term ends Friday 3 July; Monday 31 August is in the holiday and moves to Tuesday 1 September, the first day.
    assert summer == [D(2026, 6, 22), D(2026, 6, 29), D(2026, 9, 1), D(2026, 9, 7), D(2026, 9, 14)]
    assert len(dues(monday, D(2026, 6, 22), D(2026, 9, 14), calendar=cal, vacations=True)) == 13
    # After the last known term the calendar is unknown: not a holiday, the checks go on.
    assert not cal.is_vacation(D(2027, 7, 20)) and cal.is_vacation(D(2027, 2, 1))
    assert cal.is_vacation(D(2026, 8, 31)) and not cal.is_vacation(D(2026, 9, 1))
    assert not cal.is_vacation(D(2025, 8, 1))  # before the first known term


def test_a_term_check_before_the_term_needs_the_vacation_days():
    cal = SchoolCalendar(terms=TERMS)
    rule = Rule(TERM, offset_days=-3)  # Saturday 29 August 2026
    assert dues(rule, D(2026, 8, 1), D(2026, 9, 30), calendar=cal, vacations=True) == [D(2026, 8, 31)]
    assert dues(rule, D(2026, 8, 1), D(2026, 9, 30), calendar=cal, vacations=True, adjust=PREVIOUS) == [
        D(2026, 8, 28)]


def test_yearly_on_a_sunday_moves_to_monday():
    rule = Rule(YEARLY, month=6, month_day=1)  # 2025-06-01 is a Sunday
    assert dues(rule, D(2025, 1, 1), D(2025, 12, 31)) == [D(2025, 6, 2)]
    assert dues(rule, D(2025, 1, 1), D(2025, 12, 31), adjust=PREVIOUS) == [D(2025, 5, 30)]


def test_opens_the_day_after_the_previous_nominal_date():
    found = occurrences(Rule(WEEKLY, weekday=WED), D(2026, 11, 18), D(2026, 11, 25))
    assert [(o.opens, o.due) for o in found] == [(D(2026, 11, 12), D(2026, 11, 18)), (D(2026, 11, 19),
                                                                                      D(2026, 11, 25))]
    monthly = occurrences(Rule(MONTHLY, month_day=1), D(2026, 12, 1), D(2026, 12, 31))
    assert monthly[0].opens == D(2026, 11, 2) and monthly[0].due == D(2026, 12, 1)
    anchor = occurrences(Rule(INTERVAL, every_days=10, anchor=D(2026, 9, 1)), D(2026, 9, 1), D(2026, 9, 1),
                         adjust=KEEP)
    assert anchor[0].opens == D(2026, 8, 23)


# --- Invariants over random rules and calendars ---------------------------------------------------------------------
def random_rule(rng: random.Random) -> Rule:
    kind = rng.choice([WEEKLY, MONTHLY, MONTHLY, TERM, YEARLY, INTERVAL])
    if kind == WEEKLY:
        return Rule(WEEKLY, weekday=rng.randrange(7))
    if kind == MONTHLY:
        if rng.random() < 0.5:
            return Rule(MONTHLY, weekday=rng.randrange(7), week_of_month=rng.choice([1, 2, 3, 4, LAST]))
        return Rule(MONTHLY, month_day=rng.randint(1, 31))
    if kind == YEARLY:
        month = rng.randint(1, 12)
        return Rule(YEARLY, month=month, month_day=rng.randint(1, calendar.monthrange(2000, month)[1]))
    if kind == INTERVAL:
        return Rule(INTERVAL, every_days=rng.choice([1, 2, 3, 7, 10, 14, 30, 90]),
                    anchor=D(2025, 1, 1) + datetime.timedelta(days=rng.randrange(400)))
    return Rule(TERM, offset_days=rng.randint(-10, 10))


@pytest.mark.parametrize("seed", range(40))
def test_windows_add_up_and_occurrences_never_collide(seed):
    rng = random.Random(seed)
    rule = random_rule(rng)
    holidays = frozenset(D(2025, 1, 1) + datetime.timedelta(days=rng.randrange(1000)) for _ in range(30))
    cal = SchoolCalendar(terms=TERMS, holidays=holidays | NATIONAL_DAY)
    adjust = rng.choice([NEXT, PREVIOUS, KEEP, SKIP])
    vacations = rng.random() < 0.3
    start, end = D(2025, 6, 1), D(2027, 9, 30)
    whole = occurrences(rule, start, end, calendar=cal, adjust=adjust, vacations=vacations)
    # Generating window by window (as the daily job does) gives exactly the same occurrences.
    pieces, day = [], start
    while day <= end:
        stop = min(end, day + datetime.timedelta(days=rng.randint(1, 40)))
        pieces += occurrences(rule, day, stop, calendar=cal, adjust=adjust, vacations=vacations)
        day = stop + datetime.timedelta(days=1)
    assert pieces == whole, rule
    assert len({o.key for o in whole}) == len(whole), rule
    assert all(a.due < b.due and a.nominal < b.nominal for a, b in zip(whole, whole[1:], strict=False)), rule
    for occ in whole:
        assert occ.opens <= occ.due
        if adjust == KEEP:
            assert occ.due == occ.nominal
        else:
            assert cal.is_working_day(occ.due, vacations=vacations), (rule, occ)
        if adjust == SKIP:
            assert occ.due == occ.nominal


# --- Validation and wording ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("rule", "errors"), [
    (Rule("daily"), {"kind": "请选择周期。"}),
    (Rule(WEEKLY), {"weekday": "请选择星期几。"}),
    (Rule(WEEKLY, weekday=7), {"weekday": "星期几只能是星期一到星期日。"}),
    (Rule(MONTHLY), {"month_day": "请填写每月几日，或选择“每月第几个星期几”。"}),
    (Rule(MONTHLY, month_day=32), {"month_day": "日期只能是 1 到 31 日（31 日表示每月最后一天）。"}),
    (Rule(MONTHLY, week_of_month=5, weekday=0), {"week_of_month": "只能选第一个到第四个，或最后一个。"}),
    (Rule(MONTHLY, week_of_month=1), {"weekday": "请选择星期几。"}),
    (Rule(YEARLY, month=2, month_day=30), {"month_day": "2 月没有 30 日。"}),
    (Rule(YEARLY, month_day=1), {"month": "请选择月份。"}),
    (Rule(INTERVAL, every_days=0, anchor=D(2026, 1, 1)), {"every_days": "间隔天数只能是 1 到 366 天。"}),
    (Rule(INTERVAL, every_days=5), {"anchor": "请填写从哪一天开始。"}),
    (Rule(TERM, offset_days=-61), {"offset_days": "只能在开学前后 60 天之内。"}),
    (Rule(YEARLY, month=2, month_day=29), {}),
])
def test_rule_errors(rule, errors):
    assert rule.errors() == errors
    if errors:
        assert occurrences(rule, D(2026, 1, 1), D(2026, 12, 31)) == []


@pytest.mark.parametrize(("rule", "text"), [
    (Rule(WEEKLY, weekday=MON), "每周一"),
    (Rule(WEEKLY, weekday=SUN), "每周日"),
    (Rule(MONTHLY, month_day=15), "每月 15 日"),
    (Rule(MONTHLY, month_day=31), "每月最后一天"),
    (Rule(MONTHLY, weekday=MON, week_of_month=1), "每月第一个星期一"),
    (Rule(MONTHLY, weekday=FRI, week_of_month=LAST), "每月最后一个星期五"),
    (Rule(TERM), "每学期开学第一天"),
    (Rule(TERM, offset_days=-3), "每学期开学前 3 天"),
    (Rule(TERM, offset_days=5), "每学期开学后 5 天"),
    (Rule(YEARLY, month=6, month_day=1), "每年 6 月 1 日"),
    (Rule(INTERVAL, every_days=10, anchor=D(2026, 9, 1)), "每 10 天（2026-09-01 起）"),
    (Rule(WEEKLY), "周期设置不完整"),
])
def test_describe(rule, text):
    assert rule.describe() == text


def test_helpers_and_upcoming():
    assert clamped(2026, 2, 31) == D(2026, 2, 28) and clamped(2028, 2, 31) == D(2028, 2, 29)
    assert clamped(2026, 4, 31) == D(2026, 4, 30)
    nxt = upcoming(Rule(WEEKLY, weekday=FRI), D(2026, 11, 21), 2)
    assert [o.due for o in nxt] == [D(2026, 11, 27), D(2026, 12, 4)]
    with pytest.raises(ValueError):
        occurrences(Rule(WEEKLY, weekday=0), D(2026, 1, 1), D(2026, 1, 31), adjust="sideways")
