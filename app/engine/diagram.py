"""Where a workflow stands in its diagram: the elements it completed, the flows it took and the step(s) it waits on.

Read from the stored workflow document and the deployed BPMN, without restoring the workflow (no spec objects, no
task objects): a page that draws a dossier's diagram asks nothing else of the engine.

SpiffWorkflow names each task after its BPMN element (`task_spec` is the element's id; its own helper specs, such as
`Start`, `<process>.EndJoin` or `<task>.BoundaryEventSplit`, name no element and are skipped). The task tree holds
the path actually taken: a gateway keeps only the branch it chose, a return to an earlier step drops what followed
it. So a sequence flow was taken when its target element's task was reached and the nearest element task above it
in the tree is its source. A completed element that is also waiting again (a loop, a return) counts as current.

A finished workflow's compact document (app.engine.runtime.compact) keeps only the steps people and services
completed and the end events reached: those are its completed elements, and no flow is known.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.util.task import TaskState as _TaskState

from app.engine.cache import HashCache
from app.engine.runtime import is_compacted
from app.engine.xmlsafe import XmlError, parse_xml

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_REACHED = _TaskState.WAITING | _TaskState.READY | _TaskState.STARTED | _TaskState.COMPLETED | _TaskState.ERROR
_OPEN = _TaskState.WAITING | _TaskState.READY | _TaskState.STARTED
# Elements a reader follows as steps; gateways and the like are drawn but not listed.
STEP_KINDS = frozenset({
    "task", "userTask", "serviceTask", "scriptTask", "manualTask", "sendTask", "receiveTask", "businessRuleTask",
    "callActivity", "subProcess", "transaction", "startEvent", "endEvent", "intermediateCatchEvent",
    "intermediateThrowEvent", "boundaryEvent",
})
# Waiting, these are not where the dossier stands: a join waits for its other branches, a boundary event is armed
# on its task (the task is current). An event-based gateway or an intermediate event that waits is.
_NOT_WAITING_PLACES = frozenset({"parallelGateway", "inclusiveGateway", "exclusiveGateway", "complexGateway",
                                 "boundaryEvent"})
_NOT_ELEMENTS = frozenset({"sequenceFlow", "messageFlow", "association", "dataInputAssociation",
                           "dataOutputAssociation", "lane", "laneSet", "participant", "collaboration", "process",
                           "definitions", "textAnnotation", "incoming", "outgoing", "extensionElements"})


class DiagramMissing(Exception):
    """The version has no BPMN file defining the process (or it cannot be read)."""


@dataclass(frozen=True)
class DiagramElement:
    id: str
    name: str
    kind: str  # the BPMN tag's local name: userTask, exclusiveGateway, endEvent …


@dataclass(frozen=True)
class Diagram:
    """The flow nodes and sequence flows of one BPMN file, by id."""

    filename: str
    elements: Mapping[str, DiagramElement]
    flows: Mapping[tuple[str, str], tuple[str, ...]]  # (source id, target id) → flow ids


@dataclass(frozen=True)
class DiagramProgress:
    completed: list[str] = field(default_factory=list)  # in the order they completed (first time)
    current: list[str] = field(default_factory=list)  # waiting for a person, a service, a timer or a message
    failed: list[str] = field(default_factory=list)  # stopped on an engine error (an incident)
    flows: list[str] = field(default_factory=list)  # sequence flows taken
    finished: bool = False


def main_file(files: Mapping[str, str | bytes], process_id: str) -> str:
    """The name of the BPMN file that defines `process_id` (the first file, by name, if none says so)."""
    names = sorted(n for n in files if n.lower().endswith(".bpmn"))
    if not names:
        raise DiagramMissing("no BPMN file")
    for name in names:
        raw = files[name]
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if f'id="{process_id}"' in text or f"id='{process_id}'" in text:
            return name
    return names[0]


_diagrams: HashCache[Diagram] = HashCache(64)


def diagram_of(content_hash: str, files: Mapping[str, str | bytes] | Callable[[], Mapping[str, str | bytes]],
               process_id: str) -> Diagram:
    """The main diagram of a deployed version, read once per process (keyed by its content hash). `files` may be a
    callable, so that the version's BPMN files are read from the database only on a miss."""
    def build() -> Diagram:
        source = files() if callable(files) else files
        name = main_file(source, process_id)
        return read_diagram(source[name], name)

    return _diagrams.get_or_build(f"{content_hash}:{process_id}", build)


