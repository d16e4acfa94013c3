"""Load → step → save: the only place a workflow runs.

A deployed procedure version is parsed once per process and cached by its content hash. A dossier's
workflow lives as ONE serialized document; every request loads it, runs the engine until it waits,
and hands back the new document plus what the projections need (ready user tasks, end events reached).
A save writes only what changed since the run was loaded or last saved (the other task entries, and their JSON
text, are reused), and a run that is exactly its last document may be kept alive for the next step of its dossier
instead of a reload (app.engine.live, app.dossiers.workflow_runs).

Two traps of SpiffWorkflow 3.2 are guarded here:
- tasks deeper than 1000 in the task tree are invisible to `get_tasks()` and `do_engine_steps()`, so a
  loop of a few hundred rounds makes `is_completed()` true with no end event reached. Every task run is
  measured; past MAX_TASK_DEPTH (well before 1000) the run stops with LoopLimitExceeded and nothing runs
  further. A workflow counts as completed only when an end event of the top-level process completed and
  no task anywhere in the document is unfinished;
- a failing task goes to ERROR and stays there. An EngineError raised after the workflow changed carries
  the state to save (`step`), so the caller keeps the person's work and reports an incident; `retry()`
  runs the failed tasks again once the cause is repaired.
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import ModuleType
from typing import Any
from uuid import UUID

from flask_babel import gettext
from SpiffWorkflow.bpmn.serializer.default.event_definition import (
    MultipleEventDefinitionConverter as _MultipleEventConverter,
)
from SpiffWorkflow.bpmn.serializer.default.task_spec import EventConverter as _EventConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter as _WorkflowConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import TaskConverter as _TaskConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer as _Serializer
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import ErrorEventDefinition as _ErrorEvent
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition as _MessageDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition as _NoneEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition as _TimerDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent as _EndEvent
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent as _CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent as _StartEvent
from SpiffWorkflow.bpmn.util import BpmnEvent as _BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow as _BpmnWorkflow
from SpiffWorkflow.exceptions import TaskNotFoundException as _TaskNotFound
from SpiffWorkflow.exceptions import WorkflowException as _WorkflowException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG as _SPIFF_CONFIG
from SpiffWorkflow.spiff.serializer.task_spec import ServiceTaskConverter as _ServiceTaskConverter
from SpiffWorkflow.spiff.serializer.task_spec import SpiffMultiInstanceConverter as _MultiInstanceConverter
from SpiffWorkflow.task import Task as _Task
from SpiffWorkflow.util.deep_merge import DeepMerge as _DeepMerge
from SpiffWorkflow.util.task import TaskState as _TaskState

from app.clock import now_utc
from app.engine.analysis import ASSIGNED_AGENCY_PROPERTY, build_parser_for
from app.engine.cache import HashCache
from app.engine.environment import SafeScriptEngine
from app.engine.multi import SUBMITTED_KEY, MotcuaParallelMultiInstance, MotcuaSequentialMultiInstance, is_instance
from app.engine.service import PARAMS_KEY, DeferredServiceTask
from app.engine.timers import (
    FiredTimer,
    GatewayEvents,
    MotcuaEventBasedGateway,
    MovedTimer,
    Mover,
    cycle_marks,
    cycles_fired,
    fired_by,
    move_armed_timers,
)
from app.engine.timers import next_due_at as _next_due_at

_log = logging.getLogger(__name__)


class _PrunedTaskConverter(_TaskConverter):
    """SpiffWorkflow's task converter, keeping the data only of the tasks the workflow can still read it from.

    A task that completed and whose children all completed too is history: no engine step reads its data again
    (a task inherits from its parent when it becomes ready, a join from the parents of its cancelled siblings,
    a retry from the failed task itself), and the dossier's own history is kept by the platform. Its entry keeps
    its place in the tree with empty data. A task whose parent's data is not kept stores its own data whole;
    the others store SpiffWorkflow's delta against their parent. Either way the document is one SpiffWorkflow
    itself reads; without this, a growing list (a multi-instance task's outputs) was stored again in the delta
    of every completed instance, and a sequential task's document grew with the square of its items.

    A save reuses the entry a task was loaded from or last written with when it would write the same again
    (`_reusable`), so a step of a long run writes what changed rather than the whole tree; and a task it leaves
    as history drops its data in memory too, so that the run goes on exactly as a reload of its document would.
    """

    def _entry(self, task: Any, known: tuple[dict[str, Any], list[Any]] | None, keepers: set[Any]) -> dict[str, Any]:
        """The task's entry; `known` is the one it was loaded from or last written with, `keepers` the tasks that
        keep their data."""
        entry = known[0] if known is not None else None
        if task not in keepers:  # history
            if known is not None and _unchanged(known[0], known[1], task) and not known[0]["data"] \
                    and not known[0].get("delta"):
                return known[0]
            return self._new_entry(task, known, task.parent, {}, {})
        parent = task.parent
        workflow = task.workflow
        if parent is None or parent not in keepers:
            # Its parent's data is not kept: its own whole. A finished task whose children run on shares nested
            # values with them (SpiffWorkflow copies shallowly), so it is compared, as the library's deltas compare.
            if (known is not None and task._state == _TaskState.COMPLETED and not known[0].get("delta")
                    and _unchanged(known[0], known[1], task) and known[0]["data"] == task.data):
                return known[0]
            return self._new_entry(task, known, parent, _plain(task.data, workflow), {})
        # A delta against its parent.
        deletions = _DeepMerge.get_deleted_keys(parent.data, task.data)
        updates = _DeepMerge.get_updated_keys(parent.data, task.data)
        if known is not None:
            delta = entry.get("delta") if entry is not None else None
            if (delta and entry is not None and not entry["data"] and _unchanged(entry, known[1], task)
                    and deletions == delta.get("deletions", []) and _same(delta.get("updates", {}), updates)):
                return known[0]
        return self._new_entry(task, known, parent, {}, {"updates": _plain(updates, workflow), "deletions": deletions})

    def _new_entry(self, task: Any, known: tuple[dict[str, Any], list[Any]] | None, parent: Any, data: Any,
                   delta: dict[str, Any]) -> dict[str, Any]:
        entry = known[0] if known is not None else None
        return {
            # A task's id and parent never change: the loaded entry has them as text already.
            "id": entry["id"] if entry is not None else str(task.id),
            "parent": (entry["parent"] if entry is not None else str(task._parent)) if parent is not None else None,
            "children": _children_ids(task, known),
            "last_state_change": task.last_state_change,
            "state": task.state,
            "task_spec": task.task_spec.name,
            "triggered": task.triggered,
            "internal_data": _plain(task.internal_data, task.workflow),
            "data": data,
            "delta": delta,
            "typename": self.typename,
        }

    def to_dict(self, task: Any) -> dict[str, Any]:
        """The task's entry, remembered for the next save; a task left as history drops its data here, as a reload
        of the document would."""
        workflow = task.workflow
        entry = self._entry(task, (workflow.__dict__.get(_LOADED) or {}).get(task), _keepers(workflow))
        workflow.__dict__.setdefault(_WRITTEN, {})[task] = (entry, list(task._children))
        if not entry["data"] and not entry.get("delta") and task.data:
            task.data = {}
        return entry

    def from_dict(self, dct: dict[str, Any], workflow: Any, ids: Mapping[str, UUID] | None = None) -> Any:
        """As SpiffWorkflow restores a task, with the data copied by `_unplain` and the ids parsed once (`ids`)."""
        ids = ids or {}
        task_spec = workflow.spec.task_specs.get(dct["task_spec"])
        task = self.target_class(workflow, task_spec, state=dct["state"], id=ids.get(dct["id"]) or UUID(dct["id"]))
        parent = dct["parent"]
        task._parent = (ids.get(parent) or UUID(parent)) if parent is not None else None
        task._children = [ids.get(child) or UUID(child) for child in dct["children"]]
        task.last_state_change = dct["last_state_change"]
        task.triggered = dct["triggered"]
        task.internal_data = _unplain(dct["internal_data"])
        if isinstance(task_spec, _CatchingEvent) and task.has_state(_TaskState.WAITING):
            task.workflow.top_workflow.event_manager.add_task(task)
        delta = dct.get("delta")
        parent = task.parent
        if delta and parent is not None:
            data = _DeepMerge.merge({}, parent.data)
            data.update(_unplain(delta.get("updates", {})))
            for key in delta.get("deletions", {}):
                data.pop(key, None)
        else:
            data = _unplain(dct["data"])
        task.data = data
        workflow.__dict__.setdefault(_LOADED, {})[task] = (dct, list(task._children))
        return task


_PRIMITIVES = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any, workflow: Any = None) -> Any:
    """`registry.convert` for task data, fast on what JSON holds already: a copy, with the registry's own
    conversions (datetime, UUID, …) for anything else and callables dropped from dicts as it drops them.

    With `workflow`, a value that does not come back the same from its JSON (a tuple, a set, a key that is not
    text, a dropped callable, an unregistered object) marks that workflow's run as inexact: only a run equal to
    what its document reloads to may be kept alive between requests."""
    kind = type(value)
    if kind in _PRIMITIVES:
        return value
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str and workflow is not None:
                _mark_inexact(workflow)
            if type(item) in _PRIMITIVES:
                out[key] = item
            elif type(item) is dict or type(item) is list:
                out[key] = _plain(item, workflow)
            elif not (callable(item) or isinstance(item, ModuleType)):
                out[key] = _converted(item, workflow)
            elif workflow is not None:
                _mark_inexact(workflow)
        return out
    if kind is list:
        return [item if type(item) in _PRIMITIVES else _plain(item, workflow) for item in value]
    return _converted(value, workflow)


def _converted(value: Any, workflow: Any) -> Any:
    out = _REGISTRY.convert(value)
    if workflow is not None and not (type(out) is dict and "typename" in out):
        _mark_inexact(workflow)
    return out


def _mark_inexact(workflow: Any) -> None:
    workflow.top_workflow.__dict__[_INEXACT] = True


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON sees it: same types all the way down (1, 1.0 and True are three different values).

    Python's own comparison first, then the types of the values side by side, both in C; a level further down
    only where a value is itself a dict or a list."""
    kind = type(a)
    if kind is not type(b) or a != b:
        return False
    if kind is dict:
        types = list(map(type, a.values()))
        if types != list(map(type, map(b.__getitem__, a))):
            return False
        if _PRIMITIVES.issuperset(types):
            return True
        return all(_same(x, b[key]) for key, x in a.items() if type(x) not in _PRIMITIVES)
    if kind is list:
        types = list(map(type, a))
        if types != list(map(type, b)):
            return False
        if _PRIMITIVES.issuperset(types):
            return True
        return all(_same(x, y) for x, y in zip(a, b, strict=True) if type(x) not in _PRIMITIVES)
    return kind in _PRIMITIVES


def _children_ids(task: Any, known: tuple[dict[str, Any], list[Any]] | None) -> list[str]:
    """The task's children as text, reusing the text of those it had when last loaded or written."""
    children = task._children
    if not children:
        return []
    if known is not None:
        before = known[1]
        if before and len(before) <= len(children) and children[:len(before)] == before:
            return [*known[0]["children"], *(str(child) for child in children[len(before):])]
    return [str(child) for child in children]


def _unchanged(entry: Mapping[str, Any], children: list[Any], task: Any) -> bool:
    """The task's own fields are still those of its entry (its data is checked by the caller)."""
    if entry["state"] != task._state or entry["last_state_change"] != task.last_state_change \
            or entry["triggered"] != task.triggered or children != task._children:
        return False
    internal = task.internal_data
    if not internal:
        return not entry["internal_data"] and type(internal) is dict
    return _same(entry["internal_data"], internal)


def _unplain(value: Any) -> Any:
    """`registry.restore` for task data, fast on plain JSON: a copy, typed values restored by the registry."""
    kind = type(value)
    if kind is dict:
        if "typename" in value:
            return _REGISTRY.restore(value)
        return {key: item if type(item) in _PRIMITIVES else _unplain(item) for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _PRIMITIVES else _unplain(item) for item in value]
    return _REGISTRY.restore(value)


# The task entries a workflow was restored from or last written, by task id, with the task's children then:
# the ones still true are saved again as they are.
_LOADED = "_motcua_loaded_entries"
# The same, being collected by the save under way.
_WRITTEN = "_motcua_written_entries"
# The tasks that keep their data (see `_keepers`), by workflow, for the length of one save.
_KEEPERS = "_motcua_keepers"
# Set on a top workflow holding a value its document does not restore exactly (see `_plain`).
_INEXACT = "_motcua_inexact"


@contextmanager
def _no_collection() -> Iterator[None]:
    """No cyclic garbage collection while a document is restored or written.

    Both allocate thousands of objects that stay alive (or are plain data), so the collections they set off
    find nothing to free, yet each one walks every object of the process: with a large document most of a
    load's time went to them. Only the thread that turned collection off turns it back on.
    """
    enabled = gc.isenabled()
    if enabled:
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _keepers(workflow: Any) -> set[Any]:
    """The tasks of a workflow whose data is saved, computed once per save: every task not completed, and every
    completed one with a child that is not (the others are history)."""
    keepers: set[Any] | None = workflow.__dict__.get(_KEEPERS)
    if keepers is None:
        tasks = workflow.tasks
        keepers = {task for task in tasks.values() if task._state != _TaskState.COMPLETED}
        for task in list(keepers):  # … and the finished tasks one of whose children is not
            parent = tasks.get(task._parent) if task._parent is not None else None
            if parent is not None:
                keepers.add(parent)
        workflow.__dict__[_KEEPERS] = keepers
    return keepers


def _tasks_document(workflow: Any) -> dict[str, Any]:
    """A workflow's task entries by id, the ids as the entries already hold them."""
    memo = workflow.__dict__.get(_LOADED) or {}
    keepers = _keepers(workflow)
    written = {}
    out = {}
    make = _TASKS._entry
    for task in workflow.tasks.values():
        known = memo.get(task)
        entry = make(task, known, keepers)
        written[task] = known if known is not None and entry is known[0] else (entry, list(task._children))
        if task not in keepers and task.data:
            task.data = {}  # history: as a reload of the document has it
        out[entry["id"]] = entry
    workflow.__dict__[_WRITTEN] = written
    return out


class WorkflowDocument(dict[str, Any]):
    """A workflow's document, which also writes its own JSON text (`__json_text__`, what the database driver is
    given to write): exactly `json.dumps(document)`, with the text of every task entry the run wrote before
    reused instead of encoded again. Entries are never changed once written, so the same entry has the same text.
    """

    __slots__ = ("_texts",)
    _texts: dict[int, tuple[dict[str, Any], str]]

    def __json_text__(self) -> str:
        texts = getattr(self, "_texts", None)
        if texts is None:
            return json.dumps(self)
        if not texts:
            # A run's first document (most runs write one and are gone): one json.dumps is cheaper than an entry at
            # a time. Only a run written again, which is kept alive, collects its entries' text from then on.
            texts[_FIRST] = ({}, "")
            return json.dumps(self)
        fresh: dict[int, tuple[dict[str, Any], str]] = {}
        text = _document_text(self, texts, fresh)
        texts.clear()  # only the entries of the newest document are worth keeping
        texts.update(fresh)
        return text


_FIRST = -1  # in a run's texts: its first document was written whole (no entry has a negative id())


def _document_text(document: Mapping[str, Any], texts: Mapping[int, tuple[dict[str, Any], str]],
                   fresh: dict[int, tuple[dict[str, Any], str]]) -> str:
    """`json.dumps(document)`, task entries' text taken from `texts` (by entry identity) and collected in `fresh`."""
    parts = []
    for key, value in document.items():
        if key == "tasks" and type(value) is dict:
            pieces = []
            for task_id, entry in value.items():
                known = texts.get(id(entry))
                if known is None or known[0] is not entry:
                    known = (entry, f"{json.dumps(task_id)}: {json.dumps(entry)}")
                fresh[id(entry)] = known
                pieces.append(known[1])
            text = "{" + ", ".join(pieces) + "}"
        elif key == "subprocesses" and type(value) is dict:
            text = "{" + ", ".join(f"{json.dumps(sub_id)}: {_document_text(sub, texts, fresh)}"
                                   for sub_id, sub in value.items()) + "}"
        else:
            text = json.dumps(value)
        parts.append(f"{json.dumps(key)}: {text}")
    return "{" + ", ".join(parts) + "}"


class _SpecReusingConverter(_WorkflowConverter):
    """Workflow documents without their specs: the deployed version's parsed specs are used as they are.

    Restoring the specs from their serialized form on every load was most of a small workflow's load time;
    the spec objects are never changed by a run (SpiffWorkflow starts every workflow of a version on the same
    ones), so one parse per version and process serves every dossier.
    """

    def document(self, workflow: Any, with_specs: bool) -> dict[str, Any]:
        registry = self.registry
        for saving in (workflow, *workflow.subprocesses.values()):
            saving.__dict__.pop(_KEEPERS, None)
            saving.__dict__.pop(_WRITTEN, None)
            if saving.data:
                _plain(saving.data, saving)  # only to mark the run inexact if its data does not come back the same
        dct: dict[str, Any] = {
            "data": registry.convert(workflow.data),
            "correlations": registry.convert(workflow.correlations),
            "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
            "success": workflow.success,
            "completed": workflow.completed,
            "tasks": _tasks_document(workflow),
            "root": str(workflow.task_tree.id),
        }
        if with_specs:
            dct["spec"] = registry.convert(workflow.spec)
            dct["subprocess_specs"] = self.mapping_to_dict(workflow.subprocess_specs)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        for saved in (workflow, *workflow.subprocesses.values()):
            saved.__dict__.pop(_KEEPERS, None)
            saved.__dict__[_LOADED] = saved.__dict__.pop(_WRITTEN, {})
        dct["bpmn_events"] = registry.convert(workflow.bpmn_events)
        dct["typename"] = self.typename
        dct[_Serializer.VERSION_KEY] = _SERIALIZER.VERSION
        return dct

    def restore(self, dct: dict[str, Any], bundle: SpecBundle) -> Any:
        """A workflow from a document of the current serializer version, on the bundle's spec objects."""
        workflow = self.target_class(bundle.spec, bundle.subprocess_specs, deserializing=True)
        ids = {key: UUID(key) for key in dct["tasks"]}
        workflow.tasks = {ids[key]: _TASKS.from_dict(entry, workflow, ids) for key, entry in dct["tasks"].items()}
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.get("bpmn_events", []))
        return workflow


