"""A multi-instance user task over N items: SpiffWorkflow alone in memory against the platform's runtime.

For each mode (parallel, sequential) and each size it prints:
- bare: SpiffWorkflow parses the BPMN and runs the workflow in memory, completing the N instances;
- runtime: WorkflowRun as a dossier lives it, one request per instance: the document is loaded, one instance
  is completed, the document is saved (dicts in and out, as the runtime is called);
- +JSON: the same with the JSON text the database driver writes (app.config.json_text) and reads for a JSONB
  column at each step;
- spiff (with --spiff-persisted): SpiffWorkflow's own serializer writing and reading the whole workflow
  (specs included) at each step, what the runtime did before it kept the specs out and reused them;
- kept: the same requests when the process keeps the run it saved (app.engine.live), as it does for the row
  version it committed itself: take the run → complete one instance → write the document → keep the run;
  its +JSON adds the JSON text written at each step and the one read with the row (the row is read whole);
  +write only the text written: the row is read without its document, which is loaded only on a miss;
- the ratios to bare, and the document's size after the start, at its largest, and at the end.

With --db, the real path on a PostgreSQL database of its own (created and dropped): one workflow row, and per
instance a session that reads the row, `load_run` → complete → `save_run` → commit, with kept runs and with
keeping turned off, and kept but with the document read with the row (as before it was deferred: it is now
loaded only on a miss); CPU seconds of this process (driver, ORM and JSON included) and wall seconds.

    .venv/bin/python -m bench.multi_instance [--items 10 100 300] [--modes parallel sequential] [--profile] [--db]

Times are CPU seconds of this process (time.process_time), so that other work on the machine counts less.
Nothing is asserted; nothing touches a database without --db.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROCESS_ID = "duyet_danh_sach"
_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="x">
  <bpmn:process id="duyet_danh_sach" isExecutable="true">
    <bpmn:ioSpecification>
      <bpmn:dataInput id="ho_so_con"/>
      <bpmn:dataOutput id="ket_qua"/>
    </bpmn:ioSpecification>
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="Task_Duyet" name="Duyệt từng hồ sơ">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="duyet.schema.json"/>
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics isSequential="{sequential}">
        <bpmn:loopDataInputRef>ho_so_con</bpmn:loopDataInputRef>
        <bpmn:loopDataOutputRef>ket_qua</bpmn:loopDataOutputRef>
        <bpmn:inputDataItem id="ho_so"/>
        <bpmn:outputDataItem id="y_kien"/>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="Task_Duyet"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Task_Duyet" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>
"""


def bpmn(sequential: bool) -> str:
    return _BPMN.replace("{sequential}", "true" if sequential else "false")


def start_data(items: int) -> dict[str, Any]:
    return {
        "nguoi_yeu_cau": {"ho_ten": "Nguyễn Văn An", "so_dinh_danh": "001090012345"},
        "ho_so_con": [{"stt": i, "ho_ten": f"Nguyễn Thị Mai {i}", "so_dinh_danh": f"0011950{i:05d}",
                       "dia_chi": "Số 12 ngõ 34 phố Kim Mã, phường Ngọc Hà, thành phố Hà Nội"}
                      for i in range(items)],
    }


def answer(i: int) -> dict[str, Any]:
    return {"y_kien": {"dong_y": i % 7 != 0, "ghi_chu": "Đủ điều kiện" if i % 7 else "Thiếu giấy tờ"}}


def bare(items: int, sequential: bool, persist: bool = False) -> float:
    """Seconds: parse, then run in memory completing every instance (no serialization); with `persist`,
    SpiffWorkflow's own serializer writes the workflow (specs included) to JSON and reads it back at each step."""
    from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer  # noqa: TID251
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow  # noqa: TID251
    from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG  # noqa: TID251
    from SpiffWorkflow.spiff.serializer.task_spec import ServiceTaskConverter  # noqa: TID251
    from SpiffWorkflow.util.task import TaskState  # noqa: TID251

    from app.engine.environment import SafeScriptEngine
    from app.engine.service import DeferredServiceTask, MotcuaBpmnParser
    from app.engine.xmlsafe import parse_xml

    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(
        {**SPIFF_CONFIG, DeferredServiceTask: ServiceTaskConverter}))
    engine = SafeScriptEngine()
    start = time.process_time()
    parser = MotcuaBpmnParser()
    parser.add_bpmn_xml(parse_xml(bpmn(sequential).encode(), "p.bpmn"), filename="p.bpmn")
    spec, subs = parser.get_spec(PROCESS_ID), parser.get_subprocess_specs(PROCESS_ID)
    wf = BpmnWorkflow(spec, subs, script_engine=engine)
    wf.task_tree.data.update(start_data(items))
    wf.do_engine_steps()
    done = 0
    while True:
        if persist:
            wf = serializer.deserialize_json(serializer.serialize_json(wf))
            wf.script_engine = engine
        ready = wf.get_tasks(state=TaskState.READY, manual=True)
        if not ready:
            break
        task = ready[0]
        task.data.update(answer(done))
        task.run()
        wf.do_engine_steps()
        done += 1
    elapsed = time.process_time() - start
    assert wf.is_completed() and done == items, (done, items)
    return elapsed


