"""The occurrences of a periodic procedure's timer start event (app.engine.schedule)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.engine.schedule import ScheduleError, due, next_after, start_schedule

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=HCM)


def test_a_monthly_cycle_counts_calendar_months_from_its_first_occurrence() -> None:
    series = start_schedule("timeCycle", "'R/2027-01-31T08:00:00+07:00/P1M'", at(2026, 12, 1))
    assert [series.at(k) for k in range(4)] == [at(2027, 1, 31, 8), at(2027, 2, 28, 8), at(2027, 3, 31, 8),
                                               at(2027, 4, 30, 8)]


def test_a_cycle_without_a_start_counts_from_deployment_and_ends_after_its_count() -> None:
    deployed = at(2027, 1, 1, 9)
    series = start_schedule("timeCycle", "R12/P1W", deployed)
    assert series.at(0) == deployed + timedelta(weeks=1)
    assert next_after(series, series.at(11)) is None
    assert due(series, deployed, None, series.at(11) + timedelta(days=30)).next is None


def test_due_starts_the_latest_occurrence_and_counts_the_missed_ones() -> None:
    deployed = at(2026, 12, 15)
    series = start_schedule("timeCycle", "R/2027-01-01T08:00:00+07:00/P1M", deployed)
    assert due(series, deployed, None, at(2027, 1, 1, 7, 59)) .latest is None
    plan = due(series, deployed, None, at(2027, 3, 1, 10))
    assert (plan.latest, plan.missed, plan.next) == (at(2027, 3, 1, 8), 2, at(2027, 4, 1, 8))
    again = due(series, deployed, plan.latest, at(2027, 3, 1, 11))
    assert (again.latest, again.next) == (None, at(2027, 4, 1, 8))


def test_occurrences_before_deployment_are_never_started() -> None:
    deployed = at(2027, 5, 10)
    series = start_schedule("timeCycle", "R/2020-01-01T08:00:00+07:00/P1M", deployed)
    plan = due(series, deployed, None, at(2027, 5, 20))
    assert (plan.latest, plan.next) == (None, at(2027, 6, 1, 8))


def test_a_date_and_a_duration_are_one_occurrence() -> None:
    deployed = at(2027, 1, 1, 9)
    assert start_schedule("timeDuration", "P2D", deployed).at(0) == deployed + timedelta(days=2)
    once = start_schedule("timeDate", "2027-02-01T08:00:00+07:00", deployed)
    plan = due(once, deployed, None, at(2027, 2, 2))
    assert (plan.latest, plan.next) == (at(2027, 2, 1, 8), None)


@pytest.mark.parametrize(("kind", "value"), [("timeCycle", "every month"), ("timeCycle", "R0/P1D"),
                                             ("timeDate", "P1D"), ("timeDuration", "2027-01-01"),
                                             ("timeCycle", "R/P0D"), ("timeDate", "working_days(3)")])
def test_values_the_scheduler_cannot_read_are_refused(kind: str, value: str) -> None:
    with pytest.raises(ScheduleError):
        start_schedule(kind, value, at(2027, 1, 1))
