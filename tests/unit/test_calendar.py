"""Working-day calendar: real Vietnamese dates, overrides, cut-offs, pauses and classification."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import holidays
import pytest

from app.dossiers.calendar import (
    DUNG_HAN,
    QUA_HAN,
    SAP_HET_HAN,
    TRONG_HAN,
    TRUOC_HAN,
    CalendarOverride,
    OfficeHours,
    WorkingCalendar,
    classify_finished,
    classify_in_progress,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")
WD = "working_days"


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=VN)


@pytest.fixture
def cal() -> WorkingCalendar:
    return WorkingCalendar()


# ------------------------------------------------------------------ office hours


def test_default_office_hours_make_an_eight_hour_day() -> None:
    hours = OfficeHours()
    assert hours.hours_per_day == 8
    assert hours.opening == time(7, 0)
    assert hours.closing == time(17, 0)
    assert hours.duration_per_day == timedelta(hours=8)


def test_custom_office_hours() -> None:
    hours = OfficeHours(((time(8, 0), time(12, 0)), (time(13, 0), time(16, 30))))
    assert hours.hours_per_day == Decimal("7.5")
    assert hours.closing == time(16, 30)


@pytest.mark.parametrize(
    "periods",
    [
        (),
        ((time(11, 0), time(7, 0)),),
        ((time(7, 0), time(7, 0)),),
        ((time(7, 0), time(12, 0)), (time(11, 0), time(17, 0))),  # overlap
        ((time(13, 0), time(17, 0)), (time(7, 0), time(11, 0))),  # unsorted
        ((time(7, 0, tzinfo=UTC), time(11, 0)),),
    ],
)
def test_invalid_office_hours_are_refused(periods: tuple[tuple[time, time], ...]) -> None:
    with pytest.raises(ValueError):
        OfficeHours(periods)


# ------------------------------------------------------------------ working days


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 9, 2),  # National Day
        date(2026, 9, 1),  # National Day, second day
        date(2027, 1, 1),  # New Year's Day
        date(2026, 4, 30),  # Reunification Day
        date(2026, 5, 1),  # Labour Day
        date(2026, 11, 21),  # Saturday
        date(2026, 11, 22),  # Sunday
    ],
)
def test_known_days_off(cal: WorkingCalendar, day: date) -> None:
    assert not cal.is_working_day(day)


@pytest.mark.parametrize("day", [date(2026, 11, 20), date(2026, 9, 3), date(2026, 12, 31), date(2027, 1, 4)])
def test_known_working_days(cal: WorkingCalendar, day: date) -> None:
    assert cal.is_working_day(day)


def test_holiday_name_comes_from_the_package(cal: WorkingCalendar) -> None:
    assert cal.holiday_name(date(2026, 9, 2)) is not None
    assert cal.holiday_name(date(2026, 9, 3)) is None


def test_calendar_agrees_with_the_package_over_two_years(cal: WorkingCalendar) -> None:
    reference = holidays.country_holidays("VN")
    day = date(2026, 1, 1)
    while day <= date(2027, 12, 31):
        assert cal.is_working_day(day) == reference.is_working_day(day), day
        day += timedelta(days=1)


def test_weekend_days_the_government_moved_into_working_days_count(cal: WorkingCalendar) -> None:
    reference = holidays.country_holidays("VN", years=[2026])
    moved = {d for d in reference.weekend_workdays if d.year == 2026}
    assert moved, "the package lists at least one Saturday worked in 2026 (swap for the 31/8 day off)"
    for day in moved:
        assert day.weekday() >= 5
        assert cal.is_working_day(day)


def test_tet_2027_is_skipped(cal: WorkingCalendar) -> None:
    reference = holidays.country_holidays("VN", years=[2027])
    tet = sorted(d for d in reference if d.year == 2027 and d.month == 2)
    assert date(2027, 2, 6) in tet  # Lunar New Year's Day, Đinh Mùi
    assert len(tet) >= 5
    for day in tet:
        assert not cal.is_working_day(day), day
    # Received the working day before the break: one working day lands on the first weekday after it.
    before = date(2027, 2, 3)
    assert cal.is_working_day(before) and before < tet[0]
    expected = tet[-1] + timedelta(days=1)
    while expected.weekday() >= 5 or expected in reference:
        expected += timedelta(days=1)
    due = cal.due_date(local(2027, 2, 3, 10), 1, WD)
    assert due == datetime.combine(expected, time(17, 0), tzinfo=VN)
    assert due.date() > date(2027, 2, 6)


def test_next_working_day_is_strictly_after(cal: WorkingCalendar) -> None:
    assert cal.next_working_day(date(2026, 11, 19)) == date(2026, 11, 20)
    assert cal.next_working_day(date(2026, 11, 20)) == date(2026, 11, 23)
    # 29/8 Sat, 30/8 Sun, 31/8 substituted day off, 1–2/9 National Day
    assert cal.next_working_day(date(2026, 8, 28)) == date(2026, 9, 3)


def test_add_working_days(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(date(2026, 11, 20), 0) == date(2026, 11, 20)
    assert cal.add_working_days(date(2026, 11, 21), 0) == date(2026, 11, 23)
    assert cal.add_working_days(date(2026, 11, 20), 1) == date(2026, 11, 23)
    with pytest.raises(ValueError):
        cal.add_working_days(date(2026, 11, 20), -1)


# ------------------------------------------------------------------ overrides


def test_saturday_override_made_a_working_day_is_counted() -> None:
    saturday = date(2026, 11, 21)
    cal = WorkingCalendar([CalendarOverride(saturday, True, "làm bù")])
    assert cal.is_working_day(saturday)
    assert cal.due_date(local(2026, 11, 20, 10), 1, WD) == local(2026, 11, 21, 17)


def test_extra_day_off_is_skipped() -> None:
    monday = date(2026, 11, 16)
    cal = WorkingCalendar([CalendarOverride(monday, False, "nghỉ bù")])
    assert not cal.is_working_day(monday)
    assert cal.due_date(local(2026, 11, 13, 10), 1, WD) == local(2026, 11, 17, 17)


def test_override_wins_over_a_public_holiday() -> None:
    cal = WorkingCalendar([CalendarOverride(date(2026, 9, 2), True)])
    assert cal.is_working_day(date(2026, 9, 2))
    assert cal.next_working_day(date(2026, 8, 28)) == date(2026, 9, 2)


def test_override_day_given_as_datetime_is_reduced_to_its_date() -> None:
    override = CalendarOverride(datetime(2026, 11, 21, 8, 0), True)
    assert type(override.day) is date
    assert WorkingCalendar([override]).is_working_day(date(2026, 11, 21))


def test_contradictory_overrides_are_refused() -> None:
    day = date(2026, 11, 21)
    with pytest.raises(ValueError, match="contradictory"):
        WorkingCalendar([CalendarOverride(day, True), CalendarOverride(day, False)])
    same = WorkingCalendar([CalendarOverride(day, True), CalendarOverride(day, True, "again")])
    assert same.overrides == (CalendarOverride(day, True, "again"),)


def test_a_calendar_without_working_days_fails_loudly() -> None:
    start = date(2026, 1, 1)
    cal = WorkingCalendar([CalendarOverride(start + timedelta(days=i), False) for i in range(400)])
    with pytest.raises(ValueError, match="no working day"):
        cal.next_working_day(start)
    with pytest.raises(ValueError, match="no working day"):
        cal.add_working_hours(local(2026, 1, 1, 8), 1)


def test_unknown_zone_and_country_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        WorkingCalendar(tz="Mars/Olympus")
    with pytest.raises(ValueError, match="country"):
        WorkingCalendar(country="XX")


# ------------------------------------------------------------------ start of counting


@pytest.mark.parametrize(
    ("received", "cutoff", "start"),
    [
        (local(2026, 11, 20, 10), None, date(2026, 11, 20)),
        (local(2026, 11, 20, 6, 30), None, date(2026, 11, 20)),  # before opening: same day
        (local(2026, 11, 20, 12, 0), None, date(2026, 11, 20)),  # lunch break: same day
        (local(2026, 11, 20, 16, 59), None, date(2026, 11, 20)),
        (local(2026, 11, 20, 17, 0), None, date(2026, 11, 23)),  # at closing: next working day
        (local(2026, 11, 20, 20, 0), None, date(2026, 11, 23)),
        (local(2026, 11, 20, 14, 59), time(15), date(2026, 11, 20)),
        (local(2026, 11, 20, 15, 0), time(15), date(2026, 11, 23)),
        (local(2026, 11, 20, 16, 0), time(15), date(2026, 11, 23)),
        (local(2026, 11, 21, 9, 0), None, date(2026, 11, 23)),  # Saturday
        (local(2026, 9, 2, 9, 0), None, date(2026, 9, 3)),  # National Day
    ],
)
def test_start_of_counting(
    cal: WorkingCalendar, received: datetime, cutoff: time | None, start: date
) -> None:
    assert cal.start_of_counting(received, cutoff) == start


def test_cutoff_must_be_naive(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError):
        cal.start_of_counting(local(2026, 11, 20, 10), time(15, tzinfo=UTC))


# ------------------------------------------------------------------ due dates in working days


def test_friday_plus_one_working_day_is_monday_at_closing(cal: WorkingCalendar) -> None:
    due = cal.due_date(datetime(2026, 11, 20, 10, 0), 1, WD)
    assert due == local(2026, 11, 23, 17)
    assert due.tzinfo is not None and due.utcoffset() == timedelta(hours=7)


def test_after_the_cutoff_counting_starts_the_next_working_day(cal: WorkingCalendar) -> None:
    received = local(2026, 11, 13, 16)  # Friday 16:00, hộ tịch cut-off 15:00
    assert cal.start_of_counting(received, time(15)) == date(2026, 11, 16)
    assert cal.due_date(received, 1, WD, cutoff=time(15)) == local(2026, 11, 17, 17)
    assert cal.due_date(local(2026, 11, 13, 14), 1, WD, cutoff=time(15)) == local(2026, 11, 16, 17)


def test_cutoff_on_friday_20_november_2026_also_skips_vietnam_culture_day(cal: WorkingCalendar) -> None:
    received = local(2026, 11, 20, 16)
    assert cal.start_of_counting(received, time(15)) == date(2026, 11, 23)
    # 24/11 is Ngày Văn hóa Việt Nam, a paid day off from 2026 (Resolution 80-NQ/TW) in the package.
    assert cal.holiday_name(date(2026, 11, 24)) is not None
    assert cal.due_date(received, 1, WD, cutoff=time(15)) == local(2026, 11, 25, 17)


def test_seven_working_days_over_national_day(cal: WorkingCalendar) -> None:
    # 25, 26, 27, 28/8, then 31/8 (substituted), 1/9 and 2/9 are off: 3, 4, 7/9.
    assert cal.due_date(local(2026, 8, 24, 9), 7, WD) == local(2026, 9, 7, 17)


def test_zero_working_days_is_the_same_day(cal: WorkingCalendar) -> None:
    assert cal.due_date(local(2026, 11, 17, 9), 0, WD) == local(2026, 11, 17, 17)
    assert cal.due_date(local(2026, 11, 17, 15, 30), 0, WD, cutoff=time(15)) == local(2026, 11, 18, 17)
    assert cal.due_date(local(2026, 11, 21, 9), 0, WD) == local(2026, 11, 23, 17)


@pytest.mark.parametrize(
    ("received", "amount", "due"),
    [
        (local(2026, 11, 17, 10), Decimal("0.5"), local(2026, 11, 17, 16)),  # 1.5 h + 2.5 h
        (local(2026, 11, 17, 10), 0.5, local(2026, 11, 17, 16)),
        (local(2026, 11, 17, 14), Decimal("0.5"), local(2026, 11, 18, 8)),  # 3 h + 1 h next morning
        (
            local(2026, 11, 17, 12),
            Decimal("0.5"),
            local(2026, 11, 18, 7, 30),
        ),  # lunch: 13:30–17:00, then 0.5 h
        (local(2026, 11, 21, 9), Decimal("0.5"), local(2026, 11, 23, 11)),  # Saturday → Monday 07:00 + 4 h
        (local(2026, 11, 17, 18), Decimal("0.25"), local(2026, 11, 18, 9)),  # after closing → next morning
        (local(2026, 11, 17, 10), Decimal("1.5"), local(2026, 11, 19, 11)),  # Wed 17:00 + 4 h
    ],
)
def test_fractional_working_days(
    cal: WorkingCalendar, received: datetime, amount: Decimal | float, due: datetime
) -> None:
    assert cal.due_date(received, amount, WD) == due


def test_a_longer_time_never_gives_an_earlier_appointment(cal: WorkingCalendar) -> None:
    received = local(2026, 11, 17, 10)
    amounts = [Decimal(x) for x in ("0.5", "1", "1.5", "2", "2.5", "3", "10", "10.5")]
    dues = [cal.due_date(received, a, WD) for a in amounts]
    assert dues == sorted(dues)
    assert len(set(dues)) == len(dues)


def test_fractional_day_uses_the_agency_office_hours() -> None:
    cal = WorkingCalendar(office_hours=OfficeHours(((time(8), time(12)), (time(13), time(17)))))
    assert cal.due_date(local(2026, 11, 17, 8), Decimal("0.5"), WD) == local(2026, 11, 17, 12)
    assert cal.due_date(local(2026, 11, 17, 8), 1, WD) == local(2026, 11, 18, 17)


# ------------------------------------------------------------------ due dates in calendar days


@pytest.mark.parametrize(
    ("received", "amount", "due"),
    [
        (local(2026, 11, 2, 10), 15, local(2026, 11, 17, 17)),
        (local(2026, 11, 2, 10), 5, local(2026, 11, 9, 17)),  # Saturday 7/11 → Monday
        (local(2026, 11, 21, 10), 1, local(2026, 11, 25, 17)),  # start Mon 23 → Tue 24 (day off) → Wed
        (local(2026, 8, 24, 10), 8, local(2026, 9, 3, 17)),  # 1/9 holiday → 2/9 holiday → 3/9
        (local(2026, 11, 2, 17, 30), 0, local(2026, 11, 3, 17)),  # after closing, 0 days
    ],
)
def test_calendar_days(cal: WorkingCalendar, received: datetime, amount: int, due: datetime) -> None:
    assert cal.due_date(received, amount, "days") == due


def test_calendar_days_must_be_whole(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="whole"):
        cal.due_date(local(2026, 11, 2, 10), Decimal("1.5"), "days")


@pytest.mark.parametrize("unit", ["", "hours", "working_day", "ngay"])
def test_unknown_unit(cal: WorkingCalendar, unit: str) -> None:
    with pytest.raises(ValueError, match="unknown unit"):
        cal.due_date(local(2026, 11, 2, 10), 1, unit)


def test_invalid_amounts(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError):
        cal.due_date(local(2026, 11, 2, 10), -1, WD)
    with pytest.raises(ValueError):
        cal.due_date(local(2026, 11, 2, 10), float("nan"), WD)
    with pytest.raises(TypeError):
        cal.due_date(local(2026, 11, 2, 10), True, WD)
    with pytest.raises(TypeError):
        cal.due_date(local(2026, 11, 2, 10), "1", WD)  # type: ignore[arg-type]


# ------------------------------------------------------------------ time zones


def test_naive_datetimes_are_local_time(cal: WorkingCalendar) -> None:
    assert cal.localize(datetime(2026, 11, 20, 10)) == local(2026, 11, 20, 10)
    assert cal.due_date(datetime(2026, 11, 20, 10), 1, WD) == cal.due_date(local(2026, 11, 20, 10), 1, WD)


def test_aware_datetimes_are_read_in_the_calendar_zone(cal: WorkingCalendar) -> None:
    # Thursday 10:30 UTC = 17:30 in Hà Nội: after closing, counted from Friday.
    assert cal.start_of_counting(datetime(2026, 11, 12, 10, 30, tzinfo=UTC)) == date(2026, 11, 13)
    # Thursday 20:00 UTC = Friday 03:00 local: the local date decides.
    due = cal.due_date(datetime(2026, 11, 12, 20, 0, tzinfo=UTC), 1, WD)
    assert due == local(2026, 11, 16, 17)
    assert due.tzinfo == VN


def test_results_are_in_the_configured_zone() -> None:
    cal = WorkingCalendar(tz="Asia/Bangkok")
    due = cal.due_date(datetime(2026, 11, 20, 10), 1, WD)
    assert due == datetime(2026, 11, 23, 17, tzinfo=ZoneInfo("Asia/Bangkok"))


# ------------------------------------------------------------------ working hours


@pytest.mark.parametrize(
    ("start", "hours", "end"),
    [
        (local(2026, 11, 17, 10), 1, local(2026, 11, 17, 11)),
        (local(2026, 11, 17, 10), Decimal("1.5"), local(2026, 11, 17, 11, 30)),  # stays at 11:30
        (local(2026, 11, 17, 10), 2, local(2026, 11, 17, 14)),  # across lunch
        (local(2026, 11, 17, 17), 1, local(2026, 11, 18, 8)),  # from closing
        (local(2026, 11, 20, 16), 2, local(2026, 11, 23, 8)),  # across the weekend
        (local(2026, 11, 17, 6), 8, local(2026, 11, 17, 17)),  # before opening: a full day
        (local(2026, 11, 17, 10), 16, local(2026, 11, 19, 10)),
        (local(2026, 11, 17, 10), 0.25, local(2026, 11, 17, 10, 15)),
    ],
)
def test_add_working_hours(
    cal: WorkingCalendar, start: datetime, hours: Decimal | float, end: datetime
) -> None:
    assert cal.add_working_hours(start, hours) == end


def test_adding_zero_hours_returns_the_start(cal: WorkingCalendar) -> None:
    assert cal.add_working_hours(local(2026, 11, 17, 17), 0) == local(2026, 11, 17, 17)
    assert cal.add_working_hours(datetime(2026, 11, 21, 9), 0) == local(2026, 11, 21, 9)


def test_adding_negative_hours_is_refused(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError):
        cal.add_working_hours(local(2026, 11, 17, 10), -1)


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        (local(2026, 11, 17, 10), local(2026, 11, 17, 15), Decimal(3)),
        (local(2026, 11, 17, 10), local(2026, 11, 17, 10), Decimal(0)),
        (local(2026, 11, 20, 16), local(2026, 11, 23, 8), Decimal(2)),
        (local(2026, 11, 21, 8), local(2026, 11, 22, 16), Decimal(0)),  # weekend only
        (local(2026, 8, 28, 7), local(2026, 9, 3, 17), Decimal(16)),  # 28/8 and 3/9 only
        (local(2026, 11, 17, 12), local(2026, 11, 17, 13), Decimal(0)),  # lunch
        (local(2026, 11, 17, 11, 15), local(2026, 11, 17, 13, 45), Decimal("0.5")),
    ],
)
def test_working_hours_between(cal: WorkingCalendar, start: datetime, end: datetime, hours: Decimal) -> None:
    assert cal.working_hours_between(start, end) == hours


def test_working_time_between_is_exact(cal: WorkingCalendar) -> None:
    start = local(2026, 11, 17, 10)
    end = start + timedelta(seconds=1)
    assert cal.working_time_between(start, end) == timedelta(seconds=1)
    assert cal.add_working_hours(start, cal.working_hours_between(start, end)) == end


def test_working_hours_between_reversed_interval(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError):
        cal.working_hours_between(local(2026, 11, 17, 15), local(2026, 11, 17, 10))


# ------------------------------------------------------------------ pauses


def test_pause_moves_the_due_date_by_the_paused_working_time(cal: WorkingCalendar) -> None:
    due = local(2026, 11, 16, 17)
    # Thu 14:00 → Fri 10:00: 3 h + 3 h of office time.
    shifted = cal.shift_for_pause(due, local(2026, 11, 12, 14), local(2026, 11, 13, 10))
    assert shifted == local(2026, 11, 17, 15)  # Tue 07:00 + 6 h (4.5 h, lunch, 1.5 h)


def test_a_full_working_day_of_pause_moves_one_working_day(cal: WorkingCalendar) -> None:
    due = local(2026, 11, 13, 17)  # Friday
    shifted = cal.shift_for_pause(due, local(2026, 11, 12, 7), local(2026, 11, 13, 7))
    assert shifted == local(2026, 11, 16, 17)  # Monday


def test_a_pause_over_a_weekend_costs_nothing(cal: WorkingCalendar) -> None:
    due = local(2026, 11, 18, 17)
    assert cal.shift_for_pause(due, local(2026, 11, 13, 17, 30), local(2026, 11, 16, 6)) == due


def test_a_pause_spanning_holidays_only_counts_working_days(cal: WorkingCalendar) -> None:
    due = local(2026, 9, 4, 17)
    # Paused Fri 28/8 07:00, resumed Thu 3/9 07:00: only 28/8 counts (8 h).
    assert cal.shift_for_pause(due, local(2026, 8, 28, 7), local(2026, 9, 3, 7)) == local(2026, 9, 7, 17)


def test_a_pause_ending_before_it_starts_is_refused(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError):
        cal.shift_for_pause(local(2026, 11, 18, 17), local(2026, 11, 13, 10), local(2026, 11, 12, 10))


# ------------------------------------------------------------------ classification


DUE = local(2026, 11, 16, 17)


@pytest.mark.parametrize(
    ("finished", "expected"),
    [
        (local(2026, 11, 16, 9), DUNG_HAN),
        (local(2026, 11, 16, 17), DUNG_HAN),
        (local(2026, 11, 16, 23, 59), DUNG_HAN),  # same date, after the due hour
        (local(2026, 11, 15, 16), TRUOC_HAN),  # one day earlier
        (local(2026, 11, 13, 23, 59), TRUOC_HAN),
        (local(2026, 11, 17, 0, 0), QUA_HAN),  # one day later
        (local(2026, 11, 17, 8), QUA_HAN),
        (datetime(2026, 11, 16, 10), DUNG_HAN),  # naive = local
        # 18:30 UTC on the 16th is 01:30 on the 17th in Hà Nội: late, though the UTC date matches.
        (datetime(2026, 11, 16, 18, 30, tzinfo=UTC), QUA_HAN),
        # 20:00 UTC on the 15th is 03:00 on the 16th in Hà Nội: on time.
        (datetime(2026, 11, 15, 20, 0, tzinfo=UTC), DUNG_HAN),
    ],
)
def test_classify_finished(finished: datetime, expected: str) -> None:
    assert classify_finished(DUE, finished, "Asia/Ho_Chi_Minh") == expected


def test_classify_finished_accepts_a_tzinfo_and_a_naive_due_date() -> None:
    assert classify_finished(datetime(2026, 11, 16, 17), local(2026, 11, 16, 20), VN) == DUNG_HAN
    assert classify_finished(datetime(2026, 11, 16, 17), datetime(2026, 11, 17, 1), UTC) == QUA_HAN


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (DUE - timedelta(days=3), TRONG_HAN),
        (DUE - timedelta(hours=25), TRONG_HAN),
        (DUE - timedelta(hours=24, seconds=1), TRONG_HAN),
        (DUE - timedelta(hours=24), SAP_HET_HAN),
        (DUE - timedelta(hours=23), SAP_HET_HAN),
        (DUE - timedelta(minutes=1), SAP_HET_HAN),
        (DUE, SAP_HET_HAN),
        (DUE + timedelta(seconds=1), QUA_HAN),
        (DUE + timedelta(days=2), QUA_HAN),
        (datetime(2026, 11, 16, 9, 0), SAP_HET_HAN),  # naive = local
        (datetime(2026, 11, 16, 10, 30, tzinfo=UTC), QUA_HAN),  # 17:30 local
    ],
)
def test_classify_in_progress(now: datetime, expected: str) -> None:
    assert classify_in_progress(DUE, now) == expected


def test_classify_in_progress_warning_window_is_configurable() -> None:
    now = DUE - timedelta(hours=30)
    assert classify_in_progress(DUE, now) == TRONG_HAN
    assert classify_in_progress(DUE, now, warn_within=timedelta(hours=48)) == SAP_HET_HAN
