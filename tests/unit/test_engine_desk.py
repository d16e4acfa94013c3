"""The engine facilities the desk stands on (WorkflowRun.earlier_user_steps, return_to, cancel): SpiffWorkflow's
reset_from_task_id and cancel, with the document saved and reloaded in between as the platform does."""

from __future__ import annotations

import json

import pytest

from app.engine.runtime import TaskNotReady, WorkflowRun
from tests.samples import start_data, task_data
from tests.unit.test_engine_runtime import bundle


def _reload(run: WorkflowRun) -> WorkflowRun:
    return WorkflowRun.load(json.loads(json.dumps(run.document())), bundle())


def _do(run: WorkflowRun, step):  # type: ignore[no-untyped-def]
    task = step.ready[0]
    return task, run.complete(task.id, task_data("khai-sinh", task.properties["formJsonSchemaFilename"]))


def test_a_return_resets_the_earlier_step_and_the_process_runs_on_from_it():
    run, step = WorkflowRun.start(bundle(), start_data("khai-sinh", files_as="x/gcs.pdf"))
    reception, step = _do(run, step)
    examination, step = _do(run, step)
    signing = step.ready[0]
    run = _reload(run)
    assert [t.title for t in run.earlier_user_steps(signing.id)] == [examination.title, reception.title]
    step = run.return_to(signing.id, examination.id)
    assert [t.id for t in step.ready] == [examination.id]  # the same engine task, ready again
    run = _reload(run)
    with pytest.raises(TaskNotReady):
        run.complete(signing.id, {})  # the step returned from is gone from the tree
    _, step = _do(run, step)
    assert [t.spec_name for t in step.ready] == ["Task_KyGiayKhaiSinh"] and step.ready[0].id != signing.id
    while step.ready:
        _, step = _do(run, step)
    assert step.completed and run.is_completed()


def test_only_an_earlier_step_of_the_waiting_one_is_a_target():
    run, step = WorkflowRun.start(bundle(), start_data("khai-sinh", files_as="x/gcs.pdf"))
    reception, step = _do(run, step)
    waiting = step.ready[0]
    with pytest.raises(TaskNotReady):
        run.return_to(waiting.id, waiting.id)  # itself: not completed
    with pytest.raises(TaskNotReady):
        run.return_to(reception.id, waiting.id)  # from a step that is not waiting


def test_cancel_leaves_nothing_waiting_and_no_end_event_reached():
    run, step = WorkflowRun.start(bundle(), start_data("khai-sinh", files_as="x/gcs.pdf"))
    _do(run, step)
    step = run.cancel()
    assert step.ready == [] and not step.completed
    run = _reload(run)
    assert run.ready_user_tasks() == [] and not run.is_completed()