def runtime(items: int, sequential: bool, key: str) -> tuple[float, dict[str, Any]]:
    """CPU seconds for the platform's runtime (parse through the cache, then load → complete → save per
    instance, documents as dicts), the seconds the database driver's JSON text on top took, and the document's
    sizes in bytes of JSON."""
    from app.config import json_text
    from app.engine.runtime import WorkflowRun, get_bundle

    json_s = 0.0
    start = time.process_time()
    bundle = get_bundle(key, {"p.bpmn": bpmn(sequential)}, PROCESS_ID)
    run, step = WorkflowRun.start(bundle, start_data(items))
    mark = time.process_time()
    text = json_text(run.document())
    json_s += time.process_time() - mark
    sizes = {"start": len(text), "max": len(text)}
    done = 0
    while step.ready:
        task = step.ready[0]
        mark = time.process_time()
        document = json.loads(text)
        json_s += time.process_time() - mark
        run = WorkflowRun.load(document, bundle)
        step = run.complete(task.id, answer(done))
        document = run.document()
        mark = time.process_time()
        text = json_text(document)
        json_s += time.process_time() - mark
        sizes["max"] = max(sizes["max"], len(text))
        done += 1
    elapsed = time.process_time() - start - json_s
    sizes["end"] = len(text)
    assert step.completed and done == items, (done, items)
    return elapsed, {**sizes, "json": json_s}


def kept(items: int, sequential: bool, key: str) -> tuple[float, float, float]:
    """CPU seconds for the runtime when each request takes the run the previous one kept (no document restored),
    and the seconds of the JSON text the driver writes, and of the one it reads with the row, at each step."""
    from app.config import json_text
    from app.engine.live import LiveRuns
    from app.engine.runtime import WorkflowRun, get_bundle

    live = LiveRuns(10, 1_000_000)
    json_s = read_s = 0.0
    start = time.process_time()
    bundle = get_bundle(key, {"p.bpmn": bpmn(sequential)}, PROCESS_ID)
    run, step = WorkflowRun.start(bundle, start_data(items))
    version = 1
    document = run.document()
    live.put((1, version), run)
    mark = time.process_time()
    text = json_text(document)
    json_s += time.process_time() - mark
    done = 0
    while step.ready:
        task = step.ready[0]
        mark = time.process_time()
        json.loads(text)  # the row's document, read with the row
        read_s += time.process_time() - mark
        taken = live.take((1, version))
        run = taken if taken is not None else WorkflowRun.load(json.loads(text), bundle)
        step = run.complete(task.id, answer(done))
        document = run.document()
        version += 1
        live.put((1, version), run)  # after the commit
        mark = time.process_time()
        text = json_text(document)
        json_s += time.process_time() - mark
        done += 1
    elapsed = time.process_time() - start - json_s - read_s
    assert step.completed and done == items and live.hits == items, (done, items, live.hits)
    return elapsed, json_s, read_s


def best_kept(runs: int, items: int, sequential: bool) -> tuple[float, float, float]:
    return min((kept(items, sequential, f"bench-mi-kept-{sequential}-{items}-{time.time_ns()}") for _ in range(runs)),
               key=lambda r: r[0])


def through_database(items_list: list[int], modes: list[str], runs: int) -> None:
    """The real path on PostgreSQL: read the row, load_run → complete → save_run → commit, per instance."""
    import tempfile

    from sqlalchemy.orm import undefer

    from app.dossiers import services
    from app.dossiers.workflow_runs import live_runs, load_run, save_run
    from app.engine.live import LiveRuns
    from app.engine.runtime import WorkflowRun, get_bundle
    from app.extensions import db
    from app.models import WorkflowInstance
    from tests.conftest import _create_database, _drop_database, make_app, prepare_database, user
    from tests.samples import start_data as sample_start
    from tests.samples import with_stored_uploads

    url = _create_database("motcua_bench_mi")
    try:
        app = make_app(url, Path(tempfile.mkdtemp()), JOB_DISPATCH="record")
        prepare_database(app)
        with app.app_context():
            applicant = user("congdan")
            dossier = services.submit_dossier("1.001193", with_stored_uploads(sample_start("khai-sinh"), applicant),
                                              applicant=applicant)
            db.session.commit()
            row_id = dossier.workflow.id
            db.session.remove()
            print(f"\nthrough PostgreSQL ({url.rsplit('/', 1)[1]}): per instance read row, load_run, complete, "
                  "save_run, commit")
            print(f"{'mode':<11} {'items':>5} {'keeping':>18} {'CPU s':>7} {'wall s':>7} {'hits':>5}")
            for mode in modes:
                sequential = mode == "sequential"
                for items in items_list:
                    for keeping, eager in ((True, False), (True, True), (False, False)):
                        best: tuple[float, float, int] | None = None
                        for _ in range(runs):
                            app.extensions["motcua_live_runs"] = (
                                LiveRuns(int(app.config["WORKFLOW_CACHE_SIZE"]),
                                         int(app.config["WORKFLOW_CACHE_TASKS"]) * 100)
                                if keeping else LiveRuns(0, 0))
                            bundle = get_bundle(f"bench-mi-db-{mode}-{items}", {"p.bpmn": bpmn(sequential)},
                                                PROCESS_ID)
                            run, step = WorkflowRun.start(bundle, start_data(items))
                            save_run(db.session.get(WorkflowInstance, row_id), run, False)
                            db.session.commit()
                            db.session.remove()
                            cpu, wall = time.process_time(), time.perf_counter()
                            done = 0
                            while step.ready:
                                instance = db.session.get(WorkflowInstance, row_id, options=(
                                    [undefer(WorkflowInstance.document)] if eager else []))
                                run = load_run(instance, bundle)
                                step = run.complete(step.ready[0].id, answer(done))
                                save_run(instance, run, step.completed)
                                db.session.commit()
                                db.session.remove()
                                done += 1
                            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                            assert step.completed and done == items
                            if best is None or cpu < best[0]:
                                best = (cpu, wall, live_runs().hits)
                        assert best is not None
                        label = ("kept, doc read too" if eager else "kept") if keeping else "off"
                        print(f"{mode:<11} {items:>5} {label:>18} {best[0]:>7.3f} "
                              f"{best[1]:>7.3f} {best[2]:>5}")
            db.session.remove()
            db.engine.dispose()
    finally:
        _drop_database(url)


