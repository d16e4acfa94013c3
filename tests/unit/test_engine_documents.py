"""Workflow documents: restored on the version's cached specs, history's data left out, finished ones compacted.

The reference everywhere is SpiffWorkflow's own serializer, configured as the platform configured it before:
whatever the runtime's fast path restores and saves must behave exactly as what the library restores from
the same document, and the documents saved before (the library's own format) must keep loading.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.serializer.task_spec import ServiceTaskConverter, SpiffMultiInstanceConverter

from app.engine.multi import MotcuaParallelMultiInstance, MotcuaSequentialMultiInstance
from app.engine.runtime import (
    COMPACT_FORMAT,
    NotFinished,
    SpecBundle,
    WorkflowRun,
    compact,
    get_bundle,
    is_compacted,
)
from app.engine.service import DeferredServiceTask
from bench.multi_instance import PROCESS_ID as MI_PROCESS
from bench.multi_instance import answer, bpmn, start_data
from tests.samples import start_data as sample_start
from tests.samples import task_data

ROOT = Path(__file__).resolve().parents[2]
STOCK = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(
    {**SPIFF_CONFIG, DeferredServiceTask: ServiceTaskConverter,
     MotcuaParallelMultiInstance: SpiffMultiInstanceConverter,
     MotcuaSequentialMultiInstance: SpiffMultiInstanceConverter}))

# Three branches in parallel, each a person's step setting its own value; the join must see all three.
PARALLEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="song_song" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:parallelGateway id="tach"><bpmn:incoming>f0</bpmn:incoming>
      <bpmn:outgoing>fa</bpmn:outgoing><bpmn:outgoing>fb</bpmn:outgoing><bpmn:outgoing>fc</bpmn:outgoing>
    </bpmn:parallelGateway>
    <bpmn:userTask id="A" name="Bước A"><bpmn:incoming>fa</bpmn:incoming><bpmn:outgoing>ga</bpmn:outgoing>
      </bpmn:userTask>
    <bpmn:userTask id="B" name="Bước B"><bpmn:incoming>fb</bpmn:incoming><bpmn:outgoing>gb</bpmn:outgoing>
      </bpmn:userTask>
    <bpmn:userTask id="C" name="Bước C"><bpmn:incoming>fc</bpmn:incoming><bpmn:outgoing>gc</bpmn:outgoing>
      </bpmn:userTask>
    <bpmn:parallelGateway id="gop"><bpmn:incoming>ga</bpmn:incoming><bpmn:incoming>gb</bpmn:incoming>
      <bpmn:incoming>gc</bpmn:incoming><bpmn:outgoing>h</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:exclusiveGateway id="xet" default="xau"><bpmn:incoming>h</bpmn:incoming>
      <bpmn:outgoing>tot</bpmn:outgoing><bpmn:outgoing>xau</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:endEvent id="Dat"><bpmn:incoming>tot</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="KhongDat"><bpmn:incoming>xau</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="tach"/>
    <bpmn:sequenceFlow id="fa" sourceRef="tach" targetRef="A"/>
    <bpmn:sequenceFlow id="fb" sourceRef="tach" targetRef="B"/>
    <bpmn:sequenceFlow id="fc" sourceRef="tach" targetRef="C"/>
    <bpmn:sequenceFlow id="ga" sourceRef="A" targetRef="gop"/>
    <bpmn:sequenceFlow id="gb" sourceRef="B" targetRef="gop"/>
    <bpmn:sequenceFlow id="gc" sourceRef="C" targetRef="gop"/>
    <bpmn:sequenceFlow id="h" sourceRef="gop" targetRef="xet"/>
    <bpmn:sequenceFlow id="tot" sourceRef="xet" targetRef="Dat">
      <bpmn:conditionExpression>a == 1 and b == 2 and c == 3 and goc == "x"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="xau" sourceRef="xet" targetRef="KhongDat"/>
  </bpmn:process>
</bpmn:definitions>
"""


def khai_sinh() -> tuple[SpecBundle, dict[str, Any], Any]:
    text = (ROOT / "bpmn" / "khai-sinh" / "process.bpmn").read_text(encoding="utf-8")
    return (get_bundle("test-docs-khai-sinh", {"process.bpmn": text}, "dang_ky_khai_sinh"),
            sample_start("khai-sinh", files_as="x/gcs.pdf"),
            lambda task, i: task_data("khai-sinh", task.properties["formJsonSchemaFilename"]))


