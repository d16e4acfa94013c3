"""Diagrams exported by other modelling tools: what the platform reads instead of their extensions, and what to change.

Camunda (7, its Activiti ancestry and Flowable: `camunda:` attributes and extension elements; 8: `zeebe:`), Signavio
and Bizagi write their own extensions into a BPMN file. The engine ignores every one of them, so a diagram drawn for
another engine can look complete and still run differently here: its forms, assignments, Java delegates and data
mappings simply vanish. `foreign_problems` names each such extension on its element's line, says what the platform
reads in its place and what exactly to write; `runnable_candidates` tells which process of a descriptive
(isExecutable="false") export is the one to run.

Severity, per extension (docs/designer-guide.md §15): what changes what runs is an error (a form, code the other
engine would call, a data mapping, a listener, a multi-instance collection; an assignment when the step sits in no
lane, since then nobody could take it); what the platform replaces by its own rule is a warning (an assignment of a
step that sits in a lane, due dates, async flags, properties); layout and documentation metadata of Signavio and
Bizagi is nothing unless it holds text someone wrote (a warning: it will not be shown to anyone).

Only standard-library and lxml code here: app.engine.analysis calls `foreign_problems` from one line, and the
studio's converter (app.procedures.convert) reuses the readers below.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from flask_babel import gettext, lazy_gettext
from lxml import etree

if TYPE_CHECKING:
    from app.engine.analysis import Problem

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_DEFINITIONS = f"{{{BPMN_NS}}}definitions"
_EXTENSIONS = f"{{{BPMN_NS}}}extensionElements"
# Camunda 7 and the engines it shares its attributes with (the Camunda Eclipse plugin writes Activiti's namespace).
CAMUNDA_NAMESPACES = {
    "http://camunda.org/schema/1.0/bpmn": "Camunda",
    "http://activiti.org/bpmn": "Camunda/Activiti",
    "http://flowable.org/bpmn": "Flowable",
}
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
SIGNAVIO_NS = "http://www.signavio.com"
BIZAGI_NS = "http://www.bizagi.com/bpmn20"

FORM_PROPERTY = "formJsonSchemaFilename"
# The spiffworkflow:property names the platform reads (docs/designer-guide.md §5): another tool's property of the
# same name means the same thing.
PLATFORM_PROPERTIES = ("formJsonSchemaFilename", "formUiSchemaFilename", "dossierStatus", "allottedTime",
                       "receivesDossier")

_MANUAL = ("userTask", "manualTask", "task")
_FLOW_NODES = frozenset({
    "task", "userTask", "manualTask", "serviceTask", "scriptTask", "businessRuleTask", "sendTask", "receiveTask",
    "subProcess", "adHocSubProcess", "transaction", "callActivity", "startEvent", "endEvent", "boundaryEvent",
    "intermediateCatchEvent", "intermediateThrowEvent", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
    "eventBasedGateway", "complexGateway",
})

# Camunda 7 attributes, by what they are for. Anything not listed is reported as "ignored" (a warning).
_CAMUNDA_ATTRIBUTES = {
    **dict.fromkeys(("formKey", "formRef", "formRefBinding", "formRefVersion", "formHandlerClass"), "form"),
    "assignee": "assignee",
    "candidateGroups": "candidate_groups",
    "candidateUsers": "candidate_users",
    **dict.fromkeys(("dueDate", "followUpDate", "priority"), "due_date"),
    **dict.fromkeys(("class", "expression", "delegateExpression", "type", "topic", "resultVariable", "resource",
                     "taskPriority", "variableMappingClass", "variableMappingDelegateExpression"), "implementation"),
    **dict.fromkeys(("decisionRef", "decisionRefBinding", "decisionRefVersion", "decisionRefVersionTag",
                     "decisionRefTenantId", "mapDecisionResult"), "decision"),
    **dict.fromkeys(("calledElementBinding", "calledElementVersion", "calledElementVersionTag",
                     "calledElementTenantId", "caseRef", "caseBinding", "caseVersion", "caseTenantId"), "call"),
    **dict.fromkeys(("async", "asyncBefore", "asyncAfter", "exclusive", "jobPriority"), "async"),
    **dict.fromkeys(("collection", "elementVariable"), "multi_instance"),
    **dict.fromkeys(("candidateStarterGroups", "candidateStarterUsers", "initiator"), "starter"),
    **dict.fromkeys(("errorCodeVariable", "errorMessageVariable", "escalationCodeVariable"), "error_variables"),
    # Pure bookkeeping of the other engine (history, versions, its task list): nothing to report.
    **dict.fromkeys(("versionTag", "historyTimeToLive", "isStartableInTasklist", "diagramRelationId"), None),
}
_CAMUNDA_ELEMENTS = {
    "formData": "form",
    "inputOutput": "io_mapping",
    "in": "io_mapping",
    "out": "io_mapping",
    "executionListener": "listener",
    "taskListener": "listener",
    "properties": "properties",
    "field": "implementation",
    "connector": "implementation",
    "errorEventDefinition": "implementation",
    "failedJobRetryTimeCycle": "async",
    "potentialStarter": "starter",
}
_ZEEBE_ELEMENTS = {
    "taskDefinition": "implementation",
    "taskHeaders": "implementation",
    "script": "implementation",
    "calledDecision": "decision",
    "ioMapping": "io_mapping",
    "formDefinition": "form",
    "userTaskForm": "form",
    "assignmentDefinition": "assignment",
    "taskSchedule": "due_date",
    "calledElement": "call",
    "loopCharacteristics": "multi_instance",
    "executionListeners": "listener",
    "taskListeners": "listener",
    "properties": "properties",
    "subscription": "message",
    # A marker that the task is a Camunda user task, and the modeller's own bookkeeping.
    "userTask": None,
    "versionTag": None,
}
# Signavio and Bizagi metadata that only draws the diagram or is left empty by the tool.
_SIGNAVIO_LAYOUT = frozenset({"bgcolor", "bordercolor", "textcolor", "fontcolor", "fontfamily", "fontsize"})
_BIZAGI_LAYOUT = frozenset({"bgcolor", "bordercolor", "textcolor", "fontname", "fontsize", "fontcolor",
                            "ismainparticipant", "isdefaultlane"})

_TOOLS = {ZEEBE_NS: "Camunda 8 (Zeebe)", SIGNAVIO_NS: "Signavio", BIZAGI_NS: "Bizagi", **CAMUNDA_NAMESPACES}

CODES = {
    "form": "foreign_form",
    "assignee": "foreign_assignee",
    "candidate_groups": "foreign_candidate_groups",
    "candidate_users": "foreign_candidate_users",
    "due_date": "foreign_due_date",
    "implementation": "foreign_implementation",
    "decision": "foreign_decision",
    "call": "foreign_call",
    "io_mapping": "foreign_io_mapping",
    "listener": "foreign_listener",
    "multi_instance": "foreign_multi_instance",
    "properties": "foreign_properties",
    "async": "foreign_async",
    "starter": "foreign_starter",
    "error_variables": "foreign_error_variables",
    "message": "foreign_message",
    "other": "foreign_extension",
    "metadata": "foreign_metadata",
}


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _namespace(tag: Any) -> str:
    return (etree.QName(tag).namespace or "") if isinstance(tag, str) else ""


def _written(element: etree._Element, name: str, value: str | None = None) -> str:
    """An attribute or element as the file writes it: prefix:name (="value")."""
    qname = etree.QName(name)
    prefix = next((p for p, uri in (element.nsmap or {}).items() if uri == qname.namespace and p), None)
    shown = f"{prefix}:{qname.localname}" if prefix else qname.localname
    if value is None:
        return shown
    value = " ".join(value.split())
    return f'{shown}="{value[:80]}{"…" if len(value) > 80 else ""}"'


def label(element: etree._Element) -> str:
    name = " ".join((element.get("name") or "").split())
    ident = element.get("id") or ""
    if name and ident and name != ident:
        return f"«{name}» (id «{ident}»)"
    return f"«{name or ident}»" if (name or ident) else ""


_KINDS = {
    "userTask": lazy_gettext("Tác vụ người dùng"), "manualTask": lazy_gettext("Tác vụ thủ công"),
    "task": lazy_gettext("Tác vụ"), "serviceTask": lazy_gettext("Tác vụ dịch vụ"),
    "sendTask": lazy_gettext("Tác vụ gửi"), "receiveTask": lazy_gettext("Tác vụ nhận"),
    "scriptTask": lazy_gettext("Tác vụ kịch bản"), "businessRuleTask": lazy_gettext("Tác vụ quy tắc nghiệp vụ"),
    "callActivity": lazy_gettext("Hoạt động gọi quy trình"), "subProcess": lazy_gettext("Quy trình con"),
    "startEvent": lazy_gettext("Sự kiện bắt đầu"), "endEvent": lazy_gettext("Sự kiện kết thúc"),
    "process": lazy_gettext("Quy trình"), "sequenceFlow": lazy_gettext("Luồng"),
}


def element_title(element: etree._Element) -> str:
    kind = str(_KINDS.get(_local(element.tag), gettext("Phần tử")))
    return f"{kind} {label(element)}".strip()


# ---------------------------------------------------------------------------------------------- reading the files


def is_bpmn(root: etree._Element) -> bool:
    return root.tag == _DEFINITIONS


def processes(roots: Mapping[str, etree._Element]) -> list[tuple[str, etree._Element]]:
    """(file, bpmn:process) of every BPMN file, in file order."""
    return [(name, process) for name, root in roots.items() if is_bpmn(root)
            for process in root.iterchildren(f"{{{BPMN_NS}}}process")]


def lanes_of(root: etree._Element) -> dict[str, str]:
    """flow node id → the name of the lane that holds it, read as the engine reads it (every flowNodeRef of the
    file, the last one winning; a lane without a name is no lane to the platform, which maps lanes by name)."""
    found: dict[str, str | None] = {}
    for ref in root.iter(f"{{{BPMN_NS}}}flowNodeRef"):
        lane = ref.getparent()
        if ref.text is not None and lane is not None:
            found[ref.text] = lane.get("name")
    return {node: name for node, name in found.items() if name}


def spiff_properties(element: etree._Element) -> dict[str, str]:
    found: dict[str, str] = {}
    for ext in element.iterchildren(_EXTENSIONS):
        for props in ext.iterchildren(f"{{{SPIFF_NS}}}properties"):
            for prop in props.iterchildren(f"{{{SPIFF_NS}}}property"):
                if prop.get("name"):
                    found[str(prop.get("name"))] = str(prop.get("value") or "")
    return found


def form_stem(value: str) -> str:
    """The form's base name in another tool's form key: embedded:app:forms/tham-dinh.html → tham-dinh."""
    last = re.split(r"[:/\\]", value.strip())[-1]
    for suffix in (".schema.json", ".ui.json", ".json", ".html", ".htm", ".xhtml", ".jsf", ".form", ".jsp"):
        if last.lower().endswith(suffix):
            return last[: -len(suffix)]
    return last


def form_file(value: str) -> str:
    stem = form_stem(value)
    return f"{stem}.schema.json" if stem else ""


def groups(value: str) -> list[str]:
    """The groups of a candidateGroups value: "a, b" (Camunda 7, Zeebe) or a FEEL list =["a","b"] (Zeebe)."""
    text = value.strip()
    if text.startswith("="):
        text = text[1:].strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        parts = [p.strip() for p in text.split(",")]
        return [p[1:-1] for p in parts if len(p) >= 2 and p[0] == p[-1] == '"'] if all(
            len(p) >= 2 and p[0] == p[-1] == '"' for p in parts) else [value.strip()]
    return [p.strip() for p in text.split(",") if p.strip()]


@dataclass
class _Finding:
    element: etree._Element
    kind: str
    tool: str
    written: list[str] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)  # local name → value, for the advice


def _scope(roots: Mapping[str, etree._Element]) -> list[tuple[str, etree._Element]]:
    """The processes whose elements are read: the executable ones and what they call, or every one if none is."""
    every = processes(roots)
    by_id = {str(p.get("id")): (f, p) for f, p in every}
    chosen = [(f, p) for f, p in every if p.get("isExecutable") == "true"]
    if not chosen:
        return every
    pending = list(chosen)
    seen: list[tuple[str, etree._Element]] = []
    while pending:
        file, process = pending.pop(0)
        if any(process is p for _, p in seen):
            continue
        seen.append((file, process))
        for call in process.iter(f"{{{BPMN_NS}}}callActivity"):
            target = by_id.get(str(call.get("calledElement") or ""))
            if target is not None:
                pending.append(target)
    return seen


def _findings(process: etree._Element) -> list[_Finding]:
    found: dict[tuple[int, str], _Finding] = {}
    order: list[tuple[int, str]] = []

    def note(element: etree._Element, kind: str | None, namespace: str, written: str, local: str,
             value: str = "") -> None:
        if kind is None:
            return
        key = (id(element), kind)
        if key not in found:
            found[key] = _Finding(element, kind, _TOOLS.get(namespace, namespace))
            order.append(key)
        found[key].written.append(written)
        found[key].values.setdefault(local, value)

    for element in process.iter(f"{{{BPMN_NS}}}*"):
        if _local(element.tag) in ("extensionElements", "documentation"):
            continue
        for name, value in element.attrib.items():
            namespace = _namespace(name)
            local = _local(name)
            if namespace in CAMUNDA_NAMESPACES:
                kind = _CAMUNDA_ATTRIBUTES.get(local, "other")
                note(element, kind, namespace, _written(element, name, value), local, value)
        for ext in element.iterchildren(_EXTENSIONS):
            for child in ext.iterchildren():
                namespace = _namespace(child.tag)
                local = _local(child.tag)
                if namespace in CAMUNDA_NAMESPACES:
                    kind = _CAMUNDA_ELEMENTS.get(local, "other")
                    if local in ("in", "out") and child.get("variables") == "all":
                        kind = None  # every variable passed, as the engine does anyway
                    note(element, kind, namespace, _element_written(child), local, _describe(child))
                elif namespace == ZEEBE_NS:
                    kind = _ZEEBE_ELEMENTS.get(local, "other")
                    if kind == "assignment":
                        for attr, sub in (("assignee", "assignee"), ("candidateGroups", "candidate_groups"),
                                          ("candidateUsers", "candidate_users")):
                            if child.get(attr):
                                note(element, sub, namespace,
                                     f"{_written(child, child.tag)} {attr}=\"{child.get(attr)}\"", attr,
                                     str(child.get(attr)))
                        continue
                    note(element, kind, namespace, _element_written(child), local, _describe(child))
                elif namespace == SIGNAVIO_NS:
                    _signavio(child, element, note)
                elif namespace == BIZAGI_NS:
                    _bizagi(child, element, note)
    return [found[key] for key in order]


def _element_written(child: etree._Element) -> str:
    """An extension element as the file writes its start tag: zeebe:taskDefinition type="emailService"."""
    attributes = " ".join(f'{_local(k)}="{" ".join(v.split())[:60]}"' for k, v in list(child.attrib.items())[:2]
                          if _namespace(k) == "")
    return f"{_written(child, child.tag)} {attributes}".strip()


def _describe(child: etree._Element) -> str:
    """What an extension element holds, for the advice: its attributes, or the form fields it declares."""
    if _local(child.tag) == "formData":
        return ", ".join(str(f.get("id")) for f in child.iterchildren() if f.get("id"))
    if _local(child.tag) == "properties":
        return ", ".join(f"{p.get('name')}={p.get('value')}" for p in child.iterchildren() if p.get("name"))
    return " ".join(f'{_local(k)}="{v}"' for k, v in child.attrib.items())


def _meaningful(value: str | None) -> bool:
    text = (value or "").strip()
    return bool(text) and text not in ("[]", "{}", "null", "false")


def _signavio(child: etree._Element, owner: etree._Element, note: Any) -> None:
    if _local(child.tag) != "signavioMetaData":
        return  # labels, stencils, dictionary links: how Signavio draws and links the shape
    key = str(child.get("metaKey") or "")
    value = child.get("metaValue")
    if key.lower() in _SIGNAVIO_LAYOUT or not _meaningful(value):
        return
    kind = "implementation" if key.lower().startswith("adapter") else "metadata"
    note(owner, kind, SIGNAVIO_NS, f'signavio:signavioMetaData metaKey="{key}"', key, str(value))


def _bizagi(child: etree._Element, owner: etree._Element, note: Any) -> None:
    for prop in child.iter(f"{{{BIZAGI_NS}}}BizagiProperty"):
        name = str(prop.get("name") or prop.get("Name") or "")
        value = prop.get("value") if prop.get("value") is not None else prop.get("Value")
        if name.lower() in _BIZAGI_LAYOUT or not _meaningful(value):
            continue
        note(owner, "metadata", BIZAGI_NS, f'bizagi:BizagiProperty name="{name}"', name, str(value))


# ---------------------------------------------------------------------------------------------- the problems


def foreign_problems(roots: Mapping[str, etree._Element], problems: list[Problem]) -> list[Problem]:
    """`problems` with the non-executable markings made precise, and one problem per foreign extension kind per
    element of the processes that would run (every process when none is marked executable)."""
    from app.engine.analysis import Problem  # analysis calls this module; its dataclass is imported when used

    out = refine_not_executable(roots, problems)
    for file, process in _scope(roots):
        root = process.getroottree().getroot()
        lanes = lanes_of(root)
        for finding in _findings(process):
            code = CODES[finding.kind]
            severity, message = _advice(finding, lanes)
            if severity is None:
                continue
            out.append(Problem(file, finding.element.sourceline, None, code, message, severity))
    return out


def _advice(f: _Finding, lanes: Mapping[str, str]) -> tuple[str | None, str]:
    element = f.element
    local = _local(element.tag)
    what = element_title(element)
    written = ", ".join(f"«{w}»" for w in dict.fromkeys(f.written))
    lane = lanes.get(str(element.get("id") or ""))
    tool = f.tool
    if f.kind == "form":
        value = next((v for k, v in f.values.items() if k in ("formKey", "formRef", "formDefinition") and v), "")
        key = _form_key(value) if value else ""
        suggestion = form_file(key) if key else gettext("<tên biểu mẫu>.schema.json")
        if local == "startEvent":
            return "warning", gettext(
                "%(what)s có biểu mẫu của %(tool)s (%(written)s), hệ thống không đọc nó: biểu mẫu công dân điền khi "
                "nộp hồ sơ là mục start_form trong procedure.json. Hãy đặt \"start_form\": \"%(form)s\" (biểu mẫu "
                "JSON Schema có trong gói) và xóa %(written)s.", what=what, tool=tool, written=written,
                form=suggestion)
        if "formData" in f.values:
            return "error", gettext(
                "%(what)s khai báo các trường biểu mẫu trong sơ đồ theo kiểu %(tool)s (%(written)s: %(fields)s); hệ "
                "thống chỉ hiển thị biểu mẫu JSON Schema của gói. Hãy viết một tệp <tên>.schema.json có các trường "
                "đó, đặt nó vào gói, thêm spiffworkflow:property formJsonSchemaFilename=\"<tên>.schema.json\" cho "
                "tác vụ và xóa %(written)s.", what=what, tool=tool, written=written, fields=f.values["formData"])
        if local not in _MANUAL or FORM_PROPERTY in spiff_properties(element):
            return "warning", gettext(
                "%(what)s: hệ thống bỏ qua %(written)s của %(tool)s; biểu mẫu của bước là spiffworkflow:property "
                "formJsonSchemaFilename. Hãy xóa %(written)s.", what=what, written=written, tool=tool)
        if not key:
            return "error", gettext(
                "%(what)s dùng biểu mẫu của %(tool)s (%(written)s); hệ thống không hiển thị được loại biểu mẫu này. "
                "Hãy viết biểu mẫu JSON Schema cho bước, đặt vào gói và thay %(written)s bằng spiffworkflow:property "
                "formJsonSchemaFilename=\"<tên>.schema.json\".", what=what, tool=tool, written=written)
        return "error", gettext(
            "%(what)s dùng biểu mẫu của %(tool)s: %(written)s → spiffworkflow:property "
            "formJsonSchemaFilename=\"%(form)s\". Hệ thống chỉ hiển thị biểu mẫu JSON Schema có trong gói: hãy đặt "
            "tệp %(form)s vào gói, thêm thuộc tính đó cho tác vụ và xóa %(written)s.",
            what=what, tool=tool, written=written, form=suggestion)
    if f.kind in ("assignee", "candidate_groups", "candidate_users"):
        return _assignment(f, what, written, lane)
    if f.kind == "due_date":
        return "warning", gettext(
            "%(what)s: hệ thống bỏ qua hạn của %(tool)s (%(written)s). Hạn của bước là spiffworkflow:property "
            "allottedTime (số ngày làm việc, ví dụ 0.5), tính theo lịch làm việc của cơ quan; hãy đặt thuộc tính đó "
            "và xóa %(written)s.", what=what, tool=tool, written=written)
    if f.kind == "implementation":
        if local == "serviceTask" or local == "sendTask":
            return "error", gettext(
                "%(what)s gọi mã của %(tool)s (%(written)s); hệ thống không chạy mã đó nên bước này sẽ không làm gì "
                "cả. Hãy chọn một thao tác kết nối của hệ thống: <spiffworkflow:serviceTaskOperator id=\"…\" "
                "resultVariable=\"…\"> (mục 8 của hướng dẫn thiết kế, ví dụ population.lookup_citizen, "
                "notify.send_email) và xóa %(written)s.", what=what, tool=tool, written=written)
        return "error", gettext(
            "%(what)s gắn mã hoặc cấu hình thực thi của %(tool)s (%(written)s); hệ thống không chạy nó nên phần việc "
            "này sẽ bị bỏ qua. Hãy thay bằng tác vụ dịch vụ có spiffworkflow:serviceTaskOperator (thao tác kết nối "
            "của hệ thống) hoặc một bước người dùng, rồi xóa %(written)s.", what=what, tool=tool, written=written)
    if f.kind == "decision":
        decision = f.values.get("decisionRef") or _attr_value(f.values.get("calledDecision", ""), "decisionId")
        return "error", gettext(
            "%(what)s gọi bảng quyết định theo kiểu %(tool)s: %(written)s → <spiffworkflow:calledDecisionId>"
            "%(decision)s</spiffworkflow:calledDecisionId> trong extensionElements, với bảng quyết định DMN có mã đó "
            "trong gói. Hãy thêm phần tử đó và xóa %(written)s.", what=what, tool=tool, written=written,
            decision=decision or "…")
    if f.kind == "call":
        target = _attr_value(f.values.get("calledElement", ""), "processId")
        if target and not element.get("calledElement"):
            return "error", gettext(
                "%(what)s chỉ quy trình được gọi theo kiểu %(tool)s: %(written)s → calledElement=\"%(target)s\" "
                "trên chính phần tử. Hãy đặt thuộc tính đó và xóa %(written)s.", what=what, tool=tool,
                written=written, target=target)
        return "warning", gettext(
            "%(what)s: hệ thống bỏ qua %(written)s của %(tool)s; quy trình được gọi là quy trình có mã calledElement "
            "trong gói (luôn là bản trong cùng phiên bản). Hãy xóa %(written)s.", what=what, tool=tool,
            written=written)
    if f.kind == "io_mapping":
        return "error", gettext(
            "%(what)s đổi tên/tính dữ liệu vào ra theo kiểu %(tool)s (%(written)s); hệ thống không thực hiện các ánh "
            "xạ này, nên các bước sau sẽ không thấy dữ liệu như đã thiết kế. Hệ thống truyền nguyên dữ liệu của hồ "
            "sơ qua mọi bước: hãy đặt tên trường biểu mẫu, resultVariable của tác vụ dịch vụ và biến trong điều kiện "
            "trùng nhau, rồi xóa %(written)s.", what=what, tool=tool, written=written)
    if f.kind == "listener":
        return "error", gettext(
            "%(what)s có bộ lắng nghe sự kiện của %(tool)s (%(written)s) chạy mã khi bước bắt đầu/kết thúc; hệ thống "
            "không chạy mã đó. Việc cần làm phải là một bước trong sơ đồ: tác vụ dịch vụ có "
            "spiffworkflow:serviceTaskOperator; thông báo cho công dân và đồng bộ cổng dịch vụ công hệ thống tự làm "
            "khi trạng thái hồ sơ đổi. Hãy xóa %(written)s.", what=what, tool=tool, written=written)
    if f.kind == "multi_instance":
        return "error", gettext(
            "%(what)s lặp theo danh sách kiểu %(tool)s (%(written)s); hệ thống không đọc được danh sách này. Hãy khai "
            "báo dữ liệu lặp theo chuẩn BPMN (loopCardinality, hoặc loopDataInputRef và inputDataItem) rồi xóa "
            "%(written)s.", what=what, tool=tool, written=written)
    if f.kind == "properties":
        names = [part.split("=", 1)[0] for part in f.values.get("properties", "").split(", ") if part]
        known = [n for n in names if n in PLATFORM_PROPERTIES]
        if known:
            return "warning", gettext(
                "%(what)s: thuộc tính %(names)s viết trong %(written)s của %(tool)s bị bỏ qua; hệ thống chỉ đọc "
                "spiffworkflow:property. Hãy chuyển: <%(item)s name=\"…\" value=\"…\"/> → <spiffworkflow:property "
                "name=\"…\" value=\"…\"/> trong spiffworkflow:properties.", what=what,
                names=", ".join(f"«{n}»" for n in known), written=written, tool=tool,
                item=written.strip("«»").replace("properties", "property"))
        return "warning", gettext(
            "%(what)s: hệ thống bỏ qua thuộc tính riêng của %(tool)s (%(written)s: %(values)s); hệ thống chỉ đọc "
            "các spiffworkflow:property %(platform)s. Hãy xóa chúng nếu không cần.", what=what, tool=tool,
            written=written, values=f.values.get("properties", "")[:120], platform=", ".join(PLATFORM_PROPERTIES))
    if f.kind == "async":
        return "warning", gettext(
            "%(what)s: hệ thống bỏ qua %(written)s của %(tool)s: hồ sơ luôn được lưu ở mỗi bước chờ và tác vụ dịch vụ "
            "luôn chạy trong tác vụ nền, có thử lại. Hãy xóa %(written)s.", what=what, tool=tool, written=written)
    if f.kind == "starter":
        return "warning", gettext(
            "%(what)s: hệ thống bỏ qua %(written)s của %(tool)s: hồ sơ do công dân nộp trên cổng hoặc cán bộ một cửa "
            "nhập, thông tin người nộp có trong thong_tin_ho_so. Hãy xóa %(written)s.", what=what, tool=tool,
            written=written)
    if f.kind == "error_variables":
        return "warning", gettext(
            "%(what)s: hệ thống bỏ qua %(written)s của %(tool)s; lỗi của tác vụ dịch vụ được đặt vào biến loi_dich_vu "
            "trên nhánh của sự kiện biên. Hãy đọc loi_dich_vu và xóa %(written)s.", what=what, tool=tool,
            written=written)
    if f.kind == "message":
        return "warning", gettext(
            "%(what)s: hệ thống bỏ qua %(written)s của %(tool)s (khóa tương quan thông điệp). Hãy xóa %(written)s.",
            what=what, tool=tool, written=written)
    if f.kind == "metadata":
        return "warning", gettext(
            "%(what)s có nội dung ghi trong siêu dữ liệu của %(tool)s (%(written)s); hệ thống không hiển thị nó cho "
            "ai. Nếu cán bộ hoặc công dân cần đọc, hãy chép nội dung vào phần mô tả của phần tử (bpmn:documentation), "
            "phần hệ thống hiển thị cho người thực hiện bước.", what=what, tool=tool, written=written)
    return "warning", gettext(
        "%(what)s: hệ thống bỏ qua %(written)s của %(tool)s. Hãy xóa nếu không cần; nếu nó quy định việc phải làm, "
        "hãy vẽ việc đó thành một bước trong sơ đồ.", what=what, tool=tool, written=written)


def _form_key(value: str) -> str:
    """A form key out of a finding's value: the attribute's value, or formKey/formId of zeebe:formDefinition."""
    if "=" in value and '"' in value:
        return _attr_value(value, "formId") or _attr_value(value, "formKey") or _attr_value(value, "externalReference")
    return value


def _attr_value(described: str, name: str) -> str:
    found = re.search(rf'(?:^|\s){name}="([^"]*)"', described)
    return found.group(1) if found else ""


def _assignment(f: _Finding, what: str, written: str, lane: str | None) -> tuple[str, str]:
    value = next(iter(f.values.values()), "")
    if lane:
        where = gettext("Tác vụ nằm trong làn «%(lane)s»: người thực hiện là cán bộ có vai trò được gán cho làn đó "
                        "trong procedure.json (mục lanes).", lane=lane)
    else:
        where = gettext("Tác vụ chưa nằm trong làn nào nên không ai nhận được bước này: hãy vẽ làn cho bộ phận thực "
                        "hiện và kéo tác vụ vào đó.")
    severity = "warning" if lane else "error"
    if f.kind == "candidate_groups":
        advice = gettext("%(written)s → đặt tác vụ vào một làn được gán vai trò trong procedure.json lanes, ví dụ "
                         "\"%(lane)s\": \"chuyen_vien\" (vai trò: tiep_nhan, chuyen_vien, lanh_dao_phong, lanh_dao_ky, "
                         "tra_ket_qua, cong_dan); rồi xóa %(written)s.",
                         written=written, lane=lane or gettext("<tên làn>"))
        return severity, gettext("%(what)s giao cho nhóm %(groups)s theo kiểu %(tool)s; hệ thống giao bước theo vai "
                                 "trò của làn, không theo nhóm. %(where)s %(advice)s", what=what,
                                 groups=", ".join(f"«{g}»" for g in groups(value)) or written, tool=f.tool,
                                 where=where, advice=advice)
    if f.kind == "candidate_users":
        return severity, gettext(
            "%(what)s giao cho danh sách người dùng %(written)s của %(tool)s; hệ thống không giao bước cho người định "
            "sẵn mà cho mọi cán bộ có vai trò của làn trong cơ quan (một người nhận việc). %(where)s Hãy xóa "
            "%(written)s.", what=what, written=written, tool=f.tool, where=where)
    return severity, gettext(
        "%(what)s giao cho một người cụ thể (%(written)s của %(tool)s). Hệ thống không chuyển đổi thuộc tính này: "
        "bước được giao cho mọi cán bộ có vai trò của làn trong cơ quan thụ lý, và một người nhận việc; một tên người "
        "hay biểu thức như ${approver} không tương ứng với vai trò nào và sẽ sai khi nhân sự thay đổi. %(where)s Hãy "
        "gán làn cho vai trò của người đó và xóa %(written)s.", what=what, written=written, tool=f.tool, where=where)


# ---------------------------------------------------------------------------------------------- isExecutable


def _flow_nodes(process: etree._Element) -> list[etree._Element]:
    return [el for el in process.iter(f"{{{BPMN_NS}}}*") if _local(el.tag) in _FLOW_NODES]


@dataclass(frozen=True)
class Candidates:
    """The processes of a package that could be the one to run, and why (for the message)."""

    found: list[tuple[str, etree._Element]]
    with_user_tasks: bool  # narrowed to the processes with user tasks

    @property
    def only(self) -> tuple[str, etree._Element] | None:
        return self.found[0] if len(self.found) == 1 else None


def runnable_candidates(roots: Mapping[str, etree._Element]) -> Candidates:
    """Processes with steps; if several, those with user tasks (a procedure is people's work), if that narrows."""
    every = [(f, p) for f, p in processes(roots) if _flow_nodes(p)]
    if len(every) <= 1:
        return Candidates(every, False)
    people = [(f, p) for f, p in every if any(_local(el.tag) in _MANUAL for el in _flow_nodes(p))]
    if people and len(people) < len(every):
        return Candidates(people, True)
    return Candidates(every, False)


def _marking(process: etree._Element) -> str:
    value = process.get("isExecutable")
    return f'isExecutable="{value}"' if value is not None else gettext("không khai báo isExecutable")


def refine_not_executable(roots: Mapping[str, etree._Element], problems: Iterable[Problem]) -> list[Problem]:
    """The analysis's "no executable process" made precise: which process to mark, on its line, one each."""
    out: list[Problem] = []
    for problem in problems:
        if problem.code != "no_executable_process":
            out.append(problem)
            continue
        candidates = runnable_candidates(roots)
        if not candidates.found:
            out.append(problem)
            continue
        single = candidates.only
        if single is not None:
            file, process = single
            why = (gettext("quy trình duy nhất có tác vụ người dùng") if candidates.with_user_tasks
                   else gettext("quy trình duy nhất có các bước"))
            out.append(replace(problem, file=file, line=process.sourceline, message=gettext(
                "Quy trình %(process)s đang %(marking)s nên không chạy được; đây là %(why)s trong gói. Hãy đặt "
                "isExecutable=\"true\" trên quy trình «%(id)s».", process=label(process), marking=_marking(process),
                why=why, id=process.get("id") or "")))
            continue
        ids = ", ".join(f"«{p.get('id')}»" for _, p in candidates.found)
        for file, process in candidates.found:
            out.append(replace(problem, file=file, line=process.sourceline, message=gettext(
                "Quy trình %(process)s đang %(marking)s nên không chạy được. Gói có %(count)s quy trình có thể là quy "
                "trình cần chạy (%(ids)s): hãy đặt isExecutable=\"true\" trên đúng một quy trình và để các quy trình "
                "còn lại isExecutable=\"false\" (hoặc ghi \"process_id\" trong procedure.json).",
                process=label(process), marking=_marking(process), count=len(candidates.found), ids=ids)))
    return out