def read_diagram(xml: str | bytes, filename: str) -> Diagram:
    """Every flow node (tasks, events, gateways, sub-processes and what they contain) and sequence flow of a file."""
    try:
        root = parse_xml(xml.encode("utf-8") if isinstance(xml, str) else xml, filename)
    except XmlError as exc:
        raise DiagramMissing(exc.message) from exc
    elements: dict[str, DiagramElement] = {}
    flows: dict[tuple[str, str], list[str]] = {}
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        for node in process.iter(etree.Element):
            tag = etree.QName(node)
            if tag.namespace != BPMN_NS or not node.get("id") or node is process:
                continue
            if tag.localname == "sequenceFlow":
                source, target = node.get("sourceRef"), node.get("targetRef")
                if source and target:
                    flows.setdefault((source, target), []).append(str(node.get("id")))
            elif tag.localname not in _NOT_ELEMENTS and not tag.localname.endswith("EventDefinition"):
                element_id = str(node.get("id"))
                name = " ".join((node.get("name") or "").split())
                elements[element_id] = DiagramElement(element_id, name, tag.localname)
    return Diagram(filename, elements, {pair: tuple(ids) for pair, ids in flows.items()})


def progress_of(document: Mapping[str, Any], diagram: Diagram) -> DiagramProgress:
    """Where the stored workflow stands in `diagram` (see the module's docstring)."""
    known = diagram.elements
    if is_compacted(document):
        done = _unique(str(s.get("task_spec")) for s in document.get("steps") or [])
        return DiagramProgress(completed=[e for e in done if e in known], finished=True)
    completed: list[tuple[float, str]] = []
    current: list[tuple[float, str]] = []
    failed: list[tuple[float, str]] = []
    flows: list[str] = []
    for workflow in (document, *(document.get("subprocesses") or {}).values()):
        tasks: Mapping[str, Mapping[str, Any]] = workflow.get("tasks") or {}
        for entry in tasks.values():
            spec, state = str(entry.get("task_spec")), int(entry.get("state") or 0)
            element = known.get(spec)
            if element is None or not state & _REACHED:
                continue
            at = float(entry.get("last_state_change") or 0)
            if state & _TaskState.COMPLETED:
                completed.append((at, spec))
            elif state & _TaskState.ERROR:
                failed.append((at, spec))
            elif state & _OPEN and not (state & _TaskState.WAITING and element.kind in _NOT_WAITING_PLACES):
                current.append((at, spec))
            source = _element_above(entry, tasks, known)
            if source is not None:
                flows.extend(diagram.flows.get((source, spec), ()))
    here = set(_unique(s for _, s in current)) | {s for _, s in failed}
    return DiagramProgress(
        completed=[s for s in _unique(s for _, s in sorted(completed)) if s not in here],
        current=_unique(s for _, s in sorted(current)),
        failed=_unique(s for _, s in sorted(failed)),
        flows=_unique(flows),
        finished=bool(document.get("completed")),
    )


def _element_above(entry: Mapping[str, Any], tasks: Mapping[str, Mapping[str, Any]],
                   known: Mapping[str, DiagramElement]) -> str | None:
    """The element of the nearest completed task above `entry` that stands for a diagram element, if any."""
    parent_id = entry.get("parent")
    seen = 0
    while parent_id is not None and parent_id in tasks and seen < 50:  # helper specs are a few levels at most
        parent = tasks[parent_id]
        spec = str(parent.get("task_spec"))
        if spec in known:
            return spec if int(parent.get("state") or 0) & _TaskState.COMPLETED else None
        parent_id = parent.get("parent")
        seen += 1
    return None


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
