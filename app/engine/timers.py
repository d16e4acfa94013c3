"""BPMN timers on the platform: the library's clock, the due time of a workflow, event-based gateways, working time.

SpiffWorkflow 3.2 evaluates a timer's value once, when the timer is reached, and keeps the due instant in the
task's internal data (`event_value`, an ISO string; a dict `{cycles, next, duration}` for a cycle). Nothing fires
a timer by itself: a due timer moves only when `refresh_timers()` runs after its due time (docs/design/timers.md
§1). This module holds what the platform adds to that, all of it reaching into the library's internals and pinned
to 3.2.0 by tests:

- the library reads `datetime.now(timezone.utc)` through the module global `datetime` of its timer module; that
  global is replaced here by a `datetime` whose `now()` is the platform's one clock (app.clock), so arming, the due
  test and the scheduler's pick share one clock and tests can move time;
- `next_due_at(workflow)`: the earliest due instant of the workflow's waiting timers, read from their internal data
  without evaluating or firing anything (what `workflow_instance.next_due_at` holds);
- `MotcuaEventBasedGateway`: the installed event-based gateway keeps ONE due time for all of its timers, so only the
  first-listed timer's time is honoured and its branch wins (§2.4). Here each timer arms and fires in its own slot
  (`internal_data['motcua_timers'][index]`), the earliest due one wins, and the branch is found by its index;
- `working_days(n)` / `working_hours(h)` for timer expressions: the due instant counted on the dossier agency's
  working calendar (the dossier layer registers how to find it: `CALENDARS_KEY`);
- `move_armed_timers(workflow, move)`: rewrite the stored due instant of the waiting timers that count time from
  their arming, for a clock pause (which timers, and by how much, is the dossier layer's rule:
  app.dossiers.timers `shift_for_pause`). Each timer is told by its `measure`: WORKING for a timeDate written with
  working_days()/working_hours() (office time from arming), ELAPSED for a timeDuration or a timeCycle (elapsed
  time from arming), None for any other timeDate (an instant the designer or the data fixed: never moved).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from flask import current_app, has_app_context
from flask_babel import gettext
from SpiffWorkflow.bpmn.specs.defaults import EventBasedGateway as _EventBasedGateway
from SpiffWorkflow.bpmn.specs.event_definitions import timer as _timer_module
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition as _Multiple
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition as _Cycle
from SpiffWorkflow.bpmn.specs.event_definitions.timer import DurationTimerEventDefinition as _Duration
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimeDateEventDefinition as _TimeDate
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition as _Timer
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent as _CatchingEvent
from SpiffWorkflow.bpmn.util.event import PendingBpmnEvent as _Pending
from SpiffWorkflow.util.task import TaskState as _TaskState

from app.clock import now_utc

# ---------------------------------------------------------------- the library's clock


class PlatformDatetime(datetime):
    """`datetime` whose `now()` is the platform's clock (app.clock.now_utc); everything else is datetime's own."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> Any:
        instant = now_utc()
        if tz is None:  # naive local time, as datetime.now() gives it (the library never asks for it)
            return cls.fromtimestamp(instant.timestamp())
        return instant.astimezone(tz)


def install_clock() -> None:
    """Make SpiffWorkflow's timers read the platform's clock (idempotent; done when this module is imported)."""
    _timer_module.datetime = PlatformDatetime


install_clock()


# ---------------------------------------------------------------- due times, without evaluating anything


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = _Timer.parse_time_or_duration(value)
    except Exception:  # a value the library could not read either: nothing to schedule from it
        return None
    return parsed if isinstance(parsed, datetime) else None


def slot_due(definition: Any, internal: Mapping[str, Any]) -> datetime | None:
    """The due instant one timer's internal data holds (None: not armed, exhausted, or unreadable)."""
    if internal.get("event_fired"):
        return now_utc()
    value = internal.get("event_value")
    if isinstance(definition, _Cycle):
        if isinstance(value, Mapping) and value.get("cycles") != 0:
            return _instant(value.get("next"))
        return None
    return _instant(value)


def task_due(task: Any) -> datetime | None:
    """When a waiting catching task is due: its timer's stored instant, the earliest of a gateway's timers."""
    definition = getattr(task.task_spec, "event_definition", None)
    if isinstance(definition, GatewayEvents):
        return definition.earliest(task)
    if isinstance(definition, _Timer):
        return slot_due(definition, task.internal_data)
    if isinstance(definition, _Multiple):  # several definitions on one catch event: the earliest timer among them
        dues = [slot_due(d, task.internal_data) for d in definition.event_definitions if isinstance(d, _Timer)]
        return min((d for d in dues if d is not None), default=None)
    return None


