"""SpiffWorkflow 3.2 hides tasks deeper than 1000 in its task tree, and then reports the workflow complete.

The runtime stops loops well before that depth, never runs further, and counts a workflow complete only
when an end event of the top-level process was reached.
"""

from __future__ import annotations

import json

import pytest

from app.engine.runtime import MAX_TASK_DEPTH, EngineError, LoopLimitExceeded, WorkflowRun, get_bundle

_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
         ' id="d" targetNamespace="http://bpmn.io/schema/bpmn"><bpmn:process id="vong_lap" isExecutable="true">')
_TAIL = "</bpmn:process></bpmn:definitions>"

# An automatic loop: two gateways send the token round while `lap` is true.
AUTOMATIC = _HEAD + """
  <bpmn:startEvent id="bat_dau"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
  <bpmn:exclusiveGateway id="gop"><bpmn:incoming>f1</bpmn:incoming><bpmn:incoming>f3</bpmn:incoming>
    <bpmn:outgoing>f2</bpmn:outgoing></bpmn:exclusiveGateway>
  <bpmn:exclusiveGateway id="re" default="f4"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    <bpmn:outgoing>f4</bpmn:outgoing></bpmn:exclusiveGateway>
  <bpmn:endEvent id="ket_thuc"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="bat_dau" targetRef="gop"/>
  <bpmn:sequenceFlow id="f2" sourceRef="gop" targetRef="re"/>
  <bpmn:sequenceFlow id="f3" sourceRef="re" targetRef="gop"><bpmn:conditionExpression>lap</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f4" sourceRef="re" targetRef="ket_thuc"/>""" + _TAIL

# A loop through a user task: a leader returns the dossier to the same step while `lap` is true.
THROUGH_A_PERSON = _HEAD + """
  <bpmn:startEvent id="bat_dau"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
  <bpmn:exclusiveGateway id="gop"><bpmn:incoming>f1</bpmn:incoming><bpmn:incoming>f3</bpmn:incoming>
    <bpmn:outgoing>f2</bpmn:outgoing></bpmn:exclusiveGateway>
  <bpmn:userTask id="xu_ly" name="Xử lý"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
    </bpmn:userTask>
  <bpmn:exclusiveGateway id="re" default="f4"><bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    <bpmn:outgoing>f4</bpmn:outgoing></bpmn:exclusiveGateway>
  <bpmn:endEvent id="ket_thuc"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="bat_dau" targetRef="gop"/>
  <bpmn:sequenceFlow id="f2" sourceRef="gop" targetRef="xu_ly"/>
  <bpmn:sequenceFlow id="f5" sourceRef="xu_ly" targetRef="re"/>
  <bpmn:sequenceFlow id="f3" sourceRef="re" targetRef="gop"><bpmn:conditionExpression>lap</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f4" sourceRef="re" targetRef="ket_thuc"/>""" + _TAIL


def _bundle(name: str, text: str):
    return get_bundle(f"test-loops-{name}", {"process.bpmn": text}, "vong_lap")


def test_the_guard_stops_well_before_the_engine_stops_seeing_tasks() -> None:
    assert MAX_TASK_DEPTH <= 500


def test_an_automatic_loop_stops_with_a_clear_error_and_is_never_completed() -> None:
    with pytest.raises(LoopLimitExceeded) as info:
        WorkflowRun.start(_bundle("auto", AUTOMATIC), {"lap": True})
    error = info.value
    assert error.code == "workflow_loop_limit"
    assert "lặp quá nhiều vòng" in error.message
    assert error.task is not None and error.task.spec_name in ("gop", "re")
    assert error.step is not None and not error.step.completed and error.step.ready == []
    run = WorkflowRun.of(error)
    assert not run.is_completed()
    # Saved and reloaded, it stays stopped: running it again stops at once, and it is still not completed.
    again = WorkflowRun.load(json.loads(json.dumps(run.document())), _bundle("auto", AUTOMATIC))
    assert not again.is_completed()
    with pytest.raises(LoopLimitExceeded):
        again.retry()


def test_a_loop_through_a_user_task_stops_before_a_false_completion() -> None:
    bundle = _bundle("user", THROUGH_A_PERSON)
    run, step = WorkflowRun.start(bundle, {"lap": True})
    rounds = 0
    with pytest.raises(LoopLimitExceeded) as info:
        while rounds < 400:  # 333 rounds reach the engine's blind depth
            assert step.ready and not step.completed
            doc = json.loads(json.dumps(run.document()))
            run = WorkflowRun.load(doc, bundle)
            step = run.complete(step.ready[0].id, {})
            rounds += 1
    assert rounds < 333
    assert info.value.step is not None and info.value.step.ready == [] and not info.value.step.completed
    assert not run.is_completed()


def test_a_short_loop_still_ends_and_is_completed_at_its_end_event() -> None:
    bundle = _bundle("user", THROUGH_A_PERSON)
    run, step = WorkflowRun.start(bundle, {"lap": True})
    for _ in range(20):
        step = run.complete(step.ready[0].id, {})
    step = run.complete(step.ready[0].id, {"lap": False})
    assert step.completed and run.is_completed()
    assert [e.spec_name for e in step.end_events] == ["ket_thuc"]


def test_the_depth_limit_can_be_set_per_run() -> None:
    with pytest.raises(LoopLimitExceeded):
        WorkflowRun.start(_bundle("auto", AUTOMATIC), {"lap": True}, max_depth=40)


def test_a_failed_condition_keeps_the_state_to_save_and_can_be_retried() -> None:
    bundle = _bundle("user", THROUGH_A_PERSON)
    run, step = WorkflowRun.start(bundle, {})
    task_id = step.ready[0].id
    with pytest.raises(EngineError) as info:
        run.complete(task_id, {"ghi_chu": "đã xem"})  # `lap` is defined by no one
    error = info.value
    assert error.code == "expression_unknown_name" and "«lap»" in error.message
    assert error.task is not None and error.task.spec_name == "re"
    assert error.step is not None and error.step.ready == [] and not error.step.completed
    assert [t.spec_name for t in run.errored_tasks()] == ["re"]
    # Saved in its error state; once the data is repaired, the failed gateway runs again and the person's
    # completed step is not asked for again.
    doc = json.loads(json.dumps(run.document()))
    with pytest.raises(EngineError) as again:
        WorkflowRun.load(doc, bundle).retry()
    assert again.value.code == "expression_unknown_name"
    repaired = WorkflowRun.load(doc, bundle)
    step = repaired.retry({"lap": False})
    assert step.completed and repaired.is_completed() and repaired.errored_tasks() == []
    assert repaired.task_data(task_id)["ghi_chu"] == "đã xem"


def test_a_spec_the_engine_cannot_run_is_an_engine_error_not_a_crash() -> None:
    """A start event named `Start` collides with the engine's own root task ("No output task connected")."""
    with pytest.raises(EngineError) as info:
        _bundle("reserved-start", AUTOMATIC.replace("bat_dau", "Start"))
    assert info.value.code == "workflow_spec_invalid" and info.value.step is None
    assert "No output task" in info.value.detail and "No output task" not in info.value.message