def best_bare(runs: int, items: int, sequential: bool, persist: bool = False) -> float:
    """The fastest of `runs` measurements (the others were disturbed by something else)."""
    return min(bare(items, sequential, persist) for _ in range(runs))


def best_runtime(runs: int, items: int, sequential: bool) -> tuple[float, dict[str, Any]]:
    # A new cache key each time: the parse is counted, as in `bare`.
    return min((runtime(items, sequential, f"bench-mi-{sequential}-{items}-{time.time_ns()}") for _ in range(runs)),
               key=lambda r: r[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, nargs="+", default=[10, 100, 300])
    parser.add_argument("--modes", nargs="+", default=["parallel", "sequential"], choices=["parallel", "sequential"])
    parser.add_argument("--profile", action="store_true", help="profile the runtime at the largest size")
    parser.add_argument("--runs", type=int, default=2, help="measure each figure this many times, keep the best")
    parser.add_argument("--spiff-persisted", action="store_true",
                        help="also time SpiffWorkflow's own serializer writing and reading the workflow at each step")
    parser.add_argument("--db", action="store_true", help="also run the real path on a PostgreSQL database")
    args = parser.parse_args()

    from tests.conftest import make_app  # only for the app context gettext needs

    app = make_app("sqlite://", Path("/tmp"))
    with app.app_context():
        bare(5, False)  # imports and first-use costs out of the way
        print(f"{'mode':<11} {'items':>5} {'bare s':>8} {'runtime s':>10} {'ratio':>6} {'+JSON s':>8} {'ratio':>6} "
              f"{'kept s':>7} {'ratio':>6} {'+JSON s':>8} {'ratio':>6} {'+write s':>9} {'ratio':>6} "
              f"{'spiff s':>8} {'doc start KB':>13} {'doc max KB':>11} {'doc end KB':>11} {'end B/item':>10}")
        for mode in args.modes:
            sequential = mode == "sequential"
            for items in args.items:
                floor = best_bare(args.runs, items, sequential)
                elapsed, sizes = best_runtime(args.runs, items, sequential)
                persisted = best_bare(1, items, sequential, persist=True) if args.spiff_persisted else float("nan")
                with_json = elapsed + sizes["json"]
                kept_s, kept_write, kept_read = best_kept(args.runs, items, sequential)
                kept_json = kept_write + kept_read
                print(f"{mode:<11} {items:>5} {floor:>8.3f} {elapsed:>10.3f} {elapsed / floor:>6.1f} "
                      f"{with_json:>8.3f} {with_json / floor:>6.1f} "
                      f"{kept_s:>7.3f} {kept_s / floor:>6.1f} {kept_s + kept_json:>8.3f} "
                      f"{(kept_s + kept_json) / floor:>6.1f} {kept_s + kept_write:>9.3f} "
                      f"{(kept_s + kept_write) / floor:>6.1f} {persisted:>8.3f} "
                      f"{sizes['start'] / 1024:>13.1f} {sizes['max'] / 1024:>11.1f} {sizes['end'] / 1024:>11.1f} "
                      f"{sizes['end'] / items:>10.0f}")
            if args.profile:
                profile = cProfile.Profile()
                profile.enable()
                runtime(max(args.items), sequential, f"bench-mi-prof-{mode}-{time.time_ns()}")
                profile.disable()
                pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
    if args.db:
        through_database(args.items, args.modes, args.runs)


if __name__ == "__main__":
    main()
