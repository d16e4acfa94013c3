"""The names of the sequence flows that lead from one task to another, read from the diagram.

SpiffWorkflow keeps no sequence-flow names in its specs. When completing a step sends the workflow back to
an earlier one (a leader returns a dossier), the decision is the name the designer gave the flow taken
("Trả lại", "Không đồng ý"): the host reads it here, once per deployed version.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from app.engine.xmlsafe import XmlError, parse_xml

_BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_ACTIVITIES = ("task", "subprocess", "callactivity", "transaction")
_CACHE_SIZE = 64


@dataclass
class _Graph:
    outgoing: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # node → [(target, flow name)]
    incoming: dict[str, list[str]] = field(default_factory=dict)  # node → [source]
    activities: set[str] = field(default_factory=set)


_cache: OrderedDict[str, _Graph] = OrderedDict()
_lock = threading.Lock()


def _build(files: Mapping[str, str | bytes]) -> _Graph:
    graph = _Graph()
    for name, text in files.items():
        try:
            root = parse_xml(text.encode() if isinstance(text, str) else text, name)
        except XmlError:
            continue  # a deployed version parsed once already; nothing to name if it no longer does
        for element in root.iter(f"{{{_BPMN_NS}}}*"):
            local = str(element.tag).rsplit("}", 1)[-1]
            ident = element.get("id")
            if ident and local.lower().endswith(_ACTIVITIES):
                graph.activities.add(ident)
            if local == "sequenceFlow":
                source, target = element.get("sourceRef") or "", element.get("targetRef") or ""
                label = " ".join((element.get("name") or "").split())
                graph.outgoing.setdefault(source, []).append((target, label))
                graph.incoming.setdefault(target, []).append(source)
    return graph


def _graph(content_hash: str, files: Callable[[], Mapping[str, str | bytes]]) -> _Graph:
    with _lock:
        graph = _cache.get(content_hash)
        if graph is not None:
            _cache.move_to_end(content_hash)
            return graph
    graph = _build(files())
    with _lock:
        _cache[content_hash] = graph
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return graph


def flow_labels(content_hash: str, files: Callable[[], Mapping[str, str | bytes]], source: str,
                target: str) -> list[str]:
    """The names of the flows on the paths from task `source` to task `target` that pass no other task
    (only gateways and events), in path order, each once. Empty when no such flow is named."""
    graph = _graph(content_hash, files)

    def walk(start: str, step: Callable[[str], list[str]]) -> set[str]:
        seen: set[str] = set()
        pending = [start]
        while pending:
            node = pending.pop()
            for nxt in step(node):
                if nxt not in seen:
                    seen.add(nxt)
                    if nxt not in graph.activities:
                        pending.append(nxt)
        return seen

    # Nodes after `source` and nodes before `target`, neither walk going through another task.
    after = walk(source, lambda n: [t for t, _ in graph.outgoing.get(n, [])]) | {source}
    before = walk(target, lambda n: graph.incoming.get(n, [])) | {target}
    labels: list[str] = []
    pending, seen = [source], {source}
    while pending:  # breadth first from the source, so the labels read in the order the flow ran
        node = pending.pop(0)
        for nxt, label in graph.outgoing.get(node, []):
            if nxt not in before or node not in after:
                continue
            if label and label not in labels:
                labels.append(label)
            if nxt not in seen and nxt not in graph.activities:
                seen.add(nxt)
                pending.append(nxt)
    return labels
