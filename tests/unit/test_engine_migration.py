"""Moving a running workflow to another version (app.engine.migration), pinned to SpiffWorkflow 3.2.0: the step it
waits on keeps its id and data and its boundary timer keeps its due time (SpiffWorkflow's own `migrate_workflow`
would reset both); what follows is predicted from the new version; a removed current step or a changed kind of
step is refused with its reason, and the document it came from is left as it was."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import app.clock as platform_clock
from app.engine.migration import move
from app.engine.runtime import SpecBundle, WorkflowRun, get_bundle
from tests.timer_support import MovedClock, diagram, timer, user_task


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[MovedClock]:
    moved = MovedClock()
    monkeypatch.setattr(platform_clock, "datetime", moved.datetime)
    yield moved


BOUNDARY = (f'<bpmn:boundaryEvent id="Het_Han" name="Quá 2 giờ" attachedToRef="Task_A" cancelActivity="false">'
            f'{timer("timeDuration", "PT2H")}</bpmn:boundaryEvent>'
            '<bpmn:endEvent id="End_Late"/>')


def _bundle(name: str, body: str, flows: list[tuple[str, str, str]]) -> SpecBundle:
    text = diagram('<bpmn:startEvent id="Start_1"/>' + body + '<bpmn:endEvent id="End_1"/>', {}, flows)
    text = text.replace('<bpmn:laneSet id="LaneSet_1"></bpmn:laneSet>', "")
    return get_bundle(f"unit-migration-{name}", {"p.bpmn": text.encode()}, "dang_ky_khai_sinh")


def old_version() -> SpecBundle:
    return _bundle("old", user_task("Task_A", "Tiếp nhận", "mot_cua") + BOUNDARY,
                   [("F0", "Start_1", "Task_A"), ("F1", "Task_A", "End_1"), ("FL", "Het_Han", "End_Late")])


def test_the_waiting_step_keeps_its_id_data_and_timer_and_the_new_steps_follow(clock: MovedClock) -> None:
    old = old_version()
    new = _bundle("new", user_task("Task_A", "Tiếp nhận hồ sơ", "mot_cua") + BOUNDARY
                  + user_task("Task_B", "Thẩm định", "ho_tich"),
                  [("F0", "Start_1", "Task_A"), ("F1", "Task_A", "Task_B"), ("F2", "Task_B", "End_1"),
                   ("FL", "Het_Han", "End_Late")])
    run, step = WorkflowRun.start(old, {"ho_ten": "An"})
    [waiting] = step.ready
    due = run.next_due_at()
    document = json.loads(json.dumps(run.document()))
    before = json.dumps(document, sort_keys=True)
    clock.advance(hours=1)  # a reset would arm the timer again from now: one hour later than it was

    landing = move(document, old, new)
    assert landing.movable and not landing.repaired
    assert json.dumps(document, sort_keys=True) == before  # the stored document is not touched
    [ready] = landing.steps
    assert (ready.id, ready.title) == (waiting.id, "Tiếp nhận hồ sơ")  # same task, the new version's name
    moved = landing.run
    assert moved is not None and moved.next_due_at() == due
    assert moved.task_data(ready.id)["ho_ten"] == "An"
    after = moved.complete(ready.id, {"thanh_phan_da_nhan": ["TK"]})
    assert [t.spec_name for t in after.ready] == ["Task_B"]  # the new version's path


def test_a_removed_current_step_or_a_changed_kind_is_refused_with_its_reason() -> None:
    old = old_version()
    run, _ = WorkflowRun.start(old, {})
    document = run.document()
    gone = _bundle("gone", user_task("Task_C", "Bước khác", "mot_cua"),
                   [("F0", "Start_1", "Task_C"), ("F1", "Task_C", "End_1")])
    landing = move(document, old, gone)
    assert not landing.movable and landing.run is None
    assert [(o.code, o.step) for o in landing.obstacles] == [("current_step_removed", "Tiếp nhận"),
                                                             ("current_step_removed", "Quá 2 giờ")]
    assert landing.obstacles[0].message == "Bước hiện tại «Tiếp nhận» không còn trong phiên bản mới."

    unbounded = _bundle("unbounded", user_task("Task_A", "Tiếp nhận", "mot_cua"),
                        [("F0", "Start_1", "Task_A"), ("F1", "Task_A", "End_1")])
    landing = move(document, old, unbounded)  # the boundary timer removed from the step it waits on
    assert not landing.movable and "current_step_removed" in [o.code for o in landing.obstacles]

    script = _bundle("kind", '<bpmn:manualTask id="Task_A" name="Tiếp nhận"/>',
                     [("F0", "Start_1", "Task_A"), ("F1", "Task_A", "End_1")])
    landing = move(document, old, script)
    assert "current_step_changed_kind" in [o.code for o in landing.obstacles]


def test_nothing_to_change_moves_to_the_same_place() -> None:
    old = old_version()
    run, step = WorkflowRun.start(old, {})
    landing = move(run.document(), old, old)
    assert landing.movable and [t.id for t in landing.steps] == [t.id for t in step.ready]
    assert landing.run is not None and landing.run.next_due_at() == run.next_due_at()