_REGISTRY = _Serializer.configure({**_SPIFF_CONFIG, DeferredServiceTask: _ServiceTaskConverter,
                                   _Task: _PrunedTaskConverter, MotcuaEventBasedGateway: _EventConverter,
                                   GatewayEvents: _MultipleEventConverter,
                                   MotcuaParallelMultiInstance: _MultiInstanceConverter,
                                   MotcuaSequentialMultiInstance: _MultiInstanceConverter})
_SERIALIZER = _Serializer(_REGISTRY)
# Registered again, to be called directly (the registry's conversions go through the same objects).
_TASKS = _PrunedTaskConverter(_Task, _REGISTRY)
_WORKFLOWS = _SpecReusingConverter(_BpmnWorkflow, _REGISTRY)
_SCRIPT_ENGINE = SafeScriptEngine()
_CACHE_SIZE = 256
_SPEC_KEYS = ("spec", "subprocess_specs")
# SpiffWorkflow 3.2 stops looking 1000 levels down the task tree; stop loops well before that.
MAX_TASK_DEPTH = 400
# Where SpiffWorkflow's own task iterator stops looking (its default max_depth).
_ITERATOR_DEPTH = 1000
# Rounds of "fire what is due, run what is ready" in one step: a cycle timer fires one occurrence a round.
TIMER_ROUNDS = 50
# A timer task whose value failed to evaluate when it was armed (internal data; see `_failure` and `retry`).
_ARMING_FAILED = "motcua_arming_failed"
_UNARMED = (_TaskState.FUTURE, _TaskState.LIKELY, _TaskState.MAYBE)


