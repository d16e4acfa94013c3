"""The diagram's sequence flows as the host needs them: which lead back, and what they are called.

A return is completing a step whose way on leads BACK to a step that comes earlier in the process (a leader
returns the dossier to the examination, an applicant's supplement goes back to it). "Earlier" is the
diagram's forward order: a depth-first walk from the start events over the sequence flows (and from each
activity to its boundary events) marks as loops back the flows that reach a node still on the walk's path,
the classic back edges. A forward step that happens to reach a step done before (the leader's second review
after the examination is redone) is not a return. SpiffWorkflow keeps no sequence-flow names in its specs;
the decision a return took is the name the designer gave the flows taken ("Trả lại", "Không đồng ý"). The
host reads both here, once per deployed version.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from app.engine.cache import HashCache
from app.engine.xmlsafe import XmlError, parse_xml

_BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_ACTIVITIES = ("task", "subprocess", "callactivity", "transaction")
_CACHE_SIZE = 64


@dataclass
class _Graph:
    outgoing: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # node → [(target, flow name)]
    incoming: dict[str, list[str]] = field(default_factory=dict)  # node → [source]
    activities: set[str] = field(default_factory=set)
    starts: list[str] = field(default_factory=list)  # start events, in document order
    attached: dict[str, list[str]] = field(default_factory=dict)  # activity → [its boundary events]
    back: set[tuple[str, str]] = field(default_factory=set)  # (source, target) of the flows that loop back


_graphs: HashCache[_Graph] = HashCache(_CACHE_SIZE)


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
            if local == "startEvent" and ident:
                graph.starts.append(ident)
            if local == "boundaryEvent" and ident and element.get("attachedToRef"):
                graph.attached.setdefault(element.get("attachedToRef") or "", []).append(ident)
            if local == "sequenceFlow":
                source, target = element.get("sourceRef") or "", element.get("targetRef") or ""
                label = " ".join((element.get("name") or "").split())
                graph.outgoing.setdefault(source, []).append((target, label))
                graph.incoming.setdefault(target, []).append(source)
    graph.back = _back_edges(graph)
    return graph


def _back_edges(graph: _Graph) -> set[tuple[str, str]]:
    """The flows that loop back: in a depth-first walk from the start events (then from any node not yet
    reached), those whose target is still on the walk's path. Every other flow goes forward, so the
    diagram without them orders its steps."""
    def successors(node: str) -> list[str]:
        return [t for t, _ in graph.outgoing.get(node, [])] + graph.attached.get(node, [])

    on_path, finished = set(), set()
    back: set[tuple[str, str]] = set()
    for root in [*graph.starts, *graph.outgoing, *graph.attached]:
        if root in on_path or root in finished:
            continue
        on_path.add(root)
        stack = [(root, iter(successors(root)))]
        while stack:
            node, rest = stack[-1]
            nxt = next(rest, None)
            if nxt is None:
                stack.pop()
                on_path.discard(node)
                finished.add(node)
            elif nxt in on_path:
                back.add((node, nxt))
            elif nxt not in finished:
                on_path.add(nxt)
                stack.append((nxt, iter(successors(nxt))))
    return back


def _graph(content_hash: str, files: Callable[[], Mapping[str, str | bytes]]) -> _Graph:
    return _graphs.get_or_build(content_hash, lambda: _build(files()))


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


def returns_to(content_hash: str, files: Callable[[], Mapping[str, str | bytes]], source: str,
               target: str) -> bool:
    """Whether task `target`, reached from task `source` through gateways and events only, comes back to an
    earlier step of the process (or to `source` itself): every such way takes a flow that loops back. A task
    reached forward is not a return, even when the dossier did it before."""
    graph = _graph(content_hash, files)

    def reaches(forward_only: bool) -> bool:
        seen, pending = {source}, [source]
        while pending:
            node = pending.pop()
            for nxt, _ in graph.outgoing.get(node, []):
                if forward_only and (node, nxt) in graph.back:
                    continue
                if nxt == target:
                    return True
                if nxt not in seen and nxt not in graph.activities:
                    seen.add(nxt)
                    pending.append(nxt)
        return False

    return reaches(forward_only=False) and not reaches(forward_only=True)
