"""Working-day calendar: appointment dates, clock pauses and on-time classification of dossiers.

The legal processing time of a procedure is expressed in working days (ngày làm việc) or
calendar days (ngày). Working days skip weekends and public holidays — Tết Nguyên Đán moves
with the lunar calendar, so the holidays come from the ``holidays`` package (country ``VN``,
including the observed and substituted days the government announces) rather than from a
hand-written table that would silently rot. On top of that each agency keeps a list of
overrides (extra working days, extra days off) because the government moves days by decree
and an admin must be able to follow it without a release.

Time zone rule for every public function: a *naive* datetime is read as local wall-clock time
in the calendar's time zone (``Asia/Ho_Chi_Minh`` by default); an aware datetime is converted
to it. Every datetime returned is aware, in that time zone.

This module is pure (no Flask, no database) so the same rules run in web requests, jobs,
statistics and tests.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Final, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from app.clock import DEFAULT_TIMEZONE

__all__ = [
    "DEFAULT_TZ",
    "DUNG_HAN",
    "QUA_HAN",
    "SAP_HET_HAN",
    "TRONG_HAN",
    "TRUOC_HAN",
    "UNIT_DAYS",
    "UNIT_WORKING_DAYS",
    "CalendarOverride",
    "OfficeHours",
    "WorkingCalendar",
    "classify_finished",
    "classify_in_progress",
]

DEFAULT_TZ: Final = DEFAULT_TIMEZONE

UNIT_WORKING_DAYS: Final = "working_days"
UNIT_DAYS: Final = "days"

# Classification codes (stable machine values; labels are the UI's business).
TRUOC_HAN: Final = "truoc_han"  # finished before the appointment date
DUNG_HAN: Final = "dung_han"  # finished on the appointment date
QUA_HAN: Final = "qua_han"  # finished after it / still open past it
TRONG_HAN: Final = "trong_han"  # open, more than the warning window left
SAP_HET_HAN: Final = "sap_het_han"  # open, due within the warning window (24 h by default)

DEFAULT_WARN_WITHIN: Final = timedelta(hours=24)

# A misconfigured calendar (e.g. thousands of consecutive days off) must fail loudly, not loop.
_MAX_CONSECUTIVE_DAYS_OFF: Final = 366

_ZERO: Final = timedelta(0)
_MICROSECONDS_PER_HOUR: Final = Decimal(3_600_000_000)

Amount: TypeAlias = Decimal | int | float
TzLike: TypeAlias = str | tzinfo


@dataclass(frozen=True)
class OfficeHours:
    """Office periods of one working day, as naive local wall-clock times, sorted, non-overlapping.

    The default is the common practice 07:00–11:30 and 13:30–17:00; agencies configure their own.
    """

    periods: tuple[tuple[time, time], ...] = ((time(7, 0), time(11, 30)), (time(13, 30), time(17, 0)))

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("office hours need at least one period")
        previous_end: time | None = None
        for start, end in self.periods:
            if start.tzinfo is not None or end.tzinfo is not None:
                raise ValueError("office hours are local wall-clock times: pass naive times")
            if start >= end:
                raise ValueError(f"office period {start}–{end} must start before it ends")
            if previous_end is not None and start < previous_end:
                raise ValueError("office periods must be sorted and must not overlap")
            previous_end = end

    @property
    def opening(self) -> time:
        return self.periods[0][0]

    @property
    def closing(self) -> time:
        """End of the last period: appointments are given "at closing time" of their day."""
        return self.periods[-1][1]

    @property
    def duration_per_day(self) -> timedelta:
        return sum((_wall_clock_span(start, end) for start, end in self.periods), _ZERO)

    @property
    def hours_per_day(self) -> Decimal:
        """Office hours in one working day (Decimal('8') for the default): the size of a fractional day."""
        return _timedelta_to_hours(self.duration_per_day)


@dataclass(frozen=True)
class CalendarOverride:
    """One day whose status the agency fixes by hand, winning over weekends and the holiday list.

    ``working=True`` adds a working day (e.g. a Saturday worked to bridge a holiday);
    ``working=False`` adds a day off.
    """

    day: date
    working: bool
    note: str = ""

    def __post_init__(self) -> None:
        # A datetime would never match the date keys it is looked up by.
        if isinstance(self.day, datetime):
            object.__setattr__(self, "day", self.day.date())


class WorkingCalendar:
    """The working-day calendar of one agency: country holidays + overrides + office hours + zone.

    Instances are read-only after construction and safe to share between threads.
    """

    def __init__(
        self,
        overrides: Iterable[CalendarOverride] = (),
        office_hours: OfficeHours = OfficeHours(),
        tz: TzLike = DEFAULT_TZ,
        country: str = "VN",
    ) -> None:
        self.office_hours = office_hours
        self.tz = _zone(tz)
        self.country = country
        self._overrides: dict[date, CalendarOverride] = {}
        for override in overrides:
            existing = self._overrides.get(override.day)
            if existing is not None and existing.working != override.working:
                raise ValueError(f"contradictory calendar overrides for {override.day.isoformat()}")
            self._overrides[override.day] = override
        try:
            self._holidays = holidays.country_holidays(country)
        except NotImplementedError as exc:
            raise ValueError(f"no holiday calendar for country {country!r}") from exc
        # The holidays object fills itself year by year on lookup; serialise that mutation.
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ days

    @property
    def overrides(self) -> tuple[CalendarOverride, ...]:
        return tuple(sorted(self._overrides.values(), key=lambda o: o.day))

    def localize(self, moment: datetime) -> datetime:
        """Return ``moment`` as an aware datetime in the calendar's zone (naive = local wall clock)."""
        if moment.tzinfo is None or moment.utcoffset() is None:
            return moment.replace(tzinfo=self.tz)
        return moment.astimezone(self.tz)

    def holiday_name(self, d: date) -> str | None:
        """Name of the public holiday on ``d`` per the holidays package (None if none); for display."""
        day = self._as_date(d)
        with self._lock:
            return self._holidays.get(day)

    def is_working_day(self, d: date) -> bool:
        """Overrides win; otherwise a weekday that is not a public holiday (observed and substituted
        days included), or a weekend day the government turned into a working day."""
        day = self._as_date(d)
        override = self._overrides.get(day)
        if override is not None:
            return override.working
        with self._lock:
            is_holiday = day in self._holidays  # also populates that year's moved working days
            moved_working_day = day in self._holidays.weekend_workdays
            weekend = day.weekday() in self._holidays.weekend
        return moved_working_day if weekend else not is_holiday

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        day = self._as_date(d)
        for _ in range(_MAX_CONSECUTIVE_DAYS_OFF):
            day += timedelta(days=1)
            if self.is_working_day(day):
                return day
        raise ValueError(
            f"no working day within {_MAX_CONSECUTIVE_DAYS_OFF} days after {d}: check the calendar overrides"
        )

    def add_working_days(self, d: date, n: int) -> date:
        """The ``n``-th working day after ``d``; ``n == 0`` gives ``d`` itself if it is a working day,
        else the next working day."""
        if n < 0:
            raise ValueError("the number of working days must not be negative")
        day = self._as_date(d)
        if n == 0:
            return day if self.is_working_day(day) else self.next_working_day(day)
        for _ in range(n):
            day = self.next_working_day(day)
        return day

    def closing_of(self, d: date) -> datetime:
        """Closing time of day ``d``, aware: the hour at which appointments fall due."""
        return datetime.combine(self._as_date(d), self.office_hours.closing, tzinfo=self.tz)

    # ------------------------------------------------------------ deadlines

    def start_of_counting(self, received_at: datetime, cutoff: time | None = None) -> date:
        """The day counting starts from: the receipt day if it is a working day and the dossier came in
        before ``cutoff`` (default: closing time), else the next working day.

        The cutoff is a per-procedure setting (hộ tịch: after 15:00 → counted from the next day).
        """
        limit = self._check_cutoff(cutoff)
        local = self.localize(received_at)
        day = local.date()
        if self.is_working_day(day) and local.time() < limit:
            return day
        return self.next_working_day(day)

    def due_date(
        self, received_at: datetime, amount: Amount, unit: str, cutoff: time | None = None
    ) -> datetime:
        """Appointment for the result (hẹn trả kết quả), aware, in the calendar's zone.

        - ``working_days``, whole N: closing time of the N-th working day after the start day
          (N = 0: the start day itself — "same day" procedures such as certified copies).
        - ``working_days``, fractional N below 1 (e.g. 0.5): N × office hours per day of working
          time, counted from the receipt instant (or from opening of the start day when counting
          starts on a later day), walking office periods only.
        - ``working_days``, N above 1 with a fraction (e.g. 1.5): the whole-day appointment, then the
          fraction as working hours after it — so a longer time never gives an earlier appointment.
        - ``days`` (calendar days, whole only): start day + N days, moved to the next working day if
          that is a day off, at closing time.
        """
        if unit not in (UNIT_WORKING_DAYS, UNIT_DAYS):
            raise ValueError(f"unknown unit {unit!r}: expected {UNIT_WORKING_DAYS!r} or {UNIT_DAYS!r}")
        n = _to_decimal(amount)
        whole = int(n)
        fraction = n - whole
        start_day = self.start_of_counting(received_at, cutoff)
        if unit == UNIT_DAYS:
            if fraction:
                raise ValueError("a time in calendar days must be a whole number")
            day = start_day + timedelta(days=whole)
            if not self.is_working_day(day):
                day = self.next_working_day(day)
            return self.closing_of(day)
        if not fraction:
            return self.closing_of(self.add_working_days(start_day, whole))
        extra = _hours_to_timedelta(fraction * self.office_hours.hours_per_day)
        if whole == 0:
            local = self.localize(received_at)
            if local.date() == start_day:
                begin = local
            else:
                begin = datetime.combine(start_day, self.office_hours.opening, tzinfo=self.tz)
            return self._add_working_time(begin, extra)
        return self._add_working_time(self.closing_of(self.add_working_days(start_day, whole)), extra)

    def add_working_hours(self, start: datetime, hours: Amount) -> datetime:
        """``start`` moved forward by ``hours`` of office time, walking the periods of working days.

        Zero hours returns ``start`` unchanged; otherwise time outside office periods is skipped, and
        a result that lands exactly on the end of a period stays there (11:30, 17:00).
        """
        return self._add_working_time(start, _hours_to_timedelta(_to_decimal(hours)))

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Office time between two instants (exact, as a timedelta)."""
        a = self.localize(start)
        b = self.localize(end)
        if b < a:
            raise ValueError("the end of the interval is before its start")
        total = _ZERO
        day = a.date()
        while day <= b.date():
            if self.is_working_day(day):
                for p_start, p_end in self.office_hours.periods:
                    lo = max(datetime.combine(day, p_start, tzinfo=self.tz), a)
                    hi = min(datetime.combine(day, p_end, tzinfo=self.tz), b)
                    if hi > lo:
                        total += hi - lo
            day += timedelta(days=1)
        return total

    def working_hours_between(self, start: datetime, end: datetime) -> Decimal:
        """Office time between two instants, in hours (for clock pauses and step durations)."""
        return _timedelta_to_hours(self.working_time_between(start, end))

    def shift_for_pause(self, due_at: datetime, paused_from: datetime, resumed_at: datetime) -> datetime:
        """The due date after a clock pause (statuses 5, 6, 8): moved by the office time the pause took.

        Only office time counts — a pause over a weekend costs the citizen nothing and gains the
        agency nothing.
        """
        return self._add_working_time(due_at, self.working_time_between(paused_from, resumed_at))

    # -------------------------------------------------------------- helpers

    def _add_working_time(self, start: datetime, delta: timedelta) -> datetime:
        if delta < _ZERO:
            raise ValueError("working time to add must not be negative")
        cursor = self.localize(start)
        if delta == _ZERO:
            return cursor
        remaining = delta
        day = cursor.date()
        days_off = 0
        while days_off < _MAX_CONSECUTIVE_DAYS_OFF:
            if self.is_working_day(day):
                days_off = 0
                for p_start, p_end in self.office_hours.periods:
                    seg_start = max(datetime.combine(day, p_start, tzinfo=self.tz), cursor)
                    seg_end = datetime.combine(day, p_end, tzinfo=self.tz)
                    if seg_start >= seg_end:
                        continue
                    available = seg_end - seg_start
                    if remaining <= available:
                        return seg_start + remaining
                    remaining -= available
            else:
                days_off += 1
            day += timedelta(days=1)
        raise ValueError(
            f"no working day within {_MAX_CONSECUTIVE_DAYS_OFF} days: check the calendar overrides"
        )

    def _as_date(self, d: date) -> date:
        if isinstance(d, datetime):
            return self.localize(d).date()
        return d

    def _check_cutoff(self, cutoff: time | None) -> time:
        if cutoff is None:
            return self.office_hours.closing
        if cutoff.tzinfo is not None:
            raise ValueError("the cutoff is a local wall-clock time: pass a naive time")
        return cutoff


# ------------------------------------------------------------------ classification


def classify_finished(due_at: datetime, finished_at: datetime, tz: TzLike = DEFAULT_TZ) -> str:
    """``truoc_han`` / ``dung_han`` / ``qua_han`` for a finished dossier, compared by LOCAL DATE.

    Practice compares days, not instants: finishing at 17:30 on the appointment day is on time.
    """
    zone = _zone(tz)
    due_day = _localize(due_at, zone).date()
    finished_day = _localize(finished_at, zone).date()
    if finished_day < due_day:
        return TRUOC_HAN
    if finished_day == due_day:
        return DUNG_HAN
    return QUA_HAN


def classify_in_progress(
    due_at: datetime,
    now: datetime,
    *,
    tz: TzLike = DEFAULT_TZ,
    warn_within: timedelta = DEFAULT_WARN_WITHIN,
) -> str:
    """``trong_han`` / ``sap_het_han`` / ``qua_han`` for an open dossier, compared by instant.

    ``sap_het_han`` when the due instant is at most ``warn_within`` (24 h) away, the due instant
    itself included; ``qua_han`` strictly after it. ``tz`` only serves to read naive datetimes.
    """
    zone = _zone(tz)
    due = _localize(due_at, zone).astimezone(UTC)
    current = _localize(now, zone).astimezone(UTC)
    if current > due:
        return QUA_HAN
    if due - current <= warn_within:
        return SAP_HET_HAN
    return TRONG_HAN


# ------------------------------------------------------------------ module helpers


def _zone(tz: TzLike) -> tzinfo:
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc


def _localize(moment: datetime, zone: tzinfo) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=zone)
    return moment.astimezone(zone)


def _wall_clock_span(start: time, end: time) -> timedelta:
    anchor = date(2000, 1, 1)
    return datetime.combine(anchor, end) - datetime.combine(anchor, start)


def _to_decimal(amount: Amount) -> Decimal:
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int | float):
        raise TypeError(f"expected a number, got {type(amount).__name__}")
    value = Decimal(str(amount)) if isinstance(amount, float) else Decimal(amount)
    if not value.is_finite():
        raise ValueError("the amount must be a finite number")
    if value < 0:
        raise ValueError("the amount must not be negative")
    return value


def _hours_to_timedelta(hours: Decimal) -> timedelta:
    microseconds = (hours * _MICROSECONDS_PER_HOUR).to_integral_value()
    return timedelta(microseconds=int(microseconds))


def _timedelta_to_hours(delta: timedelta) -> Decimal:
    return Decimal(delta // timedelta(microseconds=1)) / _MICROSECONDS_PER_HOUR