def next_due_at(workflow: Any) -> datetime | None:
    """The earliest due instant among the workflow's waiting timers (top process and sub-processes: every wait is
    registered with the top workflow's event manager), or None when nothing waits on time. A timer already
    marked fired counts as due now."""
    earliest: datetime | None = None
    for task in workflow.event_manager.tasks.values():
        if task._state != _TaskState.WAITING:
            continue
        due = task_due(task)
        if due is not None and (earliest is None or due < earliest):
            earliest = due
    return earliest


# ---------------------------------------------------------------- fired timers, for the dossier's history


@dataclass(frozen=True)
class FiredTimer:
    """A timer that fired in a step: its name as the designer wrote it, its spec, when it was due."""

    name: str
    spec_name: str
    due_at: datetime | None


def timer_name(spec: Any, definition: Any) -> str:
    """The name a timer shows in the history: the event's name in the diagram, else its definition's, else its id."""
    return str(getattr(spec, "bpmn_name", None) or getattr(definition, "name", None) or spec.name)


def fired_by(task: Any) -> FiredTimer | None:
    """The timer whose firing this just-completed task is (a timer catch or boundary event, or an event-based
    gateway that followed a timer), else None."""
    spec = task.task_spec
    if not isinstance(spec, _CatchingEvent):
        return None
    definition = spec.event_definition
    if isinstance(spec, MotcuaEventBasedGateway):
        index = task.internal_data.get(_FIRED)
        if index is None:
            return None
        chosen = definition.event_definitions[int(index)]
        target = spec.outputs[int(index)]
        slot = (task.internal_data.get(_SLOTS) or {}).get(str(index)) or {}
        return FiredTimer(timer_name(target, chosen), target.name, _instant(slot.get("event_value")))
    if isinstance(definition, _Timer) and not isinstance(definition, _Cycle):
        return FiredTimer(timer_name(spec, definition), spec.name, _instant(task.internal_data.get("event_value")))
    return None


def cycle_marks(workflow: Any) -> dict[Any, tuple[Any, str | None]]:
    """The waiting cycle timers and the next occurrence each one waits for (a cycle fires without completing)."""
    marks = {}
    for task in workflow.event_manager.tasks.values():
        definition = getattr(task.task_spec, "event_definition", None)
        if isinstance(definition, _Cycle):
            value = task.internal_data.get("event_value")
            marks[task.id] = (task, value.get("next") if isinstance(value, Mapping) else None)
    return marks


def cycles_fired(before: Mapping[Any, tuple[Any, str | None]]) -> list[FiredTimer]:
    """The cycle occurrences that fired since `before` was taken (their next occurrence moved on)."""
    fired = []
    for task, was in before.values():
        value = task.internal_data.get("event_value")
        # An occurrence moves `next` on; a spent cycle drops its value (that is no occurrence).
        if was is not None and isinstance(value, Mapping) and value.get("next") != was:
            spec = task.task_spec
            fired.append(FiredTimer(timer_name(spec, spec.event_definition), spec.name, _instant(was)))
    return fired


# ---------------------------------------------------------------- event-based gateways, one slot per timer

_SLOTS = "motcua_timers"  # gateway task internal data: index of the timer → that timer's own internal data
_FIRED = "motcua_fired"  # gateway task internal data: the index of the timer that won