class EngineError(Exception):
    """A workflow could not move on: a condition failed to evaluate, no path was open, a loop ran too long.

    `code` is stable (the expression's own code when an expression failed); `message` is Vietnamese, for the
    officer and the operator; `detail` is the engine's own text, for the operator. `task` is the engine task
    that failed. `step` is what the workflow looks like after the failure, to be saved and projected (the
    person's own step is kept): None when the workflow did not change at all.
    """

    code = "workflow_error"

    def __init__(self, message: str, detail: str = "", *, code: str | None = None, task: ReadyTask | None = None,
                 step: StepResult | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        if code:
            self.code = code
        self.task = task
        self.step = step


class MessageNotAwaited(Exception):
    """No step of the workflow waits for this message now."""


class LoopLimitExceeded(EngineError):
    """The task tree grew past MAX_TASK_DEPTH: a loop ran too many rounds. The workflow is stopped there."""

    code = "workflow_loop_limit"


class TaskNotReady(Exception):
    """The task does not exist in this workflow or is not waiting for a person."""


@dataclass(frozen=True)
class SpecBundle:
    content_hash: str
    process_id: str
    spec: Any
    subprocess_specs: dict[str, Any]
    # The specs as the serializer writes them, kept once per version instead of in every dossier's document.
    specs_json: str = ""


@dataclass(frozen=True)
class ReadyTask:
    id: str
    spec_name: str
    title: str
    lane: str | None
    properties: dict[str, str]
    # The agency (its identifier code) the step goes to when its `assignedAgency` property names one (a
    # multi-instance step sent to several agencies, one per item); None: the procedure's agency.
    agency: str | None = None


@dataclass(frozen=True)
class ServiceCall:
    """A service task waiting for its connector call: what to call, with what, and where the result goes."""

    id: str
    spec_name: str
    title: str
    operation: str
    params: dict[str, Any]
    result_variable: str


@dataclass
class StepResult:
    """What one engine step changed, for the projections."""

    ready: list[ReadyTask]
    completed: bool
    end_events: list[ReadyTask] = field(default_factory=list)
    service_calls: list[ServiceCall] = field(default_factory=list)
    # The timers that fired in the step (whatever caused it), for the dossier's history.
    timers_fired: list[FiredTimer] = field(default_factory=list)


_bundles: HashCache[SpecBundle] = HashCache(_CACHE_SIZE)


def get_bundle(content_hash: str, bpmn_files: Mapping[str, str | bytes] | Callable[[], Mapping[str, str | bytes]],
               process_id: str) -> SpecBundle:
    """The parsed spec of a deployed version; parsed once per process, keyed by content hash.

    `bpmn_files` may be a callable so the (large) files are only read from the database on a cache miss.
    """
    return _bundles.get_or_build(f"{content_hash}:{process_id}",
                                 lambda: _build_bundle(content_hash, bpmn_files, process_id))


def _build_bundle(content_hash: str,
                  bpmn_files: Mapping[str, str | bytes] | Callable[[], Mapping[str, str | bytes]],
                  process_id: str) -> SpecBundle:
    source = bpmn_files() if callable(bpmn_files) else bpmn_files
    files = {name: text.encode() if isinstance(text, str) else text for name, text in source.items()}
    try:
        parser = build_parser_for(files)
        spec, subprocess_specs = specs_of(parser, process_id)
        _start_on_schedule(spec)
        specs = _SERIALIZER.to_dict(_BpmnWorkflow(spec, subprocess_specs, script_engine=_SCRIPT_ENGINE))
    except Exception as exc:  # e.g. a start event named like the engine's own root task ("Start")
        raise EngineError(gettext("Sơ đồ quy trình của thủ tục không chạy được trên bộ máy quy trình; hồ sơ chưa "
                                  "được xử lý. Người thiết kế cần sửa và triển khai lại thủ tục."),
                          f"{type(exc).__name__}: {exc}",
                          code="workflow_spec_invalid") from exc
    return SpecBundle(
        content_hash=content_hash,
        process_id=process_id,
        spec=spec,
        subprocess_specs=subprocess_specs,
        specs_json=json.dumps({key: specs[key] for key in _SPEC_KEYS}),
    )


def specs_of(parser: Any, process_id: str) -> tuple[Any, dict[str, Any]]:
    """The spec that runs and the specs it calls. `process_id` names a process, or a collaboration: its
    participants' processes then run in one workflow, the ones whose start event waits for a message started when
    another participant sends it (SpiffWorkflow's collaboration spec)."""
    if process_id in parser.collaborations:
        spec, subprocess_specs = parser.get_collaboration(process_id)
        return spec, dict(subprocess_specs)
    return parser.get_spec(process_id), parser.get_subprocess_specs(process_id)


def _start_on_schedule(spec: Any) -> None:
    """A timer start event of the process (a periodic procedure) becomes a none start: the platform's scheduler
    creates the workflow when the occurrence has come (app.engine.schedule, app.dossiers.periodic), so the engine
    must not wait for it again (a cycle would even spawn a branch per occurrence inside one workflow)."""
    for task_spec in spec.task_specs.values():
        if isinstance(task_spec, _StartEvent) and isinstance(task_spec.event_definition, _TimerDefinition):
            task_spec.event_definition = _NoneEventDefinition()


def _service_call(t: Any) -> ServiceCall:
    return ServiceCall(id=str(t.id), spec_name=t.task_spec.name,
                       title=getattr(t.task_spec, "bpmn_name", None) or t.task_spec.name,
                       operation=str(t.task_spec.operation_name),
                       params=dict(t.internal_data.get(PARAMS_KEY) or {}),
                       result_variable=str(t.task_spec.result_variable))


def _describe(task: Any) -> ReadyTask:
    """What the projections show of a task: its id and its spec's, which never change (kept on the task)."""
    described: ReadyTask | None = task.__dict__.get(_DESCRIBED)
    if described is None:
        described = task.__dict__[_DESCRIBED] = _description(task)
    return described


_DESCRIBED = "_motcua_described"
_ASSIGNED = "_motcua_assigned"


def _ready(task: Any) -> ReadyTask:
    """A waiting user task as the projections see it, with the agency its `assignedAgency` expression gives (evaluated
    once, on the task's own data: an instance of a multi-instance task has its item there)."""
    described = _describe(task)
    expression = described.properties.get(ASSIGNED_AGENCY_PROPERTY)
    if not expression:
        return described
    if _ASSIGNED not in task.__dict__:
        try:
            value = task.workflow.script_engine.evaluate(task, expression)
        except Exception:  # noqa: BLE001 - the procedure's own agency takes the step (see apply_step)
            _log.warning("assignedAgency of %s did not evaluate", described.spec_name, exc_info=True)
            value = None
        task.__dict__[_ASSIGNED] = value.strip() if isinstance(value, str) and value.strip() else None
    return replace(described, agency=task.__dict__[_ASSIGNED])


def _description(task: Any) -> ReadyTask:
    spec = task.task_spec
    props = dict((getattr(spec, "extensions", None) or {}).get("properties") or {})
    return ReadyTask(
        id=str(task.id),
        spec_name=spec.name,
        title=getattr(spec, "bpmn_name", None) or spec.name,
        lane=getattr(spec, "lane", None),
        properties=props,
    )


class WorkflowRun:
    """One dossier's workflow in memory for the length of a request."""

    def __init__(self, workflow: Any, max_depth: int | None = None) -> None:
        self._wf = workflow
        self.max_depth = max_depth or MAX_TASK_DEPTH
        # Steps taken, and how many of them the last document() wrote: a run may outlive its request only as
        # the very state its last document holds (see `matches_document`).
        self._changes = 0
        self._written = -1
        # The JSON text of the task entries last written, by entry (see WorkflowDocument).
        self._texts: dict[int, tuple[dict[str, Any], str]] = {}
        # The timers fired by the step under way (see `_advance`).
        self._timers: list[FiredTimer] = []

    @classmethod
    def start(cls, bundle: SpecBundle, data: Mapping[str, Any], *,
              max_depth: int | None = None) -> tuple[WorkflowRun, StepResult]:
        """A new workflow run until it waits. An EngineError with a `step` leaves `run` to be saved on the
        error: `WorkflowRun.of(error)`."""
        try:
            wf = _BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=_SCRIPT_ENGINE)
            wf.task_tree.data.update(json.loads(json.dumps(data)))
        except Exception as exc:  # a spec the engine cannot start (e.g. an id it reserves for itself)
            raise EngineError(gettext("Quy trình của thủ tục không khởi động được; hồ sơ chưa được tạo."), str(exc),
                              code="workflow_start_failed") from exc
        run = cls(wf, max_depth)
        run._changes += 1
        try:
            return run, run._advance()
        except EngineError as exc:
            exc.run = run  # type: ignore[attr-defined]
            raise

    @staticmethod
    def of(error: EngineError) -> WorkflowRun:
        """The run an EngineError raised by `start` left behind."""
        run: WorkflowRun = error.run  # type: ignore[attr-defined]
        return run

    @classmethod
    def load(cls, document: Mapping[str, Any], bundle: SpecBundle | None = None, *,
             max_depth: int | None = None) -> WorkflowRun:
        """Restore a workflow; a document saved without its specs takes them from the version's bundle.

        The document is not changed. One of the current serializer version is restored on the bundle's own
        spec objects; one saved with its specs, or by an older serializer, goes the whole SpiffWorkflow way
        (its specs restored, its format migrated) and is saved in the current format at the next step.
        """
        if is_compacted(document):
            raise ValueError("this document was compacted when its workflow finished: it can no longer run")
        full = dict(document)
        _parents_first(full)
        subprocesses = {key: dict(sub) for key, sub in (full.get("subprocesses") or {}).items()}
        for subprocess in subprocesses.values():
            _parents_first(subprocess)
        full["subprocesses"] = subprocesses
        if "spec" not in full and bundle is None:
            raise ValueError("this document was saved without its specs: pass the version's bundle")
        with _no_collection():
            if "spec" not in full and full.get(_Serializer.VERSION_KEY) == _SERIALIZER.VERSION and bundle is not None:
                wf = _WORKFLOWS.restore(full, bundle)
            else:
                if "spec" not in full and bundle is not None:
                    full.update(json.loads(bundle.specs_json))
                wf = _SERIALIZER.deserialize_json(json.dumps(full))
        wf.script_engine = _SCRIPT_ENGINE
        return cls(wf, max_depth)

    def document(self, *, with_specs: bool = False) -> dict[str, Any]:
        """The workflow's state, JSON-ready; without the specs (they belong to the deployed version) unless asked."""
        with _no_collection():
            document = WorkflowDocument(_WORKFLOWS.document(self._wf, with_specs))
        document._texts = self._texts
        self._written = self._changes
        return document

    def matches_document(self) -> bool:
        """Whether this run is exactly what its last `document()` reloads to: nothing ran since, and every value
        in it comes back the same from JSON. Only such a run may serve the next step instead of a reload."""
        return self._written == self._changes and not self._wf.__dict__.get(_INEXACT, False)

    def task_count(self) -> int:
        """How many tasks the run holds (what its memory grows with)."""
        return len(self._wf.tasks) + sum(len(sub.tasks) for sub in self._wf.subprocesses.values())

    def revive(self, max_depth: int | None = None) -> None:
        """Ready a kept run for a new request, with the same safety as a load: the safe script engine, the depth
        limit asked for."""
        self._wf.script_engine = _SCRIPT_ENGINE
        self.max_depth = max_depth or MAX_TASK_DEPTH

    def compact_document(self) -> dict[str, Any]:
        """The compact form of this finished workflow (see `compact`), without saving and reloading it first."""
        return _compact(self)

    def ready_user_tasks(self) -> list[ReadyTask]:
        return [_ready(t) for t, _ in self._walk() if t._state == _TaskState.READY and t.task_spec.manual]

    def task_data(self, task_id: str) -> dict[str, Any]:
        """A copy of one task's data (what a person working it sees, lookups included)."""
        data: dict[str, Any] = json.loads(json.dumps(self._task(task_id).data))
        return data

    def waiting_service_calls(self) -> list[ServiceCall]:
        return [
            _service_call(t)
            for t, _ in self._walk()
            if t._state == _TaskState.STARTED and isinstance(t.task_spec, DeferredServiceTask)
        ]

    def _walk(self) -> list[tuple[Any, int]]:
        """The tasks a search for ready or started tasks visits, in SpiffWorkflow's order, with their depth.

        The same tasks in the same order as `get_tasks(state=READY)` (or STARTED): depth first, a sub-process's
        tasks before the calling task's children, no search below a predicted task, nothing 1000 levels down;
        once per step instead of once per question (SpiffWorkflow's iterator costs a few microseconds a task,
        which a 300-instance task pays many times a step). The depth is the task's own (`task.depth`).
        """
        top = self._wf
        subprocesses = top.subprocesses
        found: list[tuple[Any, int]] = []
        stack: list[tuple[Any, int, int]] = [(top.task_tree, 0, 0)]
        while stack:
            task, depth, own = stack.pop()
            found.append((task, own))
            subprocess = subprocesses.get(task.id) if subprocesses else None
            if depth >= _ITERATOR_DEPTH or not (task._children or subprocess is not None):
                continue
            if task._state < _TaskState.FUTURE and subprocess is None:
                continue
            tasks = task.workflow.tasks
            stack.extend((tasks[child], depth + 1, own + 1) for child in reversed(task._children))
            if subprocess is not None:
                stack.append((subprocess.task_tree, depth + 1, 0))
        return found

    def finish_service(self, task_id: str, result: Any) -> StepResult:
        """Store a connector's result in the task's result variable, complete the task and move on."""
        self._changes += 1
        task = self._get_service(task_id)
        task.data[task.task_spec.result_variable] = json.loads(json.dumps(result))
        try:
            task.complete()
        except Exception as exc:
            raise self._failure(exc, []) from exc
        return self._advance()

    def fail_service(self, task_id: str, code: str, message: str) -> StepResult | None:
        """Throw a BPMN error for a failed call; the step taken if an error boundary event caught it, else None.

        A boundary event without an error code catches every failure; one with a code catches that code only.
        The error is put in the data as ``loi_dich_vu`` so the path it leads to can show or route on it.
        """
        self._changes += 1
        task = self._get_service(task_id)
        parent = task.parent
        catchers = [
            t for t in (parent.children if parent is not None else [])
            if t is not task and t.state == _TaskState.WAITING
            and isinstance(getattr(t.task_spec, "event_definition", None), _ErrorEvent)
            and t.task_spec.event_definition.code in (None, "", code)
        ]
        if not catchers:
            return None
        catcher = catchers[0]
        definition = _ErrorEvent(catcher.task_spec.event_definition.name, code=code)
        error = {"ma": code, "thong_bao": message, "thao_tac": str(task.task_spec.operation_name)}
        catcher.task_spec.catch(catcher, _BpmnEvent(definition, payload={"loi_dich_vu": error}))
        catcher.data["loi_dich_vu"] = error  # kept when the event inherits its parent's data
        catcher.task_spec._update(catcher)
        return self._advance()

    def _get_service(self, task_id: str) -> Any:
        task = self._task(task_id)
        if task.state != _TaskState.STARTED or not isinstance(task.task_spec, DeferredServiceTask):
            raise TaskNotReady(task_id)
        return task

    def _task(self, task_id: str) -> Any:
        """The task with this id, or TaskNotReady for an id that is malformed or not in this workflow."""
        try:
            task = self._wf.get_task_from_id(UUID(task_id))
        except (ValueError, KeyError, TypeError, _TaskNotFound) as exc:  # not found: e.g. dropped by a reset
            raise TaskNotReady(task_id) from exc
        if task is None:
            raise TaskNotReady(task_id)
        return task

    def _all_tasks(self) -> list[Any]:
        """Every task of the document, top-level process and sub-processes, however deep (no iterator limit)."""
        tasks = list(self._wf.tasks.values())
        for subprocess in self._wf.subprocesses.values():
            tasks.extend(subprocess.tasks.values())
        return tasks

    def is_completed(self) -> bool:
        """Finished for real: an end event of the top-level process completed and no task is left unfinished.

        `BpmnWorkflow.is_completed()` alone answers True when the unfinished tasks are more than 1000 levels
        down, where its iterator stops looking.
        """
        if not self._wf.is_completed():
            return False
        ended = any(isinstance(t.task_spec, _EndEvent) and t.state == _TaskState.COMPLETED
                    for t in self._wf.tasks.values())
        return ended and all(t.has_state(_TaskState.FINISHED_MASK) for t in self._all_tasks())

    def complete(self, task_id: str, data: Mapping[str, Any]) -> StepResult:
        """Complete a person's task and move on. Timers that came due before this step fire first, with what follows
        them (`_advance`'s `first`): a boundary timer of this very task that is due is not cancelled by its
        completion, whether or not the timer host came by since (an escalation of a step done late is recorded; an
        interrupting one has taken the task away: TaskNotReady)."""
        self._changes += 1
        task = self._get_ready(task_id)

        def act() -> None:
            if task._state != _TaskState.READY:
                raise TaskNotReady(task_id)
            task.data.update(json.loads(json.dumps(data)))
            if is_instance(task):  # what its multi-instance task collects of it (app.engine.multi)
                task.internal_data[SUBMITTED_KEY] = sorted(data)
            task.run()

        return self._advance(first=act)

    def errored_tasks(self) -> list[ReadyTask]:
        return [_describe(t) for t in self._all_tasks() if t.state == _TaskState.ERROR]

    def retry(self, repair: Mapping[str, Any] | None = None) -> StepResult:
        """Run the failed tasks again and move on; `repair` sets values in their data first (an operator
        supplying what a condition needed).

        SpiffWorkflow leaves a failed task in ERROR and never retries it: reset it (its own data kept) and run
        it again; a user task that failed on completion is completed again with what the person entered.
        """
        self._changes += 1
        for task in [t for t in self._all_tasks() if t.state == _TaskState.ERROR]:
            if task.internal_data.pop(_ARMING_FAILED, None):  # a timer that failed to arm: arm it again
                task.data.update(json.loads(json.dumps(repair or {})))
                task._set_state(_TaskState.FUTURE)
                try:
                    task.task_spec._update(task)
                except Exception as exc:
                    raise self._failure(exc, []) from exc
                continue
            data = json.loads(json.dumps({**task.data, **(repair or {})}))
            self._wf.reset_from_task_id(task.id, data=data)
            if task.state == _TaskState.READY and task.task_spec.manual:
                try:
                    task.run()
                except Exception as exc:
                    raise self._failure(exc, []) from exc
        return self._advance()

    def _get_ready(self, task_id: str) -> Any:
        task = self._task(task_id)
        if task.state != _TaskState.READY or not task.task_spec.manual:
            raise TaskNotReady(task_id)
        return task

    def _advance(self, first: Callable[[], None] | None = None) -> StepResult:
        """Run the engine until it waits; with `first`, the step's own action (a completion), run after the timers
        that were already due have fired (a timer due before a step fires before it)."""
        ended: list[ReadyTask] = []
        self._timers = []

        def on_done(task: Any) -> None:
            if isinstance(task.task_spec, _EndEvent):
                ended.append(_describe(task))
            timer = fired_by(task)
            if timer is not None:
                self._timers.append(timer)
            self._check_depth(task)

        try:
            # What the engine would run next, and then every task it runs, is measured.
            if first is not None:
                due = _next_due_at(self._wf)
                if due is not None and due <= now_utc():
                    self._run_engine(on_done)
                first()
            for task, depth in self._walk():
                if depth > self.max_depth and task._state == _TaskState.READY:
                    self._check_depth(task)
            self._run_engine(on_done)
        except LoopLimitExceeded as exc:
            exc.step = self._step(ended, halted=True)
            raise
        except (TaskNotReady, MessageNotAwaited):
            raise
        except Exception as exc:
            raise self._failure(exc, ended) from exc
        return self._step(ended)

    def _run_engine(self, on_done: Callable[[Any], None]) -> None:
        """`do_engine_steps()`, with the timers that are due fired first and run in the same step.

        SpiffWorkflow refreshes timers only at the END of `do_engine_steps()`, which leaves a timer that came due
        READY and not run until some later step. Here every round refreshes the timers (the platform's clock, see
        app.engine.timers) and then runs what is ready, until a round fires and runs nothing: a timer due when any
        step happens — an officer's, a service's answer, the scheduler's — is fired and run in it, and a cycle that
        missed several occurrences (the platform was down) catches up on them, one a round, TIMER_ROUNDS at most.
        """
        wf = self._wf
        for _ in range(TIMER_ROUNDS):
            cycles = cycle_marks(wf) if wf.event_manager.tasks else {}
            wf.refresh_timers()
            occurred = cycles_fired(cycles) if cycles else []
            self._timers.extend(occurred)
            # A cycle whose last occurrence passed is marked fired by this refresh and completes at the next one.
            spent = any(task.internal_data.get("event_fired") and task._state == _TaskState.WAITING
                        for task, _ in cycles.values())
            ran = False
            while wf._do_engine_steps(None, on_done):  # do_engine_steps() without its closing refresh_timers()
                ran = True
            if not ran and not occurred and not spent:
                return

    def fire_timers(self) -> StepResult:
        """Fire the timers that are due now and move on (the scheduler's step; any other step does it too)."""
        self._changes += 1
        return self._advance()

    def waiting_messages(self) -> list[str]:
        """The names of the messages the workflow waits for now (catch and boundary events, receive tasks, an
        event-based gateway's message events, a participant's message start)."""
        return sorted({str(d.name) for d in self._message_waits()})

    def _message_waits(self) -> list[Any]:
        """The message definitions of the catching tasks waiting now (an event-based gateway waits for several)."""
        found = []
        for task in self._wf.event_manager.tasks.values():
            definition = getattr(task.task_spec, "event_definition", None)
            for each in getattr(definition, "event_definitions", None) or [definition]:
                if isinstance(each, _MessageDefinition):
                    found.append(each)
        return found

    def deliver_message(self, name: str, payload: Any) -> StepResult:
        """A message from outside the workflow (another system, another agency's platform) for the waits named
        `name`: the catching step stores `payload` in its message variable and the workflow moves on.
        MessageNotAwaited when nothing waits for it now (the dossier is elsewhere, or got it already)."""
        matching = [d for d in self._message_waits() if d.name == name]
        if not matching:
            raise MessageNotAwaited(name)
        definition = matching[0]
        event = _BpmnEvent(type(definition)(name), json.loads(json.dumps(payload)))
        self._changes += 1

        def act() -> None:
            if self._wf.event_manager.catch(event, internal=False) == 0:
                raise MessageNotAwaited(name)

        return self._advance(act)

    def move_timers(self, move: Mover) -> list[MovedTimer]:
        """Move the due instants of the waiting timers by `move` (a clock pause; app.engine.timers says which
        timers and how they are told apart). Nothing runs or fires; the run is changed only if a timer moved."""
        moved = move_armed_timers(self._wf, move)
        if moved:
            self._changes += 1
        return moved

    def next_due_at(self) -> datetime | None:
        """When the earliest waiting timer of this workflow is due (None: nothing waits on time), read from the
        armed timers without evaluating anything."""
        return _next_due_at(self._wf)

    def _step(self, ended: list[ReadyTask], halted: bool = False) -> StepResult:
        """What the projections need now; a halted workflow offers nothing more to do."""
        timers = list(getattr(self, "_timers", ()))
        if halted:
            return StepResult(ready=[], completed=False, end_events=ended, timers_fired=timers)
        walked = self._walk()
        ready = [_ready(t) for t, _ in walked if t._state == _TaskState.READY and t.task_spec.manual]
        calls = [_service_call(t) for t, _ in walked
                 if t._state == _TaskState.STARTED and isinstance(t.task_spec, DeferredServiceTask)]
        return StepResult(ready=ready, completed=self.is_completed(), end_events=ended, service_calls=calls,
                          timers_fired=timers)

    def _check_depth(self, task: Any) -> None:
        """Stop before the task tree reaches the depth where SpiffWorkflow stops seeing tasks."""
        if task.depth <= self.max_depth:
            return
        where = _describe(task)
        raise LoopLimitExceeded(
            gettext("Quy trình đã lặp quá nhiều vòng (cây công việc sâu hơn %(depth)s bước) tại «%(step)s»; hệ "
                    "thống dừng quy trình để tránh báo hoàn thành sai. Cần sửa sơ đồ hoặc dữ liệu điều kiện lặp.",
                    depth=self.max_depth, step=where.title),
            f"task {where.spec_name} at depth {task.depth}",
            task=where,
        )

    def _failure(self, exc: BaseException, ended: list[ReadyTask]) -> EngineError:
        """An engine failure as an EngineError carrying the state to save (the failed task is in ERROR)."""
        if isinstance(exc, EngineError):
            return exc
        failed = getattr(exc, "task", None)
        if failed is not None:
            failed = failed.__dict__.get("_task", failed)  # a gateway's timer evaluated on a view of the gateway
            if isinstance(getattr(failed, "task_spec", None), _CatchingEvent) and failed._state in _UNARMED:
                # A timer whose value failed to evaluate while it was being armed: SpiffWorkflow leaves it FUTURE
                # with no task in ERROR, and the dossier would be stuck with nothing to retry. ERROR, so that the
                # incident's retry arms it again (`retry`).
                failed.internal_data[_ARMING_FAILED] = True
                failed._set_state(_TaskState.ERROR)
        if failed is None:
            failed = next((t for t in self._all_tasks() if t.state == _TaskState.ERROR), None)
        where = _describe(failed) if failed is not None else None
        code, message = _code_of(exc)
        if message is None:
            title = gettext(" tại bước «%(step)s»", step=where.title) if where else ""
            message = gettext("Bộ máy quy trình gặp lỗi%(where)s; lỗi đã được ghi lại để người vận hành xử lý.",
                              where=title)
        try:
            step: StepResult | None = self._step(ended)
        except Exception:  # the tree itself is unusable: nothing to save
            step = None
        detail = str(exc) if isinstance(exc, _WorkflowException) else f"{type(exc).__name__}: {exc}"
        return EngineError(message, detail, code=code, task=where, step=step)

    # ---------------------------------------------------------------- the desk (app.dossiers.desk)
    #
    # Returning a dossier to an earlier step, refusing it, or its withdrawal work on every procedure, whatever its
    # diagram models. They use SpiffWorkflow's own recovery facilities rather than editing the task tree:
    # - a return is `BpmnWorkflow.reset_from_task_id(earlier.id)` on a completed user task that is an ANCESTOR of
    #   the step now waiting (in SpiffWorkflow's tree a task's parent is the task it came from). The library drops
    #   the earlier task's descendants — the waiting step, and whatever ran since, sub-processes included — and
    #   makes it runnable again with the data its parent had (`data=None`), i.e. as it first became ready: the
    #   engine state is exactly that of the first time, so the process goes on from there by its own flows and
    #   conditions. A non-ancestor (a step on a parallel branch) is not offered: resetting it would not remove
    #   the step the officer is returning from. The reset task keeps its id (the platform's open-task projection is
    #   unique per id among OPEN tasks only, migration 0015k).
    # - a refusal or a withdrawal is `BpmnWorkflow.cancel()`: every unfinished task, sub-processes included, is
    #   CANCELLED; the workflow is then finished without an end event (nothing of it runs again).

    def earlier_user_steps(self, task_id: str) -> list[ReadyTask]:
        """The completed user tasks the waiting step `task_id` came through, nearest first (one per step)."""
        task = self._get_ready(task_id)
        found: list[ReadyTask] = []
        seen: set[str] = set()
        ancestor = task.parent
        while ancestor is not None:
            spec = ancestor.task_spec
            if getattr(spec, "manual", False) and ancestor._state == _TaskState.COMPLETED and spec.name not in seen:
                seen.add(spec.name)
                found.append(_describe(ancestor))
            ancestor = ancestor.parent
        return found

    def return_to(self, task_id: str, earlier_id: str) -> StepResult:
        """Send the waiting step `task_id` back to the earlier user task `earlier_id` (one of
        `earlier_user_steps`): SpiffWorkflow's reset (see above), then the engine runs until it waits."""
        task = self._get_ready(task_id)
        earlier = self._task(earlier_id)
        if earlier._state != _TaskState.COMPLETED or not getattr(earlier.task_spec, "manual", False) \
                or not task.is_descendant_of(earlier):
            raise TaskNotReady(earlier_id)
        self._changes += 1
        try:
            self._wf.reset_from_task_id(earlier.id)
        except Exception as exc:
            raise self._failure(exc, []) from exc
        return self._advance()

    def cancel(self) -> StepResult:
        """Cancel the whole workflow (SpiffWorkflow's `cancel`): nothing waits any more, nothing runs again."""
        self._changes += 1
        self._wf.cancel()
        return StepResult(ready=[], completed=False)