def parallel() -> tuple[SpecBundle, dict[str, Any], Any]:
    values = {"Bước A": {"a": 1}, "Bước B": {"b": 2}, "Bước C": {"c": 3}}
    return (get_bundle("test-docs-parallel", {"p.bpmn": PARALLEL}, "song_song"), {"goc": "x"},
            lambda task, i: values[task.title])


def multi(sequential: bool, items: int = 7) -> Any:
    return lambda: (get_bundle(f"test-docs-mi-{sequential}", {"p.bpmn": bpmn(sequential)}, MI_PROCESS),
                    start_data(items), lambda task, i: answer(i))


WORKFLOWS = {"khai-sinh": khai_sinh, "parallel": parallel, "mi-parallel": multi(False), "mi-sequential": multi(True)}


def stock_load(document: dict[str, Any], bundle: SpecBundle) -> WorkflowRun:
    """The library's own way: the specs restored from their serialized form, the stock task converter."""
    full = {**copy.deepcopy(document), **json.loads(bundle.specs_json)}
    run = WorkflowRun.load(full)  # a document with its specs goes the library's whole way
    stock = STOCK.deserialize_json(json.dumps(full))
    stock.script_engine = run._wf.script_engine
    return WorkflowRun(stock)


def tree(run: WorkflowRun) -> list[tuple[Any, ...]]:
    """Everything a workflow holds, task by task in tree order, ids included."""
    return [(str(t.id), str(t._parent), [str(c) for c in t._children], t.task_spec.name, t.state, t.triggered,
             t.data, t.internal_data) for t, _ in run._walk()] + [run._wf.data, run._wf.completed]


def shape(run: WorkflowRun) -> list[tuple[Any, ...]]:
    """The same without what differs between two runs of one workflow (new task ids, clock times)."""
    return [(t.task_spec.name, t.state, t.data) for t, _ in run._walk() if t.has_state(63)] + [run._wf.data]


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_the_fast_load_restores_what_the_library_restores_at_every_step(name: str) -> None:
    bundle, start, fill = WORKFLOWS[name]()
    run, step = WorkflowRun.start(bundle, start)
    doc = json.loads(json.dumps(run.document()))
    stock_doc = json.loads(STOCK.serialize_json(run._wf))
    i = 0
    while step.ready:
        untouched = copy.deepcopy(doc)
        fast, slow = WorkflowRun.load(doc, bundle), stock_load(doc, bundle)
        assert doc == untouched  # loading does not change the stored document
        assert tree(fast) == tree(slow)
        assert fast.ready_user_tasks() == slow.ready_user_tasks() == step.ready
        task = step.ready[0]
        assert fast.task_data(task.id) == slow.task_data(task.id)
        step = fast.complete(task.id, fill(task, i))
        # The library's way all along, from its own unpruned documents, takes the same path.
        reference = stock_load(stock_doc, bundle)
        ref_task = next(t for t in reference.ready_user_tasks() if t.title == task.title)
        ref_step = reference.complete(ref_task.id, fill(task, i))
        assert shape(fast) == shape(reference)
        assert [t.title for t in step.ready] == [t.title for t in ref_step.ready]
        assert step.completed == ref_step.completed
        assert [e.spec_name for e in step.end_events] == [e.spec_name for e in ref_step.end_events]
        doc = json.loads(json.dumps(fast.document()))
        stock_doc = json.loads(STOCK.serialize_json(reference._wf))
        i += 1
    assert step.completed
    if name == "parallel":
        assert [e.spec_name for e in step.end_events] == ["Dat"]  # the join saw all three branches' values


def test_a_document_saved_in_the_library_format_loads_and_runs_on() -> None:
    bundle, start, fill = khai_sinh()
    run, step = WorkflowRun.start(bundle, start)
    task = step.ready[0]
    step = run.complete(task.id, fill(task, 0))
    old = json.loads(STOCK.serialize_json(run._wf))  # what the platform stored before: every task's data
    for key in ("spec", "subprocess_specs"):
        old.pop(key)
    titles = []
    while step.ready:
        task = step.ready[0]
        titles.append(task.title)
        loaded = WorkflowRun.load(old, bundle)
        step = loaded.complete(task.id, fill(task, 0))
        old = json.loads(json.dumps(loaded.document()))
    assert step.completed and titles[-1] == "Trả kết quả"


