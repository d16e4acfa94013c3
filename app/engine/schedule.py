"""When a periodic procedure starts: the occurrences of a process's timer start event.

A procedure whose process starts with a timer start event is run by the agency on a schedule (a monthly internal
review): nobody submits it, the platform's scheduler starts one dossier at each occurrence
(app.dossiers.periodic). The engine never waits at such a start event: a workflow of a periodic procedure is only
ever created because its occurrence has come, so the runtime builds the start event as a none start
(app.engine.runtime `_build_bundle`) and this module alone says when the occurrences are.

The value is a plain ISO 8601 literal, as modelling tools write it (quoted or bare): there is no dossier yet whose
data an expression could read, and working_days() has no dossier's agency to count with.

- timeCycle `R[n]/<start>/<duration>`: occurrences at start, start + duration, start + 2 × duration … (n of them;
  none written: without end). `R[n]/<duration>` starts one duration after deployment; `R[n]/<duration>/<end>` ends
  its n-th occurrence at `end`. A duration in months or years is counted on the calendar in the platform's time zone
  from the first occurrence (31 January + P1M = 28 or 29 February, + P2M = 31 March), not by adding 30 days.
- timeDate: one occurrence, at that instant.
- timeDuration: one occurrence, that long after deployment.

Occurrences before the version's deployment are never started. `due` gives what the scheduler does at `now`.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition as _Timer

from app.clock import local_tz

TIMER_KINDS = ("timeDate", "timeDuration", "timeCycle")
MAX_STEPS = 100_000  # occurrences walked at most in one computation (an hourly cycle missed for ten years)


class ScheduleError(ValueError):
    """A timer start value the scheduler cannot use."""


@dataclass(frozen=True)
class StartSchedule:
    first: datetime  # the first occurrence (UTC)
    duration: dict[str, Any] | None  # between occurrences (parse_iso_duration's parts); None: one occurrence
    count: int  # how many occurrences; -1: without end

    def at(self, index: int) -> datetime:
        """The `index`-th occurrence (0: the first), each counted from the first (no drift)."""
        if index == 0 or self.duration is None:
            return self.first
        parts = dict(self.duration)
        months = int(parts.pop("years", 0)) * 12 + int(parts.pop("months", 0))
        start = self.first
        if months:
            local = self.first.astimezone(local_tz())
            total = local.month - 1 + months * index
            year, month = local.year + total // 12, total % 12 + 1
            day = min(local.day, calendar.monthrange(year, month)[1])
            start = local.replace(year=year, month=month, day=day).astimezone(self.first.tzinfo)
        rest = timedelta(**{k: float(v) for k, v in parts.items()}) * index
        return start + rest

    def _approx(self) -> timedelta:
        return max(self.at(1) - self.first, timedelta(seconds=1)) if self.duration is not None else timedelta(1)

    def _index_from(self, lower: datetime) -> int | None:
        """The first index whose occurrence is at or after `lower`; None when the series ends before it."""
        index = 0
        if lower > self.first and self.duration is not None:
            index = max(0, int((lower - self.first) / self._approx()) - 2)
        for _ in range(MAX_STEPS):
            if self.count >= 0 and index >= self.count:
                return None
            if self.at(index) >= lower:
                return index
            index += 1
        return None


def _literal(text: str) -> str:
    value = text.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1].strip()
    return value


def _duration(value: str) -> dict[str, Any]:
    if not value.upper().startswith("P"):
        raise ScheduleError(value)
    parts = _Timer.parse_iso_duration(value)
    if not any(parts.values()):
        raise ScheduleError(value)
    _Timer.get_timedelta_from_start(dict(parts))  # computed, not only parsed (a fractional month fails here)
    return dict(parts)


def _instant(value: str) -> datetime:
    if value.upper().startswith(("P", "R")):
        raise ScheduleError(value)
    parsed = _Timer.parse_time_or_duration(value)
    if not isinstance(parsed, datetime):
        raise ScheduleError(value)
    return parsed


def start_schedule(kind: str, text: str, deployed_at: datetime) -> StartSchedule:
    """The occurrences of a timer start event's value (`kind` timeDate, timeDuration or timeCycle) for a version
    deployed at `deployed_at`; ScheduleError when the value is not a literal the scheduler can read."""
    value = _literal(text)
    try:
        if kind == "timeDate":
            return StartSchedule(_instant(value), None, 1)
        if kind == "timeDuration":
            return StartSchedule(deployed_at + _Timer.get_timedelta_from_start(_duration(value), deployed_at),
                                 None, 1)
        if kind != "timeCycle" or not value.upper().startswith("R"):
            raise ScheduleError(value)
        parts = value.upper().split("/")
        count = int(parts[0][1:]) if parts[0][1:] else -1
        if count == 0 or len(parts) not in (2, 3):
            raise ScheduleError(value)
        if len(parts) == 2:
            duration = _duration(parts[1])
            first = StartSchedule(deployed_at, duration, count).at(1)
        elif parts[1].startswith("P"):
            duration = _duration(parts[1])
            end = _instant(parts[2])
            first = end - _Timer.get_timedelta_from_end(dict(duration), end)
        else:
            first, duration = _instant(parts[1]), _duration(parts[2])
        return StartSchedule(first, duration, count)
    except ScheduleError:
        raise
    except Exception as exc:  # the library's parsers raise bare Exceptions, ValueErrors, AttributeErrors
        raise ScheduleError(value) from exc


@dataclass(frozen=True)
class Due:
    latest: datetime | None  # the occurrence to start now (the latest one come and not yet started), if any
    missed: int  # occurrences come and not started before `latest` (the scheduler was down), left out
    next: datetime | None  # when the next occurrence comes (None: the series is over)


def due(schedule: StartSchedule, deployed_at: datetime, last: datetime | None, now: datetime) -> Due:
    """What to start at `now` when `last` was the last occurrence started (or passed over): the latest occurrence
    come since (at most one dossier per pass: the others are counted as missed), and when the next one comes."""
    lower = max(deployed_at, last + timedelta(microseconds=1)) if last is not None else deployed_at
    index = schedule._index_from(lower)
    latest: datetime | None = None
    seen = 0
    if index is not None and schedule.at(index) <= now:
        upto = schedule._index_from(now + timedelta(microseconds=1))
        end = upto if upto is not None else (schedule.count if schedule.count >= 0 else index + 1)
        seen = max(end - index, 1)
        latest = schedule.at(end - 1)
        index = upto
    elif index is not None:
        return Due(None, 0, schedule.at(index))
    return Due(latest, max(seen - 1, 0), schedule.at(index) if index is not None else None)


def next_after(schedule: StartSchedule, instant: datetime) -> datetime | None:
    """The first occurrence after `instant` (None: the series is over)."""
    index = schedule._index_from(instant + timedelta(microseconds=1))
    return schedule.at(index) if index is not None else None