def task_data_in(document: Mapping[str, Any], task_id: str) -> dict[str, Any]:
    """One task's data read straight from a stored document, as `WorkflowRun.load(...).task_data(task_id)`
    gives it, without restoring the workflow (no specs, no task objects): for a page that only shows it.

    The task's entry and its parents' up to the first one stored whole are read. TaskNotReady for an id that is
    not in the document.
    """
    workflows = [document, *(document.get("subprocesses") or {}).values()]
    tasks = next((w["tasks"] for w in workflows if task_id in (w.get("tasks") or {})), None)
    if tasks is None:
        raise TaskNotReady(task_id)
    chain = []
    entry: Mapping[str, Any] | None = tasks[task_id]
    while entry is not None:
        chain.append(entry)
        parent = entry.get("parent")
        if not entry.get("delta") or parent is None or parent not in tasks:
            break
        entry = tasks[parent]
    data: dict[str, Any] = {}
    for index, entry in enumerate(reversed(chain)):
        delta = entry.get("delta")
        if index == 0 or not delta:
            data = _unplain(entry.get("data") or {})
        else:
            data = _DeepMerge.merge({}, data)
            data.update(_unplain(delta.get("updates", {})))
            for key in delta.get("deletions", []):
                data.pop(key, None)
    result: dict[str, Any] = json.loads(json.dumps(_plain(data)))
    return result