def test_a_completed_step_keeps_its_place_in_the_tree_but_not_its_data() -> None:
    bundle, start, fill = khai_sinh()
    run, step = WorkflowRun.start(bundle, start)
    first = step.ready[0]
    step = run.complete(first.id, fill(first, 0))
    entries = run.document()["tasks"]
    done = entries[first.id]
    assert done["state"] == 64 and done["data"] == {} and not done["delta"]
    # The step now open still sees everything the applicant declared.
    assert run.task_data(step.ready[0].id)["tre"]["ho_ten"] == start["tre"]["ho_ten"]
    reloaded = WorkflowRun.load(json.loads(json.dumps(run.document())), bundle)
    assert reloaded.task_data(step.ready[0].id) == run.task_data(step.ready[0].id)


@pytest.mark.parametrize("sequential", [False, True])
def test_a_multi_instance_document_grows_linearly(sequential: bool) -> None:
    def end_size(items: int) -> int:
        bundle, start, fill = multi(sequential, items)()
        run, step = WorkflowRun.start(bundle, start)
        i = 0
        while step.ready:
            run = WorkflowRun.load(json.loads(json.dumps(run.document())), bundle)
            step = run.complete(step.ready[0].id, fill(None, i))
            i += 1
        return len(json.dumps(run.document()))

    small, large = end_size(10), end_size(60)
    assert large / 60 < 1.2 * small / 10  # bytes per item do not grow with the number of items


def finished_khai_sinh() -> tuple[dict[str, Any], SpecBundle, list[str]]:
    bundle, start, fill = khai_sinh()
    run, step = WorkflowRun.start(bundle, start)
    titles = []
    while step.ready:
        task = step.ready[0]
        titles.append(task.title)
        run = WorkflowRun.load(json.loads(json.dumps(run.document())), bundle)
        step = run.complete(task.id, fill(task, 0))
    return json.loads(json.dumps(run.document())), bundle, titles


def test_a_finished_workflow_compacts_to_what_its_history_needs() -> None:
    doc, bundle, titles = finished_khai_sinh()
    assert not is_compacted(doc)
    small = compact(doc, bundle)
    assert is_compacted(small) and small["compacted"] == COMPACT_FORMAT
    assert len(json.dumps(small)) < len(json.dumps(doc)) / 2
    user_steps = [s for s in small["steps"] if s["kind"] == "user"]
    assert [s["title"] for s in user_steps] == titles
    assert user_steps[0]["lane"] == "Bộ phận một cửa"
    assert user_steps[0]["properties"]["formJsonSchemaFilename"] == "tiep-nhan.schema.json"
    assert [s["at"] for s in small["steps"]] == sorted(s["at"] for s in small["steps"])
    assert [e["properties"].get("dossierStatus") for e in small["end_events"]] == ["10"]
    assert small["data"]["tre"]["ho_ten"] == sample_start("khai-sinh")["tre"]["ho_ten"]
    assert json.loads(json.dumps(small)) == small  # JSON as it is stored
    assert compact(small) == small  # compacting again changes nothing, and needs no specs


def test_a_compacted_document_no_longer_runs() -> None:
    doc, bundle, _ = finished_khai_sinh()
    with pytest.raises(ValueError, match="compacted"):
        WorkflowRun.load(compact(doc, bundle), bundle)


def test_an_unfinished_workflow_is_not_compacted() -> None:
    bundle, start, fill = khai_sinh()
    run, step = WorkflowRun.start(bundle, start)
    with pytest.raises(NotFinished):
        compact(run.document(), bundle)
    step = run.complete(step.ready[0].id, fill(step.ready[0], 0))
    with pytest.raises(NotFinished):
        compact(json.loads(json.dumps(run.document())), bundle)


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_a_tasks_data_is_read_from_the_document_as_the_workflow_gives_it(name: str) -> None:
    from app.engine.runtime import TaskNotReady, task_data_in

    bundle, start, fill = WORKFLOWS[name]()
    run, step = WorkflowRun.start(bundle, start)
    i = 0
    while step.ready:
        doc = json.loads(json.dumps(run.document()))
        for ready in step.ready:
            assert task_data_in(doc, ready.id) == WorkflowRun.load(doc, bundle).task_data(ready.id)
        # An old document (every task's data, as delta against its parent) reads the same.
        old = json.loads(STOCK.serialize_json(run._wf))
        assert task_data_in(old, step.ready[0].id) == run.task_data(step.ready[0].id)
        step = run.complete(step.ready[0].id, fill(step.ready[0], i))
        i += 1
    with pytest.raises(TaskNotReady):
        task_data_in(run.document(), "00000000-0000-0000-0000-000000000000")


