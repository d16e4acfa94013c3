"""Service tasks wait for a job; its result or its failure (a BPMN error) moves the workflow on."""

from __future__ import annotations

import pytest

from app.engine.runtime import TaskNotReady, WorkflowRun, get_bundle

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="D" targetNamespace="x">
  {errors}
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="lookup" name="Tra cứu dân cư">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="population.lookup_citizen" resultVariable="cong_dan">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="so_dinh_danh" type="str" value="cccd"/>
            <spiffworkflow:parameter id="ho_ten" type="str" value="ho + ' ' + ten"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    {boundary}
    <bpmn:userTask id="review" name="Kiểm tra"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="lookup"/>
    <bpmn:sequenceFlow id="f2" sourceRef="lookup" targetRef="review"/>
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""

BOUNDARY = """
    <bpmn:boundaryEvent id="failed" attachedToRef="lookup">
      <bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:errorEventDefinition {ref}/>
    </bpmn:boundaryEvent>
    <bpmn:userTask id="manual" name="Xác minh thủ công"><bpmn:incoming>f4</bpmn:incoming>
      <bpmn:outgoing>f5</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end2"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f4" sourceRef="failed" targetRef="manual"/>
    <bpmn:sequenceFlow id="f5" sourceRef="manual" targetRef="end2"/>
"""


def _bundle_key(boundary: str = "", errors: str = "") -> tuple[str, dict[str, bytes], str]:
    xml = HEADER.format(boundary=boundary, errors=errors).encode()
    return f"test-service-{hash(xml)}", {"p.bpmn": xml}, "p"


def _start(boundary: str = "", errors: str = "") -> tuple[WorkflowRun, str]:
    bundle = get_bundle(*_bundle_key(boundary, errors))
    run, step = WorkflowRun.start(bundle, {"cccd": "001090012345", "ho": "Nguyễn", "ten": "An"})
    assert step.ready == [] and not step.completed
    [call] = step.service_calls
    assert call.operation == "population.lookup_citizen"
    assert call.params == {"so_dinh_danh": "001090012345", "ho_ten": "Nguyễn An"}
    assert call.result_variable == "cong_dan" and call.title == "Tra cứu dân cư"
    # The waiting call survives a save and a load (the job runs in another process).
    reloaded = WorkflowRun.load(run.document(), bundle)
    assert reloaded.waiting_service_calls() == step.service_calls
    return reloaded, call.id


def test_result_completes_the_task_and_lands_in_the_result_variable() -> None:
    run, task_id = _start()
    step = run.finish_service(task_id, {"ho_ten": "Nguyễn Văn An"})
    assert [t.spec_name for t in step.ready] == ["review"]
    assert step.service_calls == []
    assert run.task_data(step.ready[0].id)["cong_dan"] == {"ho_ten": "Nguyễn Văn An"}
    with pytest.raises(TaskNotReady):
        run.finish_service(task_id, {})  # a duplicated job finds nothing to finish


def test_uncaught_failure_leaves_the_task_waiting() -> None:
    run, task_id = _start()
    assert run.fail_service(task_id, "khong_tim_thay", "Không tìm thấy.") is None
    assert [c.id for c in run.waiting_service_calls()] == [task_id]


def test_error_boundary_without_code_catches_any_failure() -> None:
    run, task_id = _start(BOUNDARY.format(ref=""))
    step = run.fail_service(task_id, "unreachable", "Không kết nối được.")
    assert step is not None
    assert [t.spec_name for t in step.ready] == ["manual"]
    assert step.service_calls == []


def test_error_boundary_with_a_code_catches_only_that_code() -> None:
    errors = '<bpmn:error id="E1" name="Không tìm thấy" errorCode="khong_tim_thay"/>'
    run, task_id = _start(BOUNDARY.format(ref='errorRef="E1"'), errors)
    assert run.fail_service(task_id, "unreachable", "Không kết nối được.") is None
    step = run.fail_service(task_id, "khong_tim_thay", "Không tìm thấy công dân.")
    assert step is not None and [t.spec_name for t in step.ready] == ["manual"]
    [manual] = step.ready
    assert run.task_data(manual.id)["loi_dich_vu"] == {
        "ma": "khong_tim_thay", "thong_bao": "Không tìm thấy công dân.", "thao_tac": "population.lookup_citizen"}


def test_task_data_survives_a_store_that_reorders_keys() -> None:
    # JSONB keeps no key order; SpiffWorkflow restores each task's data as a delta on its parent's.
    run, task_id = _start()
    document = run.document()
    document["tasks"] = dict(sorted(document["tasks"].items(), reverse=True))
    reloaded = WorkflowRun.load(document, get_bundle(*_bundle_key()))
    [call] = reloaded.waiting_service_calls()
    assert reloaded.task_data(call.id)["cccd"] == "001090012345"
    step = reloaded.finish_service(call.id, {"ho_ten": "Nguyễn Văn An"})
    assert reloaded.task_data(step.ready[0].id)["ho"] == "Nguyễn"