# ---------------------------------------------------------------- compaction of finished workflows

COMPACT_FORMAT = "motcua-compact/1"
_COMPACT_KEY = "compacted"


class NotFinished(ValueError):
    """Only a finished workflow can be compacted: an unfinished one still needs its whole task tree."""


def is_compacted(document: Mapping[str, Any] | None) -> bool:
    """Whether a stored workflow document is the compact form of a finished workflow."""
    return isinstance(document, Mapping) and document.get(_COMPACT_KEY) == COMPACT_FORMAT


def compact(document: Mapping[str, Any], bundle: SpecBundle | None = None) -> dict[str, Any]:
    """The compact form of a finished workflow's document: what it ended with, without its task tree.

    Kept: the workflow's final data, the end events reached and the steps people and services completed, in
    the order they completed (name, title, lane, properties, when), which is all a finished dossier's history
    and display can ask of its workflow. A compacted document no longer loads (`WorkflowRun.load` refuses it);
    compacting it again gives it back unchanged. NotFinished for a workflow that has not really finished.
    """
    if is_compacted(document):
        return dict(document)
    return WorkflowRun.load(document, bundle).compact_document()


def _compact(run: WorkflowRun) -> dict[str, Any]:
    if not run.is_completed():
        raise NotFinished("only a finished workflow can be compacted")
    wf = run._wf
    everything = run._all_tasks()
    done = sorted((t for t in everything if t._state == _TaskState.COMPLETED
                   and (t.task_spec.manual or isinstance(t.task_spec, (DeferredServiceTask, _EndEvent)))),
                  key=lambda t: t.last_state_change)

    def step(task: Any) -> dict[str, Any]:
        info = _describe(task)
        return {"task_spec": info.spec_name, "title": info.title, "lane": info.lane,
                "properties": info.properties, "at": task.last_state_change,
                "kind": "end" if isinstance(task.task_spec, _EndEvent) else
                "service" if isinstance(task.task_spec, DeferredServiceTask) else "user"}

    steps = [step(t) for t in done]
    return {
        _COMPACT_KEY: COMPACT_FORMAT,
        "completed": True,
        "data": _plain(wf.data),
        "end_events": [s for s in steps if s["kind"] == "end" and s["task_spec"] in wf.spec.task_specs],
        "steps": steps,
        "tasks_dropped": len(everything),
        _Serializer.VERSION_KEY: _SERIALIZER.VERSION,
    }


