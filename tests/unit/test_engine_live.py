"""Workflows kept alive between steps: the same results as a reload, one holder at a time, within their bound."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from app.engine.live import LiveRuns
from app.engine.runtime import WorkflowRun
from tests.unit.test_engine_documents import WORKFLOWS, multi, parallel, shape, tree


def reload(run: WorkflowRun, bundle: Any) -> WorkflowRun:
    return WorkflowRun.load(json.loads(json.dumps(run.document())), bundle)


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_a_kept_run_steps_exactly_as_a_reload_of_its_document(name: str) -> None:
    bundle, start, fill = WORKFLOWS[name]()
    live = LiveRuns(10, 100_000)
    run, step = WorkflowRun.start(bundle, start)
    version = 1
    i = 0
    while step.ready:
        document = json.loads(json.dumps(run.document()))
        assert live.put((7, version), run)
        kept = live.take((7, version))
        assert kept is run
        loaded = WorkflowRun.load(document, bundle)
        # The same tasks, ids, states, data, what is ready, before the step …
        assert tree(kept) == tree(loaded)
        assert kept.ready_user_tasks() == loaded.ready_user_tasks() == step.ready
        task = step.ready[0]
        assert kept.task_data(task.id) == loaded.task_data(task.id)
        step, reference = kept.complete(task.id, fill(task, i)), loaded.complete(task.id, fill(task, i))
        # … and after it (new tasks get new ids and clock times in each run).
        assert [t.title for t in step.ready] == [t.title for t in reference.ready]
        assert (step.completed, [e.spec_name for e in step.end_events]) == (
            reference.completed, [e.spec_name for e in reference.end_events])
        assert shape(kept) == shape(loaded)
        # The kept run's next document is what its reload writes.
        assert json.loads(json.dumps(kept.document())) == reload(kept, bundle).document()
        version += 1
        i += 1
    assert step.completed


def test_a_run_is_taken_out_while_used_and_only_under_its_exact_version() -> None:
    bundle, start, fill = parallel()
    live = LiveRuns(10, 100_000)
    run, step = WorkflowRun.start(bundle, start)
    run.document()
    assert live.put((1, 3), run)
    assert live.take((1, 2)) is None  # an older version read elsewhere: not this run
    assert live.take((1, 3)) is run
    assert live.take((1, 3)) is None  # checked out: nobody else gets it
    assert len(live) == 0
    live.put((1, 3), run)
    assert live.take((1, 4)) is None  # the row moved on: the kept run is dropped for good
    assert len(live) == 0 and live.tasks == 0


def test_a_run_that_moved_on_since_its_document_or_holds_what_json_changes_is_not_kept() -> None:
    bundle, start, fill = parallel()
    live = LiveRuns(10, 100_000)
    run, step = WorkflowRun.start(bundle, start)
    assert not live.put((1, 1), run)  # never written
    run.document()
    run.complete(step.ready[0].id, fill(step.ready[0], 0))
    assert not live.put((1, 2), run)  # a step taken since its last document
    run.document()
    assert live.put((1, 2), run)
    taken = live.take((1, 2))
    assert taken is run
    next_task = run.ready_user_tasks()[0]
    run._task(next_task.id).data["pair"] = (1, 2)  # JSON brings a list back
    run.document()
    assert not live.put((1, 3), run)


def test_a_newer_version_of_a_row_replaces_the_older() -> None:
    bundle, start, _ = parallel()
    live = LiveRuns(10, 100_000)
    first, _ = WorkflowRun.start(bundle, start)
    second, _ = WorkflowRun.start(bundle, start)
    first.document()
    second.document()
    live.put((1, 1), first)
    live.put((1, 2), second)
    assert len(live) == 1 and live.tasks == second.task_count()
    assert live.take((1, 1)) is None
    assert live.take((1, 2)) is second


def test_the_bound_on_runs_and_tasks_is_kept_oldest_out() -> None:
    bundle, start, _ = parallel()
    runs = []
    for _ in range(5):
        run, _ = WorkflowRun.start(bundle, start)
        run.document()
        runs.append(run)
    per_run = runs[0].task_count()
    live = LiveRuns(3, 100_000)
    for row, run in enumerate(runs):
        live.put((row, 1), run)
    assert len(live) == 3
    assert [live.take((row, 1)) for row in range(5)] == [None, None, *runs[2:]]
    live = LiveRuns(10, per_run * 2)
    for row, run in enumerate(runs):
        live.put((row, 1), run)
    assert len(live) == 2 and live.tasks <= per_run * 2
    assert [live.take((row, 1)) for row in range(5)] == [None, None, None, *runs[3:]]
    big, _ = WorkflowRun.start(*multi(False, 50)()[:2])
    big.document()
    assert not live.put((9, 1), big)  # alone over the bound: not kept, nothing evicted for it
    assert LiveRuns(0, 100_000).put((1, 1), runs[0]) is False  # keeping turned off


def test_concurrent_threads_never_hold_the_same_run() -> None:
    bundle, start, _ = parallel()
    live = LiveRuns(10, 100_000)
    run, _ = WorkflowRun.start(bundle, start)
    run.document()
    live.put((1, 1), run)
    holders: list[int] = []
    overlaps: list[int] = []
    guard = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(300):
            taken = live.take((1, 1))
            if taken is None:
                continue
            with guard:
                holders.append(threading.get_ident())
                if len(holders) > 1:
                    overlaps.append(len(holders))
            time.sleep(0.0001)  # use it a while: other threads run meanwhile
            with guard:
                holders.remove(threading.get_ident())
            live.put((1, 1), taken)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    assert live.hits > 0 and live.take((1, 1)) is run
