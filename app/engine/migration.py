"""Moving a running workflow from one deployed version to another (and repairing a stopped one that way).

SpiffWorkflow's own diff (SpiffWorkflow.bpmn.util.diff) aligns the old version's task specs with the new one's:
by BPMN id first, then, for an id that is gone, by position (a spec whose neighbours align takes the place of the
one it replaced). What the platform adds, and why it does not call `migrate_workflow` as it is:

- it refuses what cannot be mapped instead of guessing: a task the workflow still waits on (ready, waiting, started
  or failed) whose element was removed, or whose kind changed (a user task that became a service task); a step the
  dossier already went through that no longer exists (its document could not be loaded on the new version); a
  call activity whose process is gone. Each refusal is an `Obstacle` with a code and a Vietnamese sentence;
- the tasks the workflow waits on keep their ids, data, state and armed timers. `migrate_workflow` resets READY
  and WAITING tasks (`reset_branch(None)`): the data is taken from the parent again and a boundary timer is armed
  anew from now, so a deadline would restart. Here only what the engine predicted beyond those tasks (children
  not yet started) is dropped and predicted again from the new spec, which is what changed;
- the result is written as a document and loaded again on the new version's bundle, so what is saved is exactly
  what the next step will load; then the engine runs until it waits. A workflow stopped on an engine error (a task
  in ERROR: a gateway condition with a typo, say) has its failed tasks run again on the new version
  (`WorkflowRun.retry`): that is how a designer's fixed diagram repairs a stuck dossier.

A dry run is the same call whose result is not saved: nothing here touches the database, and connector calls are
never made inside the engine (service tasks wait for a job), so running the engine on a copy has no side effect.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext
from SpiffWorkflow.bpmn.util.diff import SpecDiff as _SpecDiff
from SpiffWorkflow.util.task import TaskState as _TaskState

from app.engine.runtime import _REGISTRY, EngineError, ReadyTask, SpecBundle, StepResult, WorkflowRun

# The tasks a workflow stands on: what it waits for now.
_FRONTIER = _TaskState.READY | _TaskState.WAITING | _TaskState.STARTED
# What the engine predicted beyond them and will predict again from the new spec.
_UNSTARTED = _TaskState.PREDICTED_MASK | _TaskState.FUTURE
_LOADED = "_motcua_loaded_entries"  # runtime's memo of the entries a task was loaded from (see runtime)
# SpiffWorkflow's spec diff of a pair of specs, made once per process: it depends on the two versions only, and most
# of a move's time went to it (every spec is serialized to be compared). Keyed by the spec objects themselves (the
# bundles' parsed specs, shared by every dossier of a version), which the entry keeps alive and checks.
_DIFFS: OrderedDict[tuple[int, int], tuple[Any, Any, _SpecDiff]] = OrderedDict()
_DIFFS_LOCK = threading.Lock()
_DIFFS_SIZE = 32


def _diff(old_spec: Any, new_spec: Any) -> _SpecDiff:
    key = (id(old_spec), id(new_spec))
    with _DIFFS_LOCK:
        found = _DIFFS.get(key)
        if found is not None and found[0] is old_spec and found[1] is new_spec:
            _DIFFS.move_to_end(key)
            return found[2]
    diff = _SpecDiff(_REGISTRY, old_spec, new_spec)
    with _DIFFS_LOCK:
        _DIFFS[key] = (old_spec, new_spec, diff)
        while len(_DIFFS) > _DIFFS_SIZE:
            _DIFFS.popitem(last=False)
    return diff


@dataclass(frozen=True)
class Obstacle:
    """Why a workflow cannot move to the new version."""

    code: str  # current_step_removed | current_step_changed_kind | past_step_removed | subprocess_removed |
    # state_unmapped | engine_error
    message: str
    step: str = ""  # the element's name (or id)


@dataclass
class Landing:
    """What a workflow looks like on the new version: the run to save, or why there is none."""

    run: WorkflowRun | None = None
    step: StepResult | None = None
    obstacles: list[Obstacle] = field(default_factory=list)
    repaired: bool = False  # it was stopped on an engine error, and the failed tasks ran again on the new version
    # The elements the workflow stood on before, by BPMN id → the id it stands on now (changed only by structure).
    moved: dict[str, str] = field(default_factory=dict)

    @property
    def movable(self) -> bool:
        return self.run is not None and not self.obstacles

    @property
    def steps(self) -> list[ReadyTask]:
        """The user tasks it waits on in the new version."""
        return list(self.step.ready) if self.step is not None else []

    @property
    def services(self) -> list[str]:
        return [call.title for call in self.step.service_calls] if self.step is not None else []


def _title(spec: Any) -> str:
    return str(getattr(spec, "bpmn_name", None) or getattr(spec, "bpmn_id", None) or spec.name)


def _typename(spec: Any) -> str:
    return type(spec).__name__


def _align(workflow: Any, diff: _SpecDiff, new_spec: Any, obstacles: list[Obstacle], moved: dict[str, str]) -> None:
    """Give every task of `workflow` its spec in the new version, or note why it has none (an element of the
    engine's own is reported only when nothing the designer named explains it)."""
    inner: list[Obstacle] = []
    for task in list(workflow.tasks.values()):
        spec = task.task_spec
        if spec.name in ("Root", "Start", "End") and spec.name in new_spec.task_specs:
            task.task_spec = new_spec.task_specs[spec.name]
            continue
        target = diff.alignment.get(spec)
        if target is None and spec not in diff.alignment:
            target = new_spec.task_specs.get(spec.name)  # not reachable by the diff's walk: by id alone
        state = task._state
        if target is None:
            if state & _UNSTARTED:
                continue  # a prediction: dropped below with the others
            if getattr(spec, "bpmn_id", None) is None:  # the engine's own (a boundary event's split): said once
                host = _title(workflow.spec.task_specs.get(spec.name.split(".")[0]) or spec)
                inner.append(Obstacle("state_unmapped", gettext(
                    "Cấu trúc quanh bước «%(step)s» (sự kiện biên, nhánh song song) đã thay đổi; trạng thái quy trình "
                    "của hồ sơ không ánh xạ được sang phiên bản mới.", step=host), host))
                continue
            if state & (_FRONTIER | _TaskState.ERROR):
                obstacles.append(Obstacle("current_step_removed", gettext(
                    "Bước hiện tại «%(step)s» không còn trong phiên bản mới.", step=_title(spec)), _title(spec)))
            else:  # completed, or cancelled with its branch: the document could not name its element
                obstacles.append(Obstacle("past_step_removed", gettext(
                    "Bước đã qua «%(step)s» không còn trong phiên bản mới; hồ sơ không thể ghi lại lịch sử xử lý "
                    "trên sơ đồ mới.", step=_title(spec)), _title(spec)))
            continue
        if state & (_FRONTIER | _TaskState.ERROR) and _typename(target) != _typename(spec):
            obstacles.append(Obstacle("current_step_changed_kind", gettext(
                "Bước hiện tại «%(step)s» đổi loại phần tử trong phiên bản mới (%(old)s → %(new)s).",
                step=_title(spec), old=_typename(spec), new=_typename(target)), _title(spec)))
            continue
        if state & (_FRONTIER | _TaskState.ERROR) and target.name != spec.name:
            moved[spec.name] = target.name
        task.task_spec = target
        task.__dict__.pop("_motcua_described", None)  # the title and properties come from the new spec
    if inner and not obstacles:
        obstacles.append(inner[0])


def _repredict(workflow: Any) -> None:
    """Drop what the engine predicted beyond the tasks the workflow waits on, and predict it from the new spec."""
    for task in [t for t in workflow.tasks.values() if t._state & _FRONTIER]:
        if task.id not in workflow.tasks:
            continue
        for child in [c for c in task.children if c._state & _UNSTARTED]:
            workflow._remove_task(child.id)
        task.task_spec._predict(task, mask=_TaskState.PREDICTED_MASK | _TaskState.FUTURE | task._state)
    workflow.__dict__.pop(_LOADED, None)  # every entry is written afresh: spec names may have changed


def move(document: Mapping[str, Any], old: SpecBundle, new: SpecBundle) -> Landing:
    """The workflow of `document` (saved on `old`) moved to `new` and run until it waits, or the obstacles.

    Nothing is saved: the caller saves `landing.run` (a dry run drops it)."""
    landing = Landing()
    try:
        run = WorkflowRun.load(document, old)
    except Exception as exc:
        landing.obstacles.append(Obstacle("state_unmapped", gettext(
            "Không đọc được trạng thái quy trình của hồ sơ: %(reason)s", reason=f"{type(exc).__name__}")))
        return landing
    wf = run._wf
    try:
        top = _diff(wf.spec, new.spec)
        _align(wf, top, new.spec, landing.obstacles, landing.moved)
        for subprocess in wf.subprocesses.values():
            target = new.subprocess_specs.get(subprocess.spec.name)
            if target is None:
                landing.obstacles.append(Obstacle("subprocess_removed", gettext(
                    "Quy trình con «%(process)s» không còn trong phiên bản mới.", process=subprocess.spec.name),
                    subprocess.spec.name))
                continue
            _align(subprocess, _diff(subprocess.spec, target), target, landing.obstacles,
                   landing.moved)
    except Exception as exc:  # the diff itself failed on this pair of diagrams
        landing.obstacles.append(Obstacle("state_unmapped", gettext(
            "Không thể đối chiếu trạng thái quy trình của hồ sơ với phiên bản mới (%(reason)s).",
            reason=type(exc).__name__)))
        return landing
    if landing.obstacles:
        return landing
    try:
        wf.spec, wf.subprocess_specs = new.spec, new.subprocess_specs
        for subprocess in wf.subprocesses.values():
            subprocess.spec = new.subprocess_specs[subprocess.spec.name]
            subprocess.subprocess_specs = new.subprocess_specs
            _repredict(subprocess)
        _repredict(wf)
        # Written and loaded again on the new bundle: what is saved is exactly what the next step loads.
        moved_document = json.loads(json.dumps(run.document()))
        moved_run = WorkflowRun.load(moved_document, new)
    except Exception as exc:
        landing.obstacles.append(Obstacle("state_unmapped", gettext(
            "Trạng thái quy trình của hồ sơ không chuyển được sang phiên bản mới (%(reason)s).",
            reason=type(exc).__name__)))
        return landing
    failed = moved_run.errored_tasks()
    try:
        landing.step = moved_run.retry() if failed else moved_run.fire_timers()
    except EngineError as exc:
        landing.obstacles.append(Obstacle("engine_error", gettext(
            "Trên phiên bản mới, quy trình vẫn gặp lỗi: %(reason)s", reason=exc.message),
            exc.task.title if exc.task else ""))
        return landing
    landing.run = moved_run
    landing.repaired = bool(failed)
    return landing