class _Slot:
    """A gateway task as one of its timers sees it: its own internal data, everything else the gateway's."""

    def __init__(self, task: Any, slot: dict[str, Any]) -> None:
        self.__dict__["_task"] = task
        self.__dict__["internal_data"] = slot

    def _get_internal_data(self, name: str, default: Any = None) -> Any:
        return self.internal_data.get(name, default)

    def _set_internal_data(self, **kwargs: Any) -> None:
        self.internal_data.update(kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_task"], name)


class GatewayEvents(_Multiple):
    """The events of an event-based gateway, each timer armed and due on its own (SpiffWorkflow 3.2 shares one
    due time among them). The first event seen wins; among timers due in the same refresh, the earliest."""

    def has_fired(self, my_task: Any) -> bool:
        internal = my_task.internal_data
        if internal.get(_FIRED) is not None or internal.get("seen_events"):
            return True
        slots = internal.setdefault(_SLOTS, {})
        best: tuple[datetime, int] | None = None
        for index, definition in enumerate(self.event_definitions):
            if not isinstance(definition, _Timer):
                continue
            slot = slots.setdefault(str(index), {})
            if definition.has_fired(_Slot(my_task, slot)):
                due = slot_due(definition, {"event_value": slot.get("event_value")}) or now_utc()
                if best is None or due < best[0]:
                    best = (due, index)
        if best is not None:
            internal[_FIRED] = best[1]
            return True
        return False

    def earliest(self, my_task: Any) -> datetime | None:
        slots = my_task.internal_data.get(_SLOTS) or {}
        dues = [slot_due(definition, slots.get(str(index)) or {}) for index, definition
                in enumerate(self.event_definitions) if isinstance(definition, _Timer)]
        return min((d for d in dues if d is not None), default=None)

    def details(self, my_task: Any) -> Any:
        due = self.earliest(my_task)
        return _Pending(self.name, self.__class__.__name__, due.isoformat() if due is not None else None)

    def reset(self, my_task: Any) -> None:
        my_task.internal_data.pop(_SLOTS, None)
        my_task.internal_data.pop(_FIRED, None)
        super().reset(my_task)


class MotcuaEventBasedGateway(_EventBasedGateway):
    """An event-based gateway whose timers each keep their own due time, and whose branch is chosen by index."""

    def __init__(self, wf_spec: Any, bpmn_id: Any, event_definition: Any, **kwargs: Any) -> None:
        if type(event_definition) is _Multiple:
            event_definition = GatewayEvents(list(event_definition.event_definitions), event_definition.parallel,
                                             name=event_definition.name, description=event_definition.description)
        super().__init__(wf_spec, bpmn_id, event_definition, **kwargs)

    def _run_hook(self, my_task: Any) -> bool:
        internal = my_task.internal_data
        definitions = self.event_definition.event_definitions
        index = internal.get(_FIRED)
        if index is None:  # a message or signal was caught: the first one seen, matched to its branch
            for event in internal.get("seen_events", []):
                matches = [i for i, d in enumerate(definitions)
                           if not isinstance(d, _Timer) and d.catches(my_task, event)]
                if matches:
                    index = matches[0]
                    definitions[index].catch(my_task, event)
                    definitions[index].update_task_data(my_task)
                    break
        chosen = [self.outputs[int(index)]] if index is not None else []
        my_task._sync_children(chosen, _TaskState.FUTURE)
        for child in my_task.children:
            child.task_spec._predict(child, mask=_TaskState.FUTURE | _TaskState.PREDICTED_MASK)
        return True


# ---------------------------------------------------------------- working time in timer expressions

CALENDARS_KEY = "motcua_timer_calendars"  # app.extensions: dossier code → its agency's working calendar
MAX_WORKING_DAYS = 366
DOSSIER_INFO = "thong_tin_ho_so"  # the workflow data the platform gives every workflow (ma_ho_so: the dossier code)


class WorkingTime(Protocol):
    """What a timer needs of a working calendar (app.dossiers.calendar.WorkingCalendar has it)."""

    tz: Any

    def add_working_hours(self, start: datetime, hours: Any) -> datetime: ...

    @property
    def office_hours(self) -> Any: ...


class WorkingTimeError(ValueError):
    """A working-time function could not be computed (no calendar for the dossier, an amount out of bounds)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _calendar(data: Mapping[str, Any]) -> WorkingTime:
    info = data.get(DOSSIER_INFO)
    code = info.get("ma_ho_so") if isinstance(info, Mapping) else None
    finder: Callable[[str], WorkingTime | None] | None = (
        current_app.extensions.get(CALENDARS_KEY) if has_app_context() else None)
    found = finder(str(code)) if finder is not None and code else None
    if found is None:
        raise WorkingTimeError("timer_no_calendar", gettext(
            "Không xác định được lịch làm việc của cơ quan giải quyết hồ sơ để tính thời hạn theo ngày/giờ làm việc."))
    return found


def _amount(value: Any, limit: float) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise WorkingTimeError("timer_working_time_invalid", gettext(
            "Số ngày/giờ làm việc phải là một số, không âm và không quá %(limit)s.", limit=limit))
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise WorkingTimeError("timer_working_time_invalid", str(exc)) from exc
    if not amount.is_finite() or amount < 0 or amount > Decimal(str(limit)):
        raise WorkingTimeError("timer_working_time_invalid", gettext(
            "Số ngày/giờ làm việc phải là một số, không âm và không quá %(limit)s.", limit=limit))
    return amount


def _iso(calendar: WorkingTime, instant: datetime) -> str:
    return instant.astimezone(calendar.tz).replace(microsecond=0).isoformat()


def working_hours(data: Mapping[str, Any], hours: Any) -> str:
    """The instant `hours` office hours from now on the dossier agency's calendar, as an ISO string with the
    agency's offset (a timeDate value)."""
    calendar = _calendar(data)
    limit = MAX_WORKING_DAYS * float(calendar.office_hours.hours_per_day)
    return _iso(calendar, calendar.add_working_hours(now_utc(), _amount(hours, limit)))


def working_days(data: Mapping[str, Any], days: Any) -> str:
    """The instant `days` working days of office time from now (one working day = the office hours of a day: from
    10:00 on a Friday, one working day is 10:00 on Monday), on the dossier agency's calendar."""
    calendar = _calendar(data)
    amount = _amount(days, MAX_WORKING_DAYS)
    return _iso(calendar, calendar.add_working_hours(
        now_utc(), amount * Decimal(str(calendar.office_hours.hours_per_day))))


WORKING_TIME_FUNCTIONS: Mapping[str, Callable[[Mapping[str, Any], Any], str]] = {
    "working_days": working_days,
    "working_hours": working_hours,
}


# ---------------------------------------------------------------- clock pauses: armed timers moved

WORKING = "working"  # office time counted from arming: a timeDate written with working_days() / working_hours()
ELAPSED = "elapsed"  # elapsed time counted from arming: a timeDuration, a timeCycle
_WORKING_CALL = re.compile(r"\b(" + "|".join(map(re.escape, WORKING_TIME_FUNCTIONS)) + r")\s*\(")

Mover = Callable[[datetime, str], datetime | None]  # (due instant, measure) → the new instant, None: unchanged


def timer_measure(definition: Any) -> str | None:
    """How a timer counts its time: WORKING, ELAPSED, or None for an instant fixed when it was written (a timeDate
    literal, a date taken from the dossier's data), which a pause does not move."""
    if isinstance(definition, _Cycle | _Duration):
        return ELAPSED
    if isinstance(definition, _TimeDate):
        return WORKING if _WORKING_CALL.search(str(definition.expression or "")) else None
    return None


@dataclass(frozen=True)
class MovedTimer:
    """A waiting timer a pause moved: its name in the diagram, how it counts, its due instant before and after."""

    name: str
    measure: str
    was_due: datetime
    due: datetime


def _move_value(definition: Any, internal: dict[str, Any], move: Mover) -> tuple[datetime, datetime] | None:
    """Move one timer's stored due instant (its internal data: the task's, or a gateway slot); (before, after)."""
    measure = timer_measure(definition)
    if measure is None or internal.get("event_fired"):
        return None
    value = internal.get("event_value")
    if isinstance(definition, _Cycle):
        if not isinstance(value, Mapping) or value.get("cycles") == 0:
            return None
        before = _instant(value.get("next"))
    else:
        before = _instant(value)
    if before is None:
        return None
    after = move(before, measure)
    if after is None or after == before:
        return None
    text = after.astimezone(before.tzinfo).isoformat() if before.tzinfo is not None else after.isoformat()
    if isinstance(definition, _Cycle):
        internal["event_value"] = {**value, "next": text}  # type: ignore[dict-item]
    else:
        internal["event_value"] = text
    return before, after


def move_armed_timers(workflow: Any, move: Mover) -> list[MovedTimer]:
    """Rewrite the due instant of the workflow's waiting timers by `move` (the stored `event_value`, which the
    library re-reads at every due test; a cycle's next occurrence; each timer slot of an event-based gateway). A
    catch event with several event definitions shares one stored value among its timers (the library's design):
    it is moved only when its timers all count alike. Nothing is evaluated or fired."""
    moved: list[MovedTimer] = []
    for task in workflow.event_manager.tasks.values():
        if task._state != _TaskState.WAITING:
            continue
        spec = task.task_spec
        definition = getattr(spec, "event_definition", None)
        if isinstance(definition, GatewayEvents):
            slots = task.internal_data.get(_SLOTS) or {}
            for index, inner in enumerate(definition.event_definitions):
                slot = slots.get(str(index))
                if isinstance(inner, _Timer) and isinstance(slot, dict):
                    done = _move_value(inner, slot, move)
                    if done is not None:
                        target = spec.outputs[index] if index < len(spec.outputs) else spec
                        moved.append(MovedTimer(timer_name(target, inner), str(timer_measure(inner)), *done))
            continue
        if isinstance(definition, _Multiple):
            timers = [d for d in definition.event_definitions if isinstance(d, _Timer)]
            if not timers or len({timer_measure(d) for d in timers}) != 1:
                continue
            definition = timers[0]
        if isinstance(definition, _Timer):
            done = _move_value(definition, task.internal_data, move)
            if done is not None:
                moved.append(MovedTimer(timer_name(spec, definition), str(timer_measure(definition)), *done))
    return moved
