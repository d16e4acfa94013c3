"""Multi-instance tasks in the engine host (app.engine.multi), each step through a stored document and a reload, as
the platform runs them: SpiffWorkflow 3.2.0 alone raises "Multiinstance input item … already exists" on a sequential
task with an input collection and no output collection, and merges the instances' data (the last one wins)."""

from __future__ import annotations

import json

import pytest

from app.engine.runtime import WorkflowRun, get_bundle
from tests.breadth_support import definitions, end, process, user_task


def _bundle(sequential: bool, output: bool) -> object:
    out = ('<bpmn:loopDataOutputRef>y_kiens</bpmn:loopDataOutputRef><bpmn:outputDataItem id="y_kien" name="y_kien"/>'
           if output else "")
    loop = (f'<bpmn:multiInstanceLoopCharacteristics isSequential="{str(sequential).lower()}">'
            f'<bpmn:loopDataInputRef>phong_ban</bpmn:loopDataInputRef>{out}'
            '<bpmn:inputDataItem id="phong" name="phong"/></bpmn:multiInstanceLoopCharacteristics>')
    xml = definitions(process("p", '<bpmn:startEvent id="S"/>' + user_task("TD", "Thẩm định", "tham-dinh", extra=loop)
                              + end("E"), {"Chuyên viên": ["S", "TD", "E"]}, [("F1", "S", "TD"), ("F2", "TD", "E")]))
    return get_bundle(f"unit-multi-{sequential}-{output}", {"p.bpmn": xml.encode()}, "p")


@pytest.mark.parametrize("sequential", [True, False], ids=["sequential", "parallel"])
@pytest.mark.parametrize("output", [False, True], ids=["without-output", "with-output"])
def test_every_instance_s_form_data_survives_reloads_and_is_collected(sequential, output):
    bundle = _bundle(sequential, output)
    run, step = WorkflowRun.start(bundle, {"phong_ban": ["A", "B", "C"]})
    answered = []
    while step.ready:
        assert len(step.ready) == (1 if sequential else 3 - len(answered))
        task = step.ready[-1]  # parallel: the last one first
        item = run.task_data(task.id)["phong"]
        run = WorkflowRun.load(json.loads(json.dumps(run.document())), bundle)
        step = run.complete(task.id, {"dat": item != "B", "y_kien": f"ý kiến {item}"})
        answered.append(item)
    assert step.completed and sorted(answered) == ["A", "B", "C"]
    data = run.compact_document()["data"]
    assert "phong" not in data and "dat" not in data
    if output:
        assert sorted(data["y_kiens"]) == ["ý kiến A", "ý kiến B", "ý kiến C"]
    else:
        assert data["ket_qua_TD"] == [{"phong": "A", "dat": True, "y_kien": "ý kiến A"},
                                      {"phong": "B", "dat": False, "y_kien": "ý kiến B"},
                                      {"phong": "C", "dat": True, "y_kien": "ý kiến C"}]