def _parents_first(document: dict[str, Any]) -> None:
    """Order a document's tasks so every parent comes before its children, in place.

    SpiffWorkflow 3.2 saves a task's data as a delta against its parent and rebuilds it in the order the
    tasks appear in the mapping. A JSONB column does not keep key order, so a child restored before its
    parent would silently lose its data: restore the tree order before deserializing.
    """
    tasks = document.get("tasks")
    if not isinstance(tasks, dict):
        return
    ordered: dict[str, Any] = {}
    pending = [tid for tid, t in tasks.items() if t.get("parent") not in tasks]
    while pending:
        tid = pending.pop(0)
        if tid in ordered or tid not in tasks:
            continue
        ordered[tid] = tasks[tid]
        pending.extend(tasks[tid].get("children") or [])
    for tid, task in tasks.items():  # anything unreachable keeps its place at the end
        ordered.setdefault(tid, task)
    document["tasks"] = ordered


def _code_of(exc: BaseException) -> tuple[str, str | None]:
    """The stable code and Vietnamese message our evaluator (or environment) raised, if that is the cause."""
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 20:
        message, code = getattr(cause, "message", None), getattr(cause, "code", None)
        if isinstance(message, str) and isinstance(code, str) and code:
            return code, message
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return "workflow_error", None
