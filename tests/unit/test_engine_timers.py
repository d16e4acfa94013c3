"""The engine side of the timer host, pinned to SpiffWorkflow 3.2.0: the library's clock is the platform's, the due
time is read from a stored document without evaluating anything, an event-based gateway survives a reload between
arming and firing, and working time needs the dossier's calendar."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

import pytest
from SpiffWorkflow.bpmn.specs.event_definitions import timer as library_timer

from app.engine.expressions import ExpressionError, evaluate
from app.engine.runtime import WorkflowRun, get_bundle
from app.engine.timers import PlatformDatetime
from tests.timer_support import MovedClock, diagram, timer


def test_the_library_reads_the_platform_clock(clock: MovedClock) -> None:
    # SpiffWorkflow 3.2.0 reads the time as datetime.now(timezone.utc) through its timer module's global `datetime`;
    # if an upgrade stops doing so, the platform's clock no longer drives timers and this must fail.
    assert library_timer.datetime is PlatformDatetime
    for method in (library_timer.TimeDateEventDefinition.has_fired,
                   library_timer.DurationTimerEventDefinition.has_fired,
                   library_timer.CycleTimerEventDefinition.cycle_complete):
        assert "datetime.now(timezone.utc)" in inspect.getsource(method)
    clock.advance(days=3)
    seen = library_timer.datetime.now(UTC)
    assert abs(seen - (datetime.now(UTC) + timedelta(days=3))) < timedelta(seconds=5)


def _bundle(body: str, flows: list[tuple[str, str, str]], name: str) -> object:
    text = diagram('<bpmn:startEvent id="Start_1"/>' + body + '<bpmn:endEvent id="End_1"/><bpmn:endEvent id="End_2"/>',
                   {}, flows).replace('<bpmn:laneSet id="LaneSet_1"></bpmn:laneSet>', "")
    return get_bundle(f"unit-timers-{name}", {"p.bpmn": text.encode()}, "dang_ky_khai_sinh")


GATEWAY = ('<bpmn:eventBasedGateway id="Gw"/>'
           f'<bpmn:intermediateCatchEvent id="T3" name="Sau 3 giờ">{timer("timeDuration", "PT3H")}'
           "</bpmn:intermediateCatchEvent>"
           f'<bpmn:intermediateCatchEvent id="T1" name="Sau 1 giờ">{timer("timeDuration", "PT1H")}'
           "</bpmn:intermediateCatchEvent>"
           '<bpmn:userTask id="Task_A" name="Sau một giờ"/><bpmn:userTask id="Task_B" name="Sau ba giờ"/>')
GATEWAY_FLOWS = [("F0", "Start_1", "Gw"), ("G3", "Gw", "T3"), ("G1", "Gw", "T1"), ("F1", "T1", "Task_A"),
                 ("F3", "T3", "Task_B"), ("FA", "Task_A", "End_1"), ("FB", "Task_B", "End_2")]


def test_a_gateway_reloaded_between_arming_and_firing_keeps_each_timer_s_time(clock: MovedClock) -> None:
    bundle = _bundle(GATEWAY, GATEWAY_FLOWS, "gateway")
    armed = clock.now()
    run, step = WorkflowRun.start(bundle, {})
    assert step.ready == []
    document = run.document()
    due = run.next_due_at()
    assert due is not None and abs(due - (armed + timedelta(hours=1))) < timedelta(seconds=5)
    reloaded = WorkflowRun.load(document, bundle)
    assert reloaded.next_due_at() == due  # read from the stored slots, nothing evaluated
    clock.advance(hours=1, minutes=1)
    step = WorkflowRun.load(reloaded.document(), bundle).fire_timers()
    assert [t.title for t in step.ready] == ["Sau một giờ"]
    assert [(t.name, t.spec_name) for t in step.timers_fired] == [("Sau 1 giờ", "T1")]


def test_a_timer_not_due_is_not_fired_and_a_due_one_is_fired_once(clock: MovedClock) -> None:
    bundle = _bundle(f'<bpmn:intermediateCatchEvent id="T" name="Chờ">{timer("timeDate", "2030-01-02T08:00:00+07:00")}'
                     '</bpmn:intermediateCatchEvent><bpmn:userTask id="Task_A" name="Sau"/>',
                     [("F0", "Start_1", "T"), ("F1", "T", "Task_A"), ("F2", "Task_A", "End_1")], "date")
    run, _ = WorkflowRun.start(bundle, {})
    assert run.next_due_at() == datetime(2030, 1, 2, 1, 0, tzinfo=UTC)
    assert run.fire_timers().timers_fired == []
    clock.set(datetime(2030, 1, 2, 1, 0, 1, tzinfo=UTC))
    step = run.fire_timers()
    assert [t.name for t in step.timers_fired] == ["Chờ"] and [t.title for t in step.ready] == ["Sau"]
    assert step.timers_fired[0].due_at == datetime(2030, 1, 2, 1, 0, tzinfo=UTC)
    assert run.next_due_at() is None and run.fire_timers().timers_fired == []


def test_working_time_needs_the_dossier_s_calendar() -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate("working_days(2)", {"so_ngay": 2})
    assert caught.value.code == "timer_no_calendar"


def test_working_time_counts_office_hours_of_the_dossier_s_calendar(clock: MovedClock) -> None:
    from flask import Flask
    from flask_babel import Babel

    from app.dossiers.calendar import WorkingCalendar
    from app.engine.timers import CALENDARS_KEY

    app = Flask(__name__)
    Babel(app)
    asked: list[str] = []
    app.extensions[CALENDARS_KEY] = lambda code: asked.append(code) or WorkingCalendar(tz="Asia/Ho_Chi_Minh")
    data = {"thong_tin_ho_so": {"ma_ho_so": "H26-0001"}}
    clock.set(datetime(2026, 12, 4, 3, 0, tzinfo=UTC))  # Friday 10:00 in Vietnam
    with app.app_context():
        assert evaluate("working_days(1)", data) == "2026-12-07T10:00:00+07:00"  # the weekend skipped
        assert evaluate("working_hours(2)", data) == "2026-12-04T14:00:00+07:00"  # 10:00–11:30, then 13:30–14:00
        assert evaluate("working_days(n + 1)", {**data, "n": 1}) == "2026-12-08T10:00:00+07:00"
        for bad in ("working_days(-1)", "working_days('2')", "working_days(400)"):
            with pytest.raises(ExpressionError) as caught:
                evaluate(bad, data)
            assert caught.value.code == "timer_working_time_invalid"
    assert asked and set(asked) == {"H26-0001"}


def test_a_timer_whose_value_fails_to_arm_is_an_error_the_retry_arms_again(clock: MovedClock) -> None:
    """SpiffWorkflow 3.2 raises while completing the task BEFORE the timer and leaves the timer FUTURE, with no
    task in ERROR: the dossier would be stuck with nothing to retry. Here the timer is in ERROR and a retry with
    the missing value arms it."""
    from app.engine.runtime import EngineError

    bundle = _bundle('<bpmn:userTask id="Task_A" name="Trước"/>'
                     f'<bpmn:intermediateCatchEvent id="T" name="Hẹn">{timer("timeDate", "han_xu_ly")}'
                     '</bpmn:intermediateCatchEvent><bpmn:userTask id="Task_B" name="Sau"/>',
                     [("F0", "Start_1", "Task_A"), ("F1", "Task_A", "T"), ("F2", "T", "Task_B"),
                      ("F3", "Task_B", "End_1")], "arming")
    run, step = WorkflowRun.start(bundle, {})
    [first] = step.ready
    with pytest.raises(EngineError) as caught:
        run.complete(first.id, {})
    assert caught.value.step is not None and caught.value.task is not None and caught.value.task.spec_name == "T"
    assert [t.spec_name for t in run.errored_tasks()] == ["T"]
    reloaded = WorkflowRun.load(run.document(), bundle)  # saved with the incident, retried later
    step = reloaded.retry({"han_xu_ly": "2030-01-02T08:00:00+07:00"})
    assert step.ready == [] and reloaded.errored_tasks() == []
    assert reloaded.next_due_at() == datetime(2030, 1, 2, 1, 0, tzinfo=UTC)
    clock.set(datetime(2030, 1, 2, 1, 0, 1, tzinfo=UTC))
    assert [t.title for t in reloaded.fire_timers().ready] == ["Sau"]


def test_a_pause_moves_each_gateway_timer_and_a_cycle_s_next_occurrence_and_leaves_a_fixed_date(
        clock: MovedClock) -> None:
    """`move_armed_timers` (pinned to 3.2.0's internal data): each slot of an event-based gateway, a cycle's next
    occurrence and a duration move by what the mover says for their measure; a timeDate literal is not offered."""
    from app.engine.timers import ELAPSED

    bundle = _bundle(GATEWAY, GATEWAY_FLOWS, "gateway-moved")
    armed = clock.now()
    run, _ = WorkflowRun.start(bundle, {})
    seen: list[str] = []

    def later(due: datetime, measure: str) -> datetime:
        seen.append(measure)
        return due + timedelta(hours=5)

    moved = run.move_timers(later)
    assert sorted((m.name, m.measure) for m in moved) == [("Sau 1 giờ", ELAPSED), ("Sau 3 giờ", ELAPSED)]
    assert seen == [ELAPSED, ELAPSED]
    reloaded = WorkflowRun.load(run.document(), bundle)  # what the save keeps
    assert abs(reloaded.next_due_at() - (armed + timedelta(hours=6))) < timedelta(seconds=5)
    clock.advance(hours=3, minutes=1)  # the old one-hour and three-hour times both passed
    assert reloaded.fire_timers().timers_fired == []
    clock.advance(hours=3)
    step = reloaded.fire_timers()
    assert [t.name for t in step.timers_fired] == ["Sau 1 giờ"] and [t.title for t in step.ready] == ["Sau một giờ"]

    fixed, cycle_timer = timer("timeDate", "2030-01-02T08:00:00+07:00"), timer("timeCycle", "R3/PT1H")
    cycle = _bundle('<bpmn:userTask id="Task_A" name="Việc"/><bpmn:boundaryEvent id="R" name="Nhắc" '
                    f'cancelActivity="false" attachedToRef="Task_A">{cycle_timer}</bpmn:boundaryEvent>'
                    f'<bpmn:intermediateCatchEvent id="D" name="Ngày cố định">{fixed}</bpmn:intermediateCatchEvent>',
                    [("F0", "Start_1", "Task_A"), ("F1", "Task_A", "End_1"), ("F2", "R", "D"), ("F3", "D", "End_2")],
                    "cycle-moved")
    run, _ = WorkflowRun.start(cycle, {})
    first = run.next_due_at()
    assert [m.name for m in run.move_timers(later)] == ["Nhắc"]
    assert run.next_due_at() == first + timedelta(hours=5)
    assert run.move_timers(lambda due, measure: None) == []  # nothing moved: the run is unchanged