def test_a_run_that_just_finished_compacts_without_a_reload() -> None:
    doc, bundle, _ = finished_khai_sinh()
    run = WorkflowRun.load(doc, bundle)
    assert run.compact_document() == compact(doc, bundle)
    bundle2, start, fill = khai_sinh()
    unfinished, _ = WorkflowRun.start(bundle2, start)
    with pytest.raises(NotFinished):
        unfinished.compact_document()


def from_scratch(run: WorkflowRun) -> dict[str, Any]:
    """The run's document written without reusing any entry it loaded or wrote before."""
    from app.engine.runtime import _LOADED

    for workflow in (run._wf, *run._wf.subprocesses.values()):
        workflow.__dict__.pop(_LOADED, None)
    return run.document()


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_a_save_reusing_unchanged_entries_writes_what_a_whole_save_writes(name: str) -> None:
    bundle, start, fill = WORKFLOWS[name]()
    live, step = WorkflowRun.start(bundle, start)
    doc = json.loads(json.dumps(live.document()))
    i = 0
    while step.ready:
        loaded = WorkflowRun.load(doc, bundle)  # reuses what it loaded
        task = step.ready[0]
        loaded_step = loaded.complete(task.id, fill(task, i))
        step = live.complete(task.id, fill(task, i))  # reuses what it wrote at the previous step
        assert [t.title for t in loaded_step.ready] == [t.title for t in step.ready]
        incremental, reloaded = live.document(), loaded.document()
        assert incremental == from_scratch(live)
        assert reloaded == from_scratch(loaded)
        assert shape(live) == shape(loaded)
        doc = json.loads(json.dumps(incremental))
        i += 1
    assert step.completed


def test_a_value_changed_in_place_is_written_even_when_python_finds_it_equal() -> None:
    bundle, start, fill = parallel()
    run, step = WorkflowRun.start(bundle, start)
    waiting = run._task(step.ready[0].id)
    for value in (1, True, 1.0, [1], [True], {"k": 1}, {"k": 1.0}):
        waiting.data["x"] = value  # no state change: only the data tells
        entry = run.document()["tasks"][str(waiting.id)]
        assert json.dumps(entry["delta"]["updates"]["x"]) == json.dumps(value)
    waiting.data.pop("x")
    assert "x" not in run.document()["tasks"][str(waiting.id)]["delta"]["updates"]


def test_a_finished_tasks_data_changed_in_place_is_written() -> None:
    bundle, start, fill = multi(False)()
    run, step = WorkflowRun.start(bundle, start)
    step = run.complete(step.ready[0].id, fill(None, 0))
    entries = run.document()["tasks"]
    whole = [tid for tid, e in entries.items() if e["state"] == 64 and e["data"]]
    assert whole  # a finished task whose children run on keeps its data whole
    task = run._task(whole[0])
    task.data["nguoi_yeu_cau"]["ho_ten"] = "Trần Văn Bình"
    assert run.document()["tasks"][whole[0]]["data"]["nguoi_yeu_cau"]["ho_ten"] == "Trần Văn Bình"


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_a_document_writes_exactly_its_json_text_reusing_what_did_not_change(name: str) -> None:
    from app.config import json_text

    bundle, start, fill = WORKFLOWS[name]()
    run, step = WorkflowRun.start(bundle, start)
    i = 0
    while True:
        document = run.document()
        assert json_text(document) == json.dumps(document)
        assert json_text(document) == json.dumps(document)  # again, every entry's text now known
        loaded = WorkflowRun.load(json.loads(json_text(document)), bundle)
        assert json_text(loaded.document()) == json.dumps(loaded.document())
        if not step.ready:
            break
        step = run.complete(step.ready[0].id, fill(step.ready[0], i))
        i += 1
    assert json_text({"a": [1, "b"]}) == json.dumps({"a": [1, "b"]})
