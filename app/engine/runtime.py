"""Load → step → save: the only place a workflow runs.

A deployed procedure version is parsed once per process and cached by its content hash. A dossier's
workflow lives as ONE serialized document; every request loads it, runs the engine until it waits,
and hands back the new document plus what the projections need (ready user tasks, end events reached).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer as _Serializer
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import ErrorEventDefinition as _ErrorEvent
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent as _EndEvent
from SpiffWorkflow.bpmn.util import BpmnEvent as _BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow as _BpmnWorkflow
from SpiffWorkflow.exceptions import WorkflowException as _WorkflowException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG as _SPIFF_CONFIG
from SpiffWorkflow.spiff.serializer.task_spec import ServiceTaskConverter as _ServiceTaskConverter
from SpiffWorkflow.util.task import TaskState as _TaskState

from app.engine.analysis import build_parser_for
from app.engine.environment import SafeScriptEngine
from app.engine.service import PARAMS_KEY, DeferredServiceTask

_SERIALIZER = _Serializer(_Serializer.configure({**_SPIFF_CONFIG, DeferredServiceTask: _ServiceTaskConverter}))
_SCRIPT_ENGINE = SafeScriptEngine()
_CACHE_SIZE = 256
_SPEC_KEYS = ("spec", "subprocess_specs")


class EngineError(Exception):
    """A workflow could not move on: a condition failed to evaluate, or no path was open."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


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


_cache: OrderedDict[str, SpecBundle] = OrderedDict()
_cache_lock = threading.Lock()


def get_bundle(content_hash: str, bpmn_files: Mapping[str, str | bytes] | Callable[[], Mapping[str, str | bytes]],
               process_id: str) -> SpecBundle:
    """The parsed spec of a deployed version; parsed once per process, keyed by content hash.

    `bpmn_files` may be a callable so the (large) files are only read from the database on a cache miss.
    """
    key = f"{content_hash}:{process_id}"
    with _cache_lock:
        bundle = _cache.get(key)
        if bundle is not None:
            _cache.move_to_end(key)
            return bundle
    source = bpmn_files() if callable(bpmn_files) else bpmn_files
    files = {name: text.encode() if isinstance(text, str) else text for name, text in source.items()}
    parser = build_parser_for(files)
    spec, subprocess_specs = parser.get_spec(process_id), parser.get_subprocess_specs(process_id)
    specs = _SERIALIZER.to_dict(_BpmnWorkflow(spec, subprocess_specs))
    bundle = SpecBundle(
        content_hash=content_hash,
        process_id=process_id,
        spec=spec,
        subprocess_specs=subprocess_specs,
        specs_json=json.dumps({key: specs[key] for key in _SPEC_KEYS}),
    )
    with _cache_lock:
        _cache[key] = bundle
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return bundle


def _describe(task: Any) -> ReadyTask:
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

    def __init__(self, workflow: Any) -> None:
        self._wf = workflow

    @classmethod
    def start(cls, bundle: SpecBundle, data: Mapping[str, Any]) -> tuple[WorkflowRun, StepResult]:
        wf = _BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=_SCRIPT_ENGINE)
        wf.task_tree.data.update(json.loads(json.dumps(data)))
        run = cls(wf)
        return run, run._advance()

    @classmethod
    def load(cls, document: Mapping[str, Any], bundle: SpecBundle | None = None) -> WorkflowRun:
        """Restore a workflow; a document saved without its specs takes them from the version's bundle."""
        full = dict(document)
        if "spec" not in full:
            if bundle is None:
                raise ValueError("this document was saved without its specs: pass the version's bundle")
            full.update(json.loads(bundle.specs_json))
        _parents_first(full)
        for subprocess in (full.get("subprocesses") or {}).values():
            _parents_first(subprocess)
        wf = _SERIALIZER.deserialize_json(json.dumps(full))
        wf.script_engine = _SCRIPT_ENGINE
        return cls(wf)

    def document(self, *, with_specs: bool = False) -> dict[str, Any]:
        """The workflow's state; without the specs (they belong to the deployed version) unless asked."""
        result: dict[str, Any] = json.loads(_SERIALIZER.serialize_json(self._wf))
        if not with_specs:
            for key in _SPEC_KEYS:
                result.pop(key, None)
        return result

    def ready_user_tasks(self) -> list[ReadyTask]:
        return [_describe(t) for t in self._wf.get_tasks(state=_TaskState.READY, manual=True)]

    def task_data(self, task_id: str) -> dict[str, Any]:
        """A copy of one task's data (what a person working it sees, lookups included)."""
        data: dict[str, Any] = json.loads(json.dumps(self._task(task_id).data))
        return data

    def waiting_service_calls(self) -> list[ServiceCall]:
        return [
            ServiceCall(id=str(t.id), spec_name=t.task_spec.name,
                        title=getattr(t.task_spec, "bpmn_name", None) or t.task_spec.name,
                        operation=str(t.task_spec.operation_name),
                        params=dict(t.internal_data.get(PARAMS_KEY) or {}),
                        result_variable=str(t.task_spec.result_variable))
            for t in self._wf.get_tasks(state=_TaskState.STARTED)
            if isinstance(t.task_spec, DeferredServiceTask)
        ]

    def finish_service(self, task_id: str, result: Any) -> StepResult:
        """Store a connector's result in the task's result variable, complete the task and move on."""
        task = self._get_service(task_id)
        task.data[task.task_spec.result_variable] = json.loads(json.dumps(result))
        task.complete()
        return self._advance()

    def fail_service(self, task_id: str, code: str, message: str) -> StepResult | None:
        """Throw a BPMN error for a failed call; the step taken if an error boundary event caught it, else None.

        A boundary event without an error code catches every failure; one with a code catches that code only.
        The error is put in the data as ``loi_dich_vu`` so the path it leads to can show or route on it.
        """
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
        except (ValueError, KeyError, TypeError) as exc:
            raise TaskNotReady(task_id) from exc
        if task is None:
            raise TaskNotReady(task_id)
        return task

    def is_completed(self) -> bool:
        return bool(self._wf.is_completed())

    def complete(self, task_id: str, data: Mapping[str, Any]) -> StepResult:
        task = self._get_ready(task_id)
        task.data.update(json.loads(json.dumps(data)))
        try:
            task.run()
        except _WorkflowException as exc:
            raise EngineError(_message_of(exc), str(exc)) from exc
        return self._advance()

    def _get_ready(self, task_id: str) -> Any:
        task = self._task(task_id)
        if task.state != _TaskState.READY or not task.task_spec.manual:
            raise TaskNotReady(task_id)
        return task

    def _advance(self) -> StepResult:
        ended: list[ReadyTask] = []
        on_done: Callable[[Any], None] = lambda t: (  # noqa: E731
            ended.append(_describe(t)) if isinstance(t.task_spec, _EndEvent) else None
        )
        try:
            self._wf.do_engine_steps(did_complete_task=on_done)
        except _WorkflowException as exc:
            raise EngineError(_message_of(exc), str(exc)) from exc
        return StepResult(ready=self.ready_user_tasks(), completed=self.is_completed(), end_events=ended,
                          service_calls=self.waiting_service_calls())


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


def _message_of(exc: BaseException) -> str:
    """The designer-facing message: the Vietnamese one our evaluator raised, if that is the cause."""
    cause: BaseException | None = exc
    while cause is not None:
        message = getattr(cause, "message", None)
        if isinstance(message, str) and getattr(cause, "code", None):
            return message
        cause = cause.__cause__ or cause.__context__
    return str(exc)
