"""Validation of the BPMN side of a procedure package, and its conformance verdict.

A designer uploads diagrams drawn in any modelling tool. Each package gets one of three verdicts:
`deployable`; `not_executable` (valid BPMN the platform cannot run: descriptive models, elements the
engine does not support, scripts outside the script language); or `invalid` (broken files or modelling
errors). Every problem names a file and, where one exists, a line. Nothing raised by the XML layer or by SpiffWorkflow
escapes `analyze_bpmn`: a hostile or odd diagram yields problems, never a crash.

The runtime builds specs with `build_parser_for`, so what was checked is exactly what runs.
"""

from __future__ import annotations

import ast
import difflib
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext, lazy_gettext, ngettext
from flask_babel.speaklater import LazyString
from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException as _ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition as _Timer
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent as _EndEvent
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser as _SpiffBpmnParser

from app.clock import now_utc as _now_utc
from app.engine.environment import DATA_NAME
from app.engine.expressions import FUNCTIONS, ExpressionError, check_expression
from app.engine.foreign import foreign_problems
from app.engine.multi import collection_name
from app.engine.schedule import ScheduleError, due, start_schedule
from app.engine.script_language import assigned_names, read_names
from app.engine.scripts import script_problems
from app.engine.service import MotcuaBpmnParser
from app.engine.xmlsafe import DEFAULT_MAX_BYTES, XmlError, parse_xml

_log = logging.getLogger(__name__)

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_DEFINITIONS = f"{{{BPMN_NS}}}definitions"
_NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}

DOSSIER_STATUS_PROPERTY = "dossierStatus"
ALLOTTED_TIME_PROPERTY = "allottedTime"
FORM_PROPERTY = "formJsonSchemaFilename"
UI_FORM_PROPERTY = "formUiSchemaFilename"
ASSIGNED_AGENCY_PROPERTY = "assignedAgency"  # app.engine.runtime reads it (same name)
DOSSIER_STATUSES = range(1, 11)  # TrangThaiHoSo 1..10, see DOMAIN.md

VERDICTS = ("deployable", "not_executable", "invalid")

# Error codes that mean "valid BPMN, but it cannot run here"; every other error means a broken file.
NOT_EXECUTABLE_CODES = frozenset({
    "no_process",
    "no_executable_process",
    "process_not_executable",
    "process_ambiguous",
    "service_task_unsupported",
    "expression_language_unsupported",
    "element_unsupported",
    "event_unsupported",
    "start_event_missing",
    "condition_missing",
    "implicit_split_unsupported",
    "loop_unsupported",
    "subprocess_unsupported",
    "call_target_missing",
    "business_rule_unlinked",
    "data_reference_unsupported",
    "timer_unspecified",
    "timer_start_mixed",
    "timer_start_invalid",
    "timer_start_past",
    "timer_cycle_unsupported",
    "timer_working_time_misplaced",
    "message_wait_unsupported",
    "engine_unsupported",
    "id_reserved",
})
# Expressions the platform cannot accept (another tool's language, a typo, a refused construct), and
# other engines' extensions (app/engine/foreign.py), leave the file valid BPMN: the diagram simply
# cannot run here until they are rewritten.
NOT_EXECUTABLE_PREFIXES = ("expression_", "script_", "foreign_")
# Problems that explain the verdict best come first in the reason.
_PROCESS_CODES = ("no_process", "no_executable_process", "process_not_executable", "process_ambiguous")


def is_not_executable_code(code: str) -> bool:
    """True for errors that make a valid diagram unrunnable here rather than broken."""
    return code in NOT_EXECUTABLE_CODES or code.startswith(NOT_EXECUTABLE_PREFIXES)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    pointer: str | None
    code: str
    message: str
    severity: str = "error"  # or "warning"


@dataclass(frozen=True)
class UserTaskInfo:
    process_id: str
    spec_name: str
    title: str
    lane: str | None
    form: str | None
    ui_form: str | None
    properties: dict[str, str]
    documentation: str = ""  # the BPMN documentation, shown to the person doing the task


@dataclass(frozen=True)
class ServiceTaskInfo:
    """A service task with a spiffworkflow:serviceTaskOperator: run later by a background job."""

    process_id: str
    spec_name: str
    title: str
    operation: str
    result_variable: str
    parameters: dict[str, dict[str, str]]
    properties: dict[str, str]


@dataclass
class BpmnAnalysis:
    verdict: str  # "deployable" | "not_executable" | "invalid"
    reason: str  # one Vietnamese sentence explaining the verdict
    problems: list[Problem]
    process_ids: list[str]
    executable_process_ids: list[str]
    process_id: str | None
    user_tasks: list[UserTaskInfo]
    lanes: list[str]
    end_events: list[tuple[str, dict[str, str]]]
    service_tasks: list[ServiceTaskInfo] = field(default_factory=list)
    task_files: dict[str, str] = field(default_factory=dict)  # spec name -> file, for locating problems
    task_lines: dict[str, int | None] = field(default_factory=dict)  # spec name -> line of its element
    data_flow: DataFlow | None = None  # for check_variables, once the forms are known
    start_event: str | None = None  # id of the chosen process's start event
    start_documentation: str = ""  # the process's and its start event's documentation, for the applicant
    # (timeDate | timeDuration | timeCycle, value) of a periodic procedure's timer start event (app.engine.schedule)
    start_timer: tuple[str, str] | None = None
    # True when the tasks above come from the engine's own build of the process (what will run); False when
    # the engine could not build it (or built it wrong) and they were read from the XML, for the checks only.
    engine_read: bool = False
    # When the chosen id is a collaboration: each participant's process id → the participant's name (its pool),
    # which procedure.json's `participants` maps to the agency doing that pool's steps.
    participants: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Reading files: the one parsing path shared with the runtime


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _kind(name: str) -> str:
    return "dmn" if name.lower().endswith(".dmn") else "bpmn"


def _check_root(name: str, root: etree._Element) -> None:
    if _kind(name) == "dmn":
        namespace = etree.QName(root).namespace or ""
        if _local(root.tag) != "definitions" or "dmn" not in namespace.lower():
            raise XmlError(
                name, "not_dmn", gettext("Tệp «%(name)s» không phải tài liệu DMN (thiếu phần tử gốc dmn:definitions).",
                                         name=name),
                root.sourceline,
            )
        return
    if root.tag != _DEFINITIONS:
        raise XmlError(
            name,
            "not_bpmn",
            gettext("Tệp «%(name)s» không phải tài liệu BPMN 2.0: phần tử gốc phải là definitions trong không gian "
                    "tên %(BPMN_NS)s, nhưng tệp có «%(tag)s».",
                    name=name, BPMN_NS=BPMN_NS, tag=root.tag),
            root.sourceline,
        )


_NUMBER = r"\d+(?:[.,]\d+)?"
_DURATION = (rf"P(?=\d|T\d)(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}W)?(?:{_NUMBER}D)?"
             rf"(?:T(?=\d)(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?")
_INSTANT = r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
_ISO_8601 = re.compile(
    rf"(?:{_DURATION}|{_INSTANT}|R\d*/(?:{_DURATION}|{_INSTANT})(?:/(?:{_DURATION}|{_INSTANT}))?)"
)
_TIMER_TAGS = tuple(f"{{{BPMN_NS}}}{tag}" for tag in ("timeDate", "timeDuration", "timeCycle"))


_TIMER_EXAMPLES = {
    "timeDuration": lazy_gettext("PT5M (5 phút) hoặc P7D (7 ngày)"),
    "timeDate": lazy_gettext("2026-12-01T08:00:00+07:00 hoặc working_days(3) (3 ngày làm việc)"),
    "timeCycle": lazy_gettext("R3/PT1H (3 lần, mỗi giờ một lần)"),
}


def _string_literal(text: str) -> str | None:
    """The string a timer value is when it is one string literal (a quoted ISO value), else None."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return tree.body.value if isinstance(tree.body, ast.Constant) and isinstance(tree.body.value, str) else None


def quote_timer_literals(root: etree._Element) -> None:
    """Turn bare ISO 8601 timer values (PT5M, P7DT0H, R3/PT1H, 2026-12-01T08:00:00+07:00) into string literals.

    The engine evaluates a timer value as an expression, so PT5M would be read as a variable; modelling
    tools write the bare ISO value. Only a value that is entirely one ISO 8601 duration, instant or
    repetition is quoted; anything else is an expression and is left as written. Done on the parsed tree
    shared by the checker and the runtime, so what was checked is what runs.
    """
    for element in root.iter(*_TIMER_TAGS):
        text = (element.text or "").strip()
        if text and _ISO_8601.fullmatch(text):
            element.text = f"'{text}'"


def _build(
    files: Mapping[str, bytes], max_bytes: int, on_error: Callable[[str, Exception], None] | None
) -> tuple[_SpiffBpmnParser, dict[str, etree._Element]]:
    """Parse every file hardened and add it to one SpiffBpmnParser (BPMN before DMN, by name).

    With `on_error`, a failing file is reported and skipped; without, the first error is raised.
    The roots returned are every file that is well-formed BPMN/DMN XML, even if the engine then
    refused it, so that static checks can still point at lines.
    """
    parser = MotcuaBpmnParser()
    roots: dict[str, etree._Element] = {}
    for name in sorted(files, key=lambda n: (_kind(n) == "dmn", n)):
        try:
            root = parse_xml(files[name], name, max_bytes)
            _check_root(name, root)
            if _kind(name) == "bpmn":
                quote_timer_literals(root)
            roots[name] = root
            if _kind(name) == "dmn":
                parser.add_dmn_xml(root, filename=name)
            else:
                parser.add_bpmn_xml(root, filename=name)
        except Exception as exc:
            if on_error is None:
                raise
            on_error(name, exc)
    return parser, roots


def build_parser_for(files: Mapping[str, bytes], max_bytes: int = DEFAULT_MAX_BYTES) -> _SpiffBpmnParser:
    """A SpiffBpmnParser holding every BPMN/DMN file of a package, parsed by the hardened path.

    Raises XmlError for unreadable files and SpiffWorkflow's exceptions for engine-level problems.
    """
    parser, _ = _build(files, max_bytes, None)
    return parser


# ---------------------------------------------------------------------------------------------
# Translating engine errors


_ELEMENT_LABELS = {
    "complexGateway": lazy_gettext("cổng phức hợp (complex gateway)"),
    "eventBasedGateway": lazy_gettext("cổng theo sự kiện"),
    "exclusiveGateway": lazy_gettext("cổng rẽ nhánh"),
    "inclusiveGateway": lazy_gettext("cổng bao hàm"),
    "parallelGateway": lazy_gettext("cổng song song"),
    "userTask": lazy_gettext("tác vụ người dùng"),
    "manualTask": lazy_gettext("tác vụ thủ công"),
    "serviceTask": lazy_gettext("tác vụ dịch vụ"),
    "scriptTask": lazy_gettext("tác vụ kịch bản"),
    "businessRuleTask": lazy_gettext("tác vụ quy tắc nghiệp vụ"),
    "sendTask": lazy_gettext("tác vụ gửi"),
    "receiveTask": lazy_gettext("tác vụ nhận"),
    "task": lazy_gettext("tác vụ"),
    "subProcess": lazy_gettext("quy trình con"),
    "adHocSubProcess": lazy_gettext("quy trình con tự do (ad hoc)"),
    "transaction": lazy_gettext("giao dịch (transaction)"),
    "callActivity": lazy_gettext("hoạt động gọi quy trình"),
    "startEvent": lazy_gettext("sự kiện bắt đầu"),
    "endEvent": lazy_gettext("sự kiện kết thúc"),
    "boundaryEvent": lazy_gettext("sự kiện biên"),
    "intermediateCatchEvent": lazy_gettext("sự kiện trung gian (bắt)"),
    "intermediateThrowEvent": lazy_gettext("sự kiện trung gian (phát)"),
    "sequenceFlow": lazy_gettext("luồng"),
    "process": lazy_gettext("quy trình"),
}

# (fragment of the engine's English message, code, Vietnamese sentence saying what to change). First match
# wins. {label} is the element's kind, {name} its name and id, {refs} what it refers to (when it can be read
# from the file). The engine's own text never reaches the designer: it is logged for the operators.
_ENGINE_MESSAGES: list[tuple[str, str, LazyString]] = [
    ("There is no support implemented for this task type", "element_unsupported",
     lazy_gettext("Phần tử {label} {name} chưa được bộ máy quy trình hỗ trợ; hãy thay bằng tác vụ người dùng, tác vụ "
                  "dịch vụ, cổng rẽ nhánh hoặc cổng song song.")),
    ("Unsupported Catch Event", "event_unsupported",
     lazy_gettext("Sự kiện biên {name} không có loại sự kiện mà bộ máy quy trình hỗ trợ; hãy dùng sự kiện lỗi "
                  "(error) hoặc hẹn giờ (timer).")),
    ("is not executable", "process_not_executable",
     lazy_gettext("Quy trình {name} được dùng tới nhưng không được đánh dấu có thể thực thi; hãy đặt "
                  "isExecutable=\"true\".")),
    ("No start event found", "start_event_missing",
     lazy_gettext("Quy trình {name} không có sự kiện bắt đầu; hãy vẽ một sự kiện bắt đầu (start event) và nối nó vào "
                  "bước đầu tiên.")),
    ("Non-default exclusive outgoing sequence flow without condition", "condition_missing",
     lazy_gettext("Luồng {name} ra khỏi cổng rẽ nhánh không có điều kiện và không phải luồng mặc định; hãy viết điều "
                  "kiện cho luồng hoặc chọn nó làm luồng mặc định của cổng.")),
    ("Multiple outgoing flows are not supported", "implicit_split_unsupported",
     lazy_gettext("Phần tử {label} {name} có nhiều luồng ra; hãy tách nhánh bằng cổng song song hoặc cổng rẽ nhánh.")),
    ("A Service Task must have an operator", "service_task_unsupported",
     lazy_gettext("Tác vụ dịch vụ {name} chưa khai báo thao tác (spiffworkflow:serviceTaskOperator); hãy chọn thao "
                  "tác cần gọi.")),
    ("Duplicate process ID", "process_duplicate",
     lazy_gettext("Mã quy trình {name} bị trùng giữa các quy trình trong gói; hãy đặt cho mỗi quy trình một mã "
                  "riêng.")),
    ("Unknown Time Specification", "timer_unspecified",
     lazy_gettext("Sự kiện hẹn giờ {name} chưa khai báo thời gian; hãy điền timeDate, timeDuration hoặc timeCycle.")),
    ("Time Specification", "timer_invalid",
     lazy_gettext("Thời gian của sự kiện hẹn giờ {name} không hợp lệ; hãy viết theo ISO 8601, ví dụ PT5M hoặc P7D.")),
    ("Cancel Events may only be used with transactions", "cancel_event_misplaced",
     lazy_gettext("Sự kiện hủy {name} chỉ được gắn vào giao dịch (transaction); hãy bỏ sự kiện này hoặc đổi nó thành "
                  "sự kiện lỗi.")),
    ("loopMaximum or loopCondition", "loop_unsupported",
     lazy_gettext("Vòng lặp của {label} {name} chưa có số lần tối đa (loopMaximum) hoặc điều kiện lặp; hãy khai báo "
                  "một trong hai.")),
    ("multiinstance task must specify", "loop_unsupported",
     lazy_gettext("Tác vụ đa thể hiện {name} cần đúng một trong hai: số lượng (loopCardinality) hoặc dữ liệu đầu "
                  "vào; hãy giữ lại một.")),
    ("data reference is missing from the IO specification", "reference_broken",
     lazy_gettext("Tác vụ đa thể hiện {name} tham chiếu dữ liệu không có trong ioSpecification; hãy khai báo dữ liệu "
                  "đó hoặc sửa tham chiếu.")),
    # SpiffWorkflow 3.2 calls its own helper with a wrong argument when a messageRef/signalRef/errorRef/
    # escalationRef names nothing, and reports the resulting TypeError.
    ("raise_validation_exception() got an unexpected keyword argument", "reference_broken",
     lazy_gettext("Phần tử {label} {name} tham chiếu tới {refs} chưa được khai báo trong tệp; hãy khai báo phần tử "
                  "đó (bpmn:message, bpmn:signal, bpmn:error hoặc bpmn:escalation) hoặc bỏ tham chiếu.")),
    ("Expected a", "reference_broken",
     lazy_gettext("Phần tử {label} {name} tham chiếu tới {refs} chưa được khai báo trong tệp; hãy khai báo phần tử "
                  "đó (bpmn:message, bpmn:signal, bpmn:error hoặc bpmn:escalation) hoặc bỏ tham chiếu.")),
    ("When looking for a task spec", "flow_target_missing",
     lazy_gettext("Một luồng ra khỏi {label} {name} trỏ tới phần tử không tồn tại; hãy nối lại luồng tới một bước có "
                  "trong sơ đồ.")),
    ("Cannot resolve data", "data_reference_unsupported",
     lazy_gettext("Phần tử {label} {name} có liên kết dữ liệu tới {refs}, nhưng bộ máy quy trình chỉ đọc/ghi được "
                  "đối tượng dữ liệu (data object) khai báo trong cùng quy trình; hãy nối liên kết tới một đối tượng "
                  "dữ liệu như vậy hoặc xóa liên kết dữ liệu.")),
    ("SubWorkflow", "subprocess_unsupported",
     lazy_gettext("Quy trình con {name} phải có đúng một sự kiện bắt đầu và ít nhất một sự kiện kết thúc; hãy vẽ "
                  "thêm các sự kiện đó bên trong quy trình con.")),
    ('No "calledElement"', "call_target_missing",
     lazy_gettext("Hoạt động gọi quy trình {name} chưa chỉ rõ quy trình được gọi; hãy điền calledElement.")),
    ("was not found", "call_target_missing",
     lazy_gettext("Gói không có quy trình được gọi tới {name}; hãy thêm tệp BPMN chứa quy trình đó hoặc sửa "
                  "calledElement.")),
    ('No DMN Diagram available with id "None"', "business_rule_unlinked",
     lazy_gettext("Tác vụ quy tắc nghiệp vụ {name} chưa gắn bảng quyết định DMN; hãy điền "
                  "spiffworkflow:calledDecisionId.")),
    ("No DMN Diagram available", "decision_missing",
     lazy_gettext("Gói không có bảng quyết định DMN mà tác vụ {name} cần; hãy thêm tệp .dmn hoặc sửa mã quyết định.")),
    ("identifier is missing", "reference_broken",
     lazy_gettext("Tệp có thông điệp/tín hiệu/lỗi/kho dữ liệu thiếu mã (id); hãy đặt mã cho phần tử đó.")),
    ("Data Store name is missing", "data_reference_unsupported",
     lazy_gettext("Tệp có kho dữ liệu (data store) không có tên; hệ thống chưa hỗ trợ kho dữ liệu, hãy xóa nó khỏi "
                  "sơ đồ.")),
    ("Data Store", "data_reference_unsupported",
     lazy_gettext("Kho dữ liệu (data store) {refs} chưa được hệ thống hỗ trợ; hãy xóa kho dữ liệu và các liên kết "
                  "tới nó khỏi sơ đồ.")),
    ("Correlation", "reference_broken",
     lazy_gettext("Khai báo tương quan thông điệp (correlation) không đầy đủ; hãy bổ sung biểu thức lấy giá trị hoặc "
                  "xóa nó.")),
    ("Ad hoc", "subprocess_unsupported",
     lazy_gettext("Quy trình con tự do (ad hoc) {name} có cấu trúc chưa được hỗ trợ; hãy dùng quy trình con thường.")),
    ("No decisions found", "decision_missing", lazy_gettext("Tệp DMN không có quyết định (decision) nào; hãy thêm "
                                                            "bảng quyết định.")),
    ("Multiple decision tables", "engine_unsupported",
     lazy_gettext("Tệp DMN có nhiều bảng quyết định; mỗi tệp chỉ được một bảng, hãy tách ra nhiều tệp.")),
    # A spiffworkflow:property or spiffworkflow:parameter without its name/value attribute.
    ("KeyError('value')", "property_invalid",
     lazy_gettext("Phần tử {label} {name} có thuộc tính mở rộng (spiffworkflow:property hoặc "
                  "spiffworkflow:parameter) thiếu giá trị (value); hãy điền giá trị hoặc xóa thuộc tính đó.")),
    ("KeyError('name')", "property_invalid",
     lazy_gettext("Phần tử {label} {name} có thuộc tính mở rộng (spiffworkflow:property) thiếu tên (name); hãy điền "
                  "tên hoặc xóa thuộc tính đó.")),
    # Coordinates of the drawing the engine reads to order branches.
    ("could not convert string to float", "diagram_layout_invalid",
     lazy_gettext("Tọa độ của một hình trong phần bản vẽ (bpmndi:BPMNShape, dc:Bounds){name} không phải là số; hãy "
                  "mở sơ đồ bằng công cụ vẽ và lưu lại.")),
    ("Malformed Output Expression", "expression_syntax",
     lazy_gettext("Biểu thức đầu ra trong bảng quyết định sai cú pháp; hãy sửa lại ô đó.")),
]

_REF_KINDS = {"messageRef": lazy_gettext("thông điệp"), "signalRef": lazy_gettext("tín hiệu"),
              "errorRef": lazy_gettext("lỗi"), "escalationRef": lazy_gettext("leo thang")}


def _clean(text: str) -> str:
    return " ".join(text.split())


def _declared(root: etree._Element, tag: str, ref: str) -> bool:
    return any(el.get("id") == ref for el in root.iterchildren(f"{{{BPMN_NS}}}{tag}"))


def _undeclared_refs(element: etree._Element | None) -> list[str]:
    """The message/signal/error/escalation references of an event that name nothing declared in its file."""
    if element is None:
        return []
    root = element.getroottree().getroot()
    found = []
    for definition in element.iterchildren():
        for attr, kind in _REF_KINDS.items():
            ref = definition.get(attr) if isinstance(definition.tag, str) else None
            if ref and not _declared(root, attr.removesuffix("Ref"), ref):
                found.append(f"{kind} «{ref}»")
    return found


def _data_refs(element: etree._Element | None) -> list[str]:
    """What an element's data associations point to, preferring targets that are not data objects of the file."""
    if element is None:
        return []
    root = element.getroottree().getroot()
    refs = [str(r.text or "").strip() for r in _xpath(
        element, "./bpmn:dataInputAssociation/bpmn:sourceRef|./bpmn:dataOutputAssociation/bpmn:targetRef")]
    objects = {str(el.get("id")) for el in root.iter(f"{{{BPMN_NS}}}dataObjectReference")}
    unknown = [r for r in refs if r and r not in objects]
    return [f"«{r}»" for r in (unknown or refs) if r]


def translate_engine_error(
    exc: BaseException, default_file: str,
    elements: Mapping[str, Mapping[str, etree._Element]] | None = None,
) -> Problem:
    """Any exception SpiffWorkflow's parser raises, as a Problem in the designer's words.

    The file, line and element (kind, name, id) come from the exception where it has them and from the
    parsed files otherwise. What the library said is logged, never shown: its messages are English, some
    embed Python object reprs, and some are its own bugs (a TypeError from a helper called with a wrong
    argument). Anything unrecognised gets a generic sentence that still names the element.
    """
    elements = elements or {}
    raw = _clean(str(exc)) or type(exc).__name__
    _log.info("engine refused a diagram (%s): %s: %s", default_file, type(exc).__name__, raw)
    file, element_id, tag, element_name = default_file, "", "", ""
    line: int | None = None
    if isinstance(exc, _ValidationException):
        file = exc.file_name or default_file
        element_id = _clean(str(exc.id or ""))
        element_name = _clean(str(exc.name or ""))
        tag = str(exc.tag or "").split(":")[-1].split("}")[-1]
        if isinstance(exc.line_number, int) and exc.line_number > 0:
            line = exc.line_number
    element = elements.get(file, {}).get(element_id) if element_id else None
    if element is None and element_id:
        element = next((index[element_id] for index in elements.values() if element_id in index), None)
    if element is not None and line is None:
        line = int(element.sourceline or 0) or None
    label = _ELEMENT_LABELS.get(tag, "")
    name = ""
    if element_name and element_id and element_name != element_id:
        name = f"«{element_name}» (id «{element_id}»)"
    elif element_id or element_name:
        name = f"«{element_id or element_name}»"
    if "was not found" in raw and not name:
        called = re.search(r"process '([^']*)'", raw)
        name = f"«{called.group(1)}»" if called else ""
    if "Data Store with name" in raw:
        store = re.search(r"Data Store with name (.*?) has no implementation", raw)
        refs = f"«{store.group(1).strip()}»" if store and store.group(1).strip() else ""
    elif "Cannot resolve data" in raw:
        refs = ", ".join(_data_refs(element)) or gettext("một đối tượng dữ liệu")
    else:
        refs = ", ".join(_undeclared_refs(element)) or gettext("thông điệp/tín hiệu/lỗi")
    for fragment, code, template in _ENGINE_MESSAGES:
        if fragment in raw:
            text = _clean(template.format(label=label, name=name, refs=refs))
            return Problem(file, line, None, code, _sentence(text.replace(" ;", ";").replace(" .", ".")))
    where = f" {label or gettext('phần tử')} {name}" if name else ""
    return Problem(
        file, line, None, "engine_unsupported",
        gettext("Bộ máy quy trình không dựng được%(where)s. Hãy mở phần tử này trong công cụ vẽ và kiểm tra các "
                "thuộc tính, liên kết của nó theo chuẩn BPMN 2.0; nếu nó dùng tính năng riêng của công cụ khác, hãy "
                "vẽ lại bằng phần tử chuẩn (tác vụ người dùng, tác vụ dịch vụ, cổng rẽ nhánh, sự kiện).",
                where=where),
    )


# ---------------------------------------------------------------------------------------------
# Static checks on the XML


def _xpath(node: etree._Element, path: str) -> list[Any]:
    result = node.xpath(path, namespaces=_NS)
    return list(result) if isinstance(result, list) else []


def _label_of(element: etree._Element) -> str:
    name = _clean(element.get("name") or element.get("id") or "")
    return f"«{name}»" if name else ""


# Names SpiffWorkflow 3.2 gives its own task specs (bpmn_process_spec.py, ProcessParser.add_tasks,
# TaskParser._add_boundary_event, TaskParser._copy_task_attrs). A BPMN element becomes a task spec named
# by its id, so an element with one of these ids silently replaces the engine's own: a start event
# called "Start" leaves the workflow with no root task ("No output task connected").
RESERVED_IDS = frozenset({"Start", "End", "Root", "StartEventSplit", "StartEventJoin"})
RESERVED_SUFFIXES = (".EndJoin", ".BoundaryEventSplit", ".BoundaryEventJoin", " [child]")
# Elements the engine turns into task specs (its parser classes).
_TASK_SPEC_TAGS = frozenset(
    etree.QName(tag).localname
    for tag in {**MotcuaBpmnParser.PARSER_CLASSES, **MotcuaBpmnParser.OVERRIDE_PARSER_CLASSES}
)


def is_reserved_id(element_id: str) -> bool:
    return element_id in RESERVED_IDS or element_id.endswith(RESERVED_SUFFIXES)


def _script_where(kind: str, owner: etree._Element | None) -> str:
    """Which script, in a message: "của tác vụ «…»", or "chạy trước của phần tử «…» (spiffworkflow:preScript)"."""
    label = _label_of(owner) if owner is not None else ""
    if kind == "script":
        return gettext("của tác vụ %(element)s", element=label)
    return gettext("%(when)s của phần tử %(element)s (spiffworkflow:%(tag)s)",
                   when=gettext("chạy trước") if kind == "preScript" else gettext("chạy sau"), element=label, tag=kind)


_JUEL = re.compile(r"^\s*[$#]\{.*\}\s*$", re.DOTALL)


class _Checker:
    """Collects problems while walking the processes that would run."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.start_timer: tuple[str, str] | None = None  # a periodic procedure's start (_timer_start)
        # Names of the messages some element of the package sends (a throw or end event, a send task): a wait
        # for one of them is delivered inside the dossier's own workflow (a collaboration's participants).
        self.thrown_messages: set[str] = set()

    def add(self, file: str, element: Any, code: str, message: str, severity: str = "error") -> None:
        line = element.sourceline if element is not None else None
        self.problems.append(Problem(file, line, None, code, message, severity))

    def expression(self, file: str, element: etree._Element, text: str | None, what: str,
                   language: str | None = None) -> None:
        if text is None or not text.strip():
            return
        if (language and "python" not in language.lower()) or _JUEL.match(text):
            self.add(file, element, "expression_language_unsupported",
                     gettext("%(what)s «%(expression)s» viết theo ngôn ngữ biểu thức của công cụ khác (%(value)s); hệ "
                             "thống chỉ hiểu biểu thức dạng Python đơn giản.",
                             what=what, expression=text.strip()[:80], value=language or 'JUEL'))
            return
        try:
            check_expression(text)
        except ExpressionError as err:
            self.add(file, element, err.code, f"{what}: {err.message}")

    def process(self, file: str, process: etree._Element) -> None:
        for element in process.iter():
            local = _local(element.tag)
            namespace = etree.QName(element).namespace if isinstance(element.tag, str) else None
            if namespace == BPMN_NS:
                self._bpmn_element(file, element, local)
            elif namespace == SPIFF_NS:
                self._spiff_element(file, element, local)

    def _message_wait(self, file: str, element: etree._Element, local: str) -> None:
        """Waiting for a message or signal would leave a dossier stuck: nothing delivers them yet."""
        waits = _xpath(element, "./bpmn:messageEventDefinition|./bpmn:signalEventDefinition")
        if waits and all(_message_name(w) in self.thrown_messages for w in waits) or (
                local == "receiveTask" and _message_name(element) in self.thrown_messages):
            return  # another participant of the dossier's collaboration sends it
        if local == "startEvent":
            parent = element.getparent()
            if not waits or parent is None or parent.get("triggeredByEvent") == "true":
                return
            plain = [e for e in _xpath(parent, "./bpmn:startEvent") if not _xpath(e, "./bpmn:*[contains(local-name(), "
                     "'EventDefinition')]")]
            if plain:
                return
        elif local == "intermediateCatchEvent":
            if not waits:
                return
        elif local == "boundaryEvent":
            if waits:
                self.add(file, element, "message_boundary_ignored",
                         gettext("Sự kiện biên %(element)s chờ thông điệp/tín hiệu sẽ không bao giờ xảy ra: hệ "
                                 "thống chưa có kênh gửi thông điệp vào hồ sơ.",
                                 element=_label_of(element)), "warning")
            return
        elif local != "receiveTask":
            return
        self.add(file, element, "message_wait_unsupported",
                 gettext("Phần tử %(element)s chờ nhận thông điệp/tín hiệu từ bên ngoài; hệ thống chưa có kênh gửi "
                         "thông điệp vào hồ sơ nên hồ sơ sẽ bị treo tại đây.",
                         element=_label_of(element)))

    def _boundary_leads_somewhere(self, file: str, element: etree._Element) -> None:
        """A boundary event with no outgoing flow: an interrupting one cancels its step and ends the dossier's path
        there (with no final status the platform would record the result as returned); a non-interrupting one
        does nothing when it fires."""
        parent = element.getparent()
        if parent is None or parent.xpath("./bpmn:sequenceFlow[@sourceRef=$id]", namespaces=_NS,
                                          id=element.get("id") or ""):
            return
        if element.get("cancelActivity", "true").lower() == "false":
            self.add(file, element, "boundary_without_flow",
                     gettext("Sự kiện biên %(element)s không có luồng đi ra nên khi xảy ra không làm gì cả; hãy nối "
                             "nó tới bước cần làm (ví dụ nhắc việc) hoặc xóa nó.", element=_label_of(element)),
                     severity="warning")
        else:
            self.add(file, element, "boundary_without_flow",
                     gettext("Sự kiện biên %(element)s ngắt bước mà không có luồng đi ra: khi xảy ra, bước bị hủy và "
                             "hồ sơ dừng ở đó không có kết quả. Hãy nối nó tới bước xử lý tiếp (ví dụ chuyển lãnh "
                             "đạo) hoặc bỏ chọn «ngắt» (cancelActivity=false).", element=_label_of(element)))

    def _event_gateway_targets(self, file: str, element: etree._Element) -> None:
        """An event-based gateway waits for the first of the events its flows lead to: each must be an event that
        waits (a timer; the engine cannot build the gateway otherwise)."""
        parent = element.getparent()
        if parent is None:
            return
        nodes = {str(n.get("id")): n for n in parent if isinstance(n.tag, str) and n.get("id")}
        for flow in parent.xpath("./bpmn:sequenceFlow[@sourceRef=$id]", namespaces=_NS, id=element.get("id") or ""):
            target = nodes.get(str(flow.get("targetRef") or ""))
            if target is None:
                continue
            kind = _local(target.tag)
            waits = _xpath(target, "./bpmn:*[contains(local-name(), 'EventDefinition')]")
            if kind == "receiveTask" or (kind == "intermediateCatchEvent" and waits):
                continue
            self.add(file, target, "event_gateway_target_invalid",
                     gettext("Cổng theo sự kiện %(gateway)s dẫn tới %(kind)s %(element)s, nhưng sau cổng theo sự kiện "
                             "chỉ được là sự kiện chờ (sự kiện trung gian hẹn giờ): cổng đi theo nhánh của sự kiện "
                             "xảy ra trước. Hãy đặt một sự kiện hẹn giờ trước %(element)s, hoặc dùng cổng rẽ nhánh "
                             "nếu nhánh được chọn theo điều kiện.",
                             gateway=_label_of(element), kind=_ELEMENT_LABELS.get(kind, gettext("phần tử")),
                             element=_label_of(target)))

    def _bpmn_element(self, file: str, element: etree._Element, local: str) -> None:
        element_id = element.get("id") or ""
        if local in _TASK_SPEC_TAGS and is_reserved_id(element_id):
            suggestion = re.sub(r"[^\w-]", "_", element_id).strip("_") + "_1"
            self.add(file, element, "id_reserved",
                     gettext("%(kind)s %(element)s có mã (id) «%(element_id)s», là tên bộ máy quy trình dành "
                             "riêng cho phần tử nội bộ của nó (%(items)s, hoặc tên kết thúc bằng %(items2)s); quy "
                             "trình sẽ không chạy được. Hãy đổi mã phần tử, ví dụ thành «%(suggestion)s», và cập "
                             "nhật các luồng nối tới nó.",
                             kind=_ELEMENT_LABELS.get(local, gettext('Phần tử')).capitalize(),
                             element=_label_of(element), element_id=element_id, items=', '.join(sorted(RESERVED_IDS)),
                             items2=', '.join(s.strip() for s in RESERVED_SUFFIXES), suggestion=suggestion))
        if local in ("startEvent", "intermediateCatchEvent", "boundaryEvent", "receiveTask"):
            self._message_wait(file, element, local)
        if local == "startEvent":
            self._timer_start(file, element)
        if local == "boundaryEvent":
            self._boundary_leads_somewhere(file, element)
        if local == "eventBasedGateway":
            self._event_gateway_targets(file, element)
        if local == "scriptTask":
            self._script_task(file, element)
        elif local == "serviceTask":
            if not _xpath(element, "./bpmn:extensionElements/spiffworkflow:serviceTaskOperator"):
                self.add(file, element, "service_task_unsupported",
                         gettext("Tác vụ dịch vụ %(element)s chưa khai báo thao tác kết nối "
                                 "(spiffworkflow:serviceTaskOperator) nên hệ thống không biết gọi dịch vụ nào.",
                                 element=_label_of(element)))
        elif local == "conditionExpression":
            parent = element.getparent()
            where = (gettext("Điều kiện trên luồng %(flow)s", flow=_label_of(parent)) if parent is not None
                     else gettext("Điều kiện"))
            if element.text is not None and not element.text.strip() and parent is not None:
                self.add(file, element, "expression_empty", gettext("%(where)s để trống.", where=where))
            self.expression(file, element, element.text, where, element.get("language"))
        elif local in ("condition", "loopCondition", "completionCondition", "loopCardinality"):
            what = {
                "condition": gettext("Điều kiện của sự kiện điều kiện"),
                "loopCondition": gettext("Điều kiện lặp"),
                "completionCondition": gettext("Điều kiện hoàn thành"),
                "loopCardinality": gettext("Số lần thực hiện (loopCardinality)"),
            }[local]
            self.expression(file, element, element.text, what, element.get("language"))
        elif local == "timerEventDefinition" and not _xpath(
            element, "./bpmn:timeDate|./bpmn:timeDuration|./bpmn:timeCycle"
        ):
            owner = element.getparent()
            self.add(file, owner if owner is not None else element, "timer_unspecified",
                     gettext("Sự kiện hẹn giờ %(value)s chưa khai báo thời gian (timeDate, timeDuration hoặc "
                             "timeCycle).",
                             value=_label_of(owner) if owner is not None else ''))
        elif local in ("timeDate", "timeDuration", "timeCycle"):
            self._timer_value(file, element, local)
        elif local in ("formalExpression", "messagePath") and _local(getattr(element.getparent(), "tag", "")) == (
            "correlationPropertyRetrievalExpression"
        ):
            self.expression(file, element, element.text, gettext("Biểu thức tương quan thông điệp"))

    def _timer_value(self, file: str, element: etree._Element, local: str) -> None:
        """A timer's time: present, an expression the evaluator accepts (a plain ISO 8601 value whatever `language`
        the modelling tool wrote, e.g. MIWG C.3.0's XPath), working-time functions in timeDate only, cycles only
        where more than one occurrence can happen (a non-interrupting boundary event)."""
        definition = element.getparent()
        event = definition.getparent() if definition is not None else None
        label = _label_of(event) if event is not None else ""
        text = (element.text or "").strip()
        if not text:
            self.add(file, event if event is not None else element, "timer_unspecified",
                     gettext("Sự kiện hẹn giờ %(event)s có thẻ thời gian (%(tag)s) để trống: công cụ vẽ đã không ghi "
                             "thời gian nào. Hãy chọn Timer → Type và điền Value, ví dụ %(example)s.",
                             event=label, tag=local, example=_TIMER_EXAMPLES[local]))
            return
        literal = _string_literal(text)
        plain_iso = literal is not None and _ISO_8601.fullmatch(literal) is not None
        self.expression(file, element, element.text, gettext("Thời gian hẹn giờ"),
                        None if plain_iso else element.get("language"))
        if literal is None and local != "timeDate" and re.search(r"\bworking_(days|hours)\s*\(", text):
            self.add(file, element, "timer_working_time_misplaced",
                     gettext("Thời gian hẹn giờ của sự kiện %(event)s dùng working_days()/working_hours() trong "
                             "%(tag)s; hai hàm này cho ra một thời điểm, hãy đặt biểu thức vào timeDate.",
                             event=label, tag=local))
        if local == "timeCycle" and event is not None:
            kind = _local(event.tag)
            repeats = kind == "boundaryEvent" and event.get("cancelActivity", "true").lower() == "false"
            if kind in ("intermediateCatchEvent", "boundaryEvent") and not repeats:
                self.add(file, element, "timer_cycle_unsupported",
                         gettext("Sự kiện hẹn giờ %(event)s lặp lại (timeCycle) nhưng chỉ xảy ra được một lần (sự kiện "
                                 "trung gian hoặc sự kiện biên ngắt công việc): mỗi lần lặp sẽ mở thêm một nhánh "
                                 "trùng. Hãy dùng timeDuration/timeDate, hoặc sự kiện biên không ngắt "
                                 "(cancelActivity=false) để nhắc nhiều lần.", event=label))
        self._timer_literal(file, element, local)

    def _timer_start(self, file: str, element: etree._Element) -> None:
        """A timer start event of the process makes a periodic procedure, started by the platform's scheduler
        (app.engine.schedule): it must be the process's only start event (a procedure a citizen submits has a none
        start event), and its time one plain ISO 8601 value with an occurrence still to come."""
        parent = element.getparent()
        if parent is None or _local(parent.tag) != "process" or not _xpath(element, "./bpmn:timerEventDefinition"):
            return
        label = _label_of(element)
        if len(_xpath(parent, "./bpmn:startEvent")) > 1:
            self.add(file, element, "timer_start_mixed",
                     gettext("Sự kiện bắt đầu %(element)s là sự kiện hẹn giờ nhưng quy trình còn sự kiện bắt đầu "
                             "khác. Thủ tục định kỳ (hệ thống tự tạo hồ sơ theo lịch) chỉ có một sự kiện bắt đầu "
                             "hẹn giờ; thủ tục công dân nộp hồ sơ dùng một sự kiện bắt đầu thường.", element=label))
            return
        values = _xpath(element, "./bpmn:timerEventDefinition/bpmn:*")
        values = [v for v in values if _local(v.tag) in ("timeDate", "timeDuration", "timeCycle")]
        if not values or not (values[0].text or "").strip():
            return  # timer_unspecified says what to fill in
        kind, text = _local(values[0].tag), (values[0].text or "").strip()
        now = _now_utc()
        try:
            schedule = start_schedule(kind, text, now)
        except ScheduleError:
            self.add(file, element, "timer_start_invalid",
                     gettext("Thời gian hẹn giờ «%(value)s» của sự kiện bắt đầu %(element)s không phải giá trị ISO "
                             "8601 mà hệ thống lập lịch được. Thủ tục định kỳ cần một giá trị cố định, ví dụ "
                             "R/2027-01-01T08:00:00+07:00/P1M (mùng 1 hằng tháng lúc 8 giờ), R12/P1W (12 tuần, mỗi "
                             "tuần một lần) hoặc 2027-01-01T08:00:00+07:00 (một lần).",
                             value=text[:60], element=label))
            return
        if due(schedule, now, None, now).next is None:
            self.add(file, element, "timer_start_past",
                     gettext("Sự kiện bắt đầu %(element)s hẹn giờ «%(value)s» không còn lần nào sau thời điểm "
                             "triển khai: hệ thống sẽ không bao giờ tạo hồ sơ. Hãy đặt một thời điểm trong tương lai "
                             "hoặc một chu kỳ lặp lại.", element=label, value=text[:60]))
            return
        self.start_timer = (kind, text)

    def _timer_literal(self, file: str, element: etree._Element, local: str) -> None:
        """A timer written as a plain value must be one the engine can read, of the kind its element says."""
        try:
            tree = ast.parse((element.text or "").strip(), mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return
        if not (isinstance(tree.body, ast.Constant) and isinstance(tree.body.value, str)):
            return
        value = tree.body.value
        try:
            if local == "timeDuration":
                if not value.upper().startswith("P") or not _ISO_8601.fullmatch(value):
                    raise ValueError(value)
                # Computed, not only parsed: a fractional month or year parses, then fails when armed.
                _Timer.get_timedelta_from_start(_Timer.parse_iso_duration(value))
            elif local == "timeDate":
                if value.upper().startswith(("P", "R")):
                    raise ValueError(value)
                _Timer.parse_time_or_duration(value)
            else:
                _Timer.parse_iso_recurring_interval(value)
        except Exception:
            owner = element.getparent()
            event = owner.getparent() if owner is not None else None
            example = _TIMER_EXAMPLES[local]
            self.add(file, element, "timer_invalid",
                     gettext("Thời gian hẹn giờ «%(value)s» của sự kiện %(event)s không phải giá trị ISO 8601 hợp "
                             "lệ cho %(tag)s; hãy viết ví dụ %(example)s.",
                             value=value[:60], event=_label_of(event) if event is not None else '', tag=local,
                             example=example))

    def _script_task(self, file: str, element: etree._Element) -> None:
        """A script task: its script in the script language (app.engine.script_language), checked here."""
        language = element.get("scriptFormat")
        if language and "python" not in language.lower():
            self.add(file, element, "script_language_unsupported",
                     gettext("Tác vụ kịch bản %(element)s viết bằng %(language)s; hệ thống chỉ chạy kịch bản Python "
                             "rút gọn (scriptFormat «python»). Hãy viết lại kịch bản.",
                             element=_label_of(element), language=language[:40]))
            return
        scripts = _xpath(element, "./bpmn:script")
        if not scripts:
            self.add(file, element, "script_missing",
                     gettext("Tác vụ kịch bản %(element)s chưa có kịch bản (thẻ bpmn:script).",
                             element=_label_of(element)))
            return
        self.script(file, scripts[0], _script_where("script", element))

    def script(self, file: str, element: etree._Element, where: str) -> None:
        """Every refusal of the script in `element`'s text, each on the BPMN line where it is written."""
        text = element.text or ""
        if not text.strip():
            return
        for line, code, reason in script_problems(text):
            at = element.sourceline + line - 1 if element.sourceline is not None and line else element.sourceline
            self.problems.append(Problem(file, at, None, code, gettext(
                "Kịch bản %(where)s bị từ chối%(at)s: %(reason)s.", where=where,
                at=gettext(" (dòng %(line)s của kịch bản)", line=line) if line else "", reason=reason)))

    def _spiff_element(self, file: str, element: etree._Element, local: str) -> None:
        if local in ("preScript", "postScript"):
            owner = element.getparent().getparent() if element.getparent() is not None else None
            self.script(file, element, _script_where(local, owner))
        elif local == "parameter" and element.get("value") is not None:
            self.expression(file, element, element.get("value"), gettext("Tham số «%(parameter)s» của tác vụ dịch vụ",
                                                                         parameter=element.get('id')))
        elif local in ("messagePayload", "payloadExpression", "expression"):
            self.expression(file, element, element.text, gettext("Biểu thức dữ liệu thông điệp"))
        elif local == "property":
            self._property(file, element)

    def _property(self, file: str, element: etree._Element) -> None:
        name, value = element.get("name"), element.get("value")
        if name == DOSSIER_STATUS_PROPERTY:
            try:
                status = int(str(value).strip())
            except ValueError:
                status = 0
            if status not in DOSSIER_STATUSES:
                self.add(file, element, "status_out_of_range",
                         gettext("Trạng thái hồ sơ (dossierStatus) «%(value)s» không hợp lệ; phải là số nguyên từ 1 "
                                 "đến 10 theo bảng trạng thái hồ sơ (TrangThaiHoSo).",
                                 value=value))
        elif name == ALLOTTED_TIME_PROPERTY:
            try:
                days = Decimal(str(value).strip())
            except InvalidOperation:
                days = Decimal(0)
            if not days.is_finite() or days <= 0 or not re.fullmatch(r"\d+(\.\d+)?", str(value).strip()):
                self.add(file, element, "allotted_time_invalid",
                         gettext("Thời hạn xử lý của bước (allottedTime) «%(value)s» không hợp lệ; phải là số ngày "
                                 "làm việc dương, ví dụ 1 hoặc 0.5.",
                                 value=value))
        elif name == ASSIGNED_AGENCY_PROPERTY and value is not None:
            self.expression(file, element, value, gettext("Cơ quan thực hiện bước (assignedAgency)"))
        elif value is None:
            self.add(file, element, "property_invalid",
                     gettext("Thuộc tính «%(name)s» thiếu giá trị (value).", name=name))

    def dmn(self, file: str, root: etree._Element) -> None:
        for text in root.iter("{*}text"):
            parent = text.getparent()
            kind = _local(parent.tag) if parent is not None else ""
            value = text.text
            if kind == "inputExpression":
                self.expression(file, text, value, gettext("Biểu thức đầu vào của bảng quyết định"))
            elif kind == "outputEntry":
                self.expression(file, text, value, gettext("Giá trị đầu ra của bảng quyết định"))
            elif kind == "inputEntry" and value and value.strip() and value.strip() != "-":
                self._dmn_input_entry(file, text, value)

    def _dmn_input_entry(self, file: str, element: etree._Element, value: str) -> None:
        # Same shapes the DMN engine accepts: a value (compared with ==), "? op value", or "op value".
        text = re.sub(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)", "dmninputexpr", value)
        try:
            check_expression(text)
        except ExpressionError as first:
            if first.code != "expression_syntax":
                self.add(file, element, first.code, gettext("Ô điều kiện của bảng quyết định: %(message)s",
                                                            message=first.message))
                return
            try:
                check_expression(f"dmninputexpr {text}")
            except ExpressionError:
                self.add(file, element, first.code, gettext("Ô điều kiện của bảng quyết định: %(message)s",
                                                            message=first.message))


# ---------------------------------------------------------------------------------------------
# Variables that expressions read, and which steps define them

# Names every expression may read: the task data as one dict (environment.DATA_NAME) and the dossier's
# own facts the platform adds when it starts a workflow (app/dossiers/services.py).
SYSTEM_NAMES = frozenset({DATA_NAME, "thong_tin_ho_so"})
# What the runtime puts in the data of an error boundary event that caught a failed service call
# (app/engine/runtime.py, WorkflowRun.fail_service).
CAUGHT_ERROR_NAME = "loi_dich_vu"
_AFTER = "#sau"  # suffix of the virtual node "a sub-process has finished"
# Beyond this many flow nodes the path analysis (which names every path has defined) is skipped.
MAX_FLOW_NODES = 2000


@dataclass(frozen=True)
class ExpressionUse:
    """An expression and the names it reads, evaluated at one flow node (before or after it ran)."""

    file: str
    line: int | None
    what: str
    names: frozenset[str]
    guarded: frozenset[str]  # names it checks with 'x' in du_lieu first
    node: str
    after: bool


@dataclass
class DataFlow:
    """The chosen process as a graph over which the names the data must hold are propagated."""

    preds: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)  # node -> [(pred, pred's OUT?)]
    starts: set[str] = field(default_factory=set)
    defines: dict[str, set[str]] = field(default_factory=dict)
    union_joins: set[str] = field(default_factory=set)
    titles: dict[str, str] = field(default_factory=dict)
    uses: list[ExpressionUse] = field(default_factory=list)
    # Multi-instance tasks: their forms' fields stay in their instances, only their collection leaves them.
    collected: set[str] = field(default_factory=set)


def _bound_targets(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def _free(node: ast.AST, bound: frozenset[str]) -> set[str]:
    """Names an expression reads from the data; comprehension variables and allowed functions excluded."""
    if isinstance(node, ast.Name):
        return set() if node.id in bound or node.id in FUNCTIONS else {node.id}
    if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
        names: set[str] = set()
        inner = set(bound)
        for generator in node.generators:
            names |= _free(generator.iter, frozenset(inner))
            inner |= _bound_targets(generator.target)
            for condition in generator.ifs:
                names |= _free(condition, frozenset(inner))
        parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        for part in parts:
            names |= _free(part, frozenset(inner))
        return names
    found: set[str] = set()
    for child in ast.iter_child_nodes(node):
        found |= _free(child, bound)
    return found


def _guarded(tree: ast.AST) -> set[str]:
    """Names an expression tests for with `'x' in du_lieu` (it expects them to be absent sometimes)."""
    found = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In)
                and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str)
                and isinstance(node.comparators[0], ast.Name) and node.comparators[0].id == DATA_NAME):
            found.add(node.left.value)
    return found


def expression_names(expression: str) -> tuple[frozenset[str], frozenset[str]]:
    """(free names, guarded names) of an expression that passed check_expression (so its depth is bounded)."""
    tree = ast.parse(expression.strip(), mode="eval")
    return frozenset(_free(tree.body, frozenset())), frozenset(_guarded(tree))


def _is_subprocess(element: etree._Element) -> bool:
    return _local(element.tag) in ("subProcess", "transaction", "adHocSubProcess")


def _data_flow(
    processes: list[tuple[str, etree._Element]], chosen: etree._Element, decisions: Mapping[str, set[str]],
    decision_inputs: Mapping[str, list[tuple[str, etree._Element]]] | None = None,
) -> DataFlow:
    flow = DataFlow()
    for file, process in processes:
        nodes = [el for el in process.iter(f"{{{BPMN_NS}}}*") if _local(el.tag) in _TASK_SPEC_TAGS]
        by_id = {str(el.get("id")): el for el in nodes if el.get("id")}
        for node_id, element in by_id.items():
            local = _local(element.tag)
            flow.titles[node_id] = _clean(element.get("name") or node_id)
            flow.preds.setdefault(node_id, [])
            # Where dossiers start: the chosen process's start, and a message start (a collaboration's participant
            # started by another participant's message, with nothing but the message's payload).
            if local == "startEvent" and (element.getparent() is chosen
                                          or _xpath(element, "./bpmn:messageEventDefinition")):
                flow.starts.add(node_id)
            for variable in _xpath(element, "./bpmn:messageEventDefinition//spiffworkflow:messageVariable"
                                            "|./bpmn:extensionElements/spiffworkflow:messageVariable"):
                if _clean(variable.text or ""):
                    flow.defines.setdefault(node_id, set()).add(_clean(variable.text or ""))
            for payload in _xpath(element, "./bpmn:messageEventDefinition//spiffworkflow:messagePayload"):
                _use(flow, file, payload, payload.text, node_id, True,
                     gettext("Nội dung thông điệp gửi đi tại %(element)s", element=_label_of(element)))
            if local == "boundaryEvent" and element.get("attachedToRef"):
                flow.preds[node_id].append((str(element.get("attachedToRef")), False))
                if _xpath(element, "./bpmn:errorEventDefinition"):
                    flow.defines.setdefault(node_id, set()).add(CAUGHT_ERROR_NAME)
            if _is_subprocess(element):
                inner = [c for c in element if isinstance(c.tag, str) and c.get("id")]
                for child in inner:
                    if _local(child.tag) == "startEvent":
                        flow.preds.setdefault(str(child.get("id")), []).append((node_id, False))
                ends = [str(c.get("id")) for c in inner if _local(c.tag) == "endEvent"]
                flow.preds[node_id + _AFTER] = [(end, True) for end in ends] or [(node_id, False)]
                flow.titles[node_id + _AFTER] = flow.titles[node_id]
            for operator in _xpath(element, "./bpmn:extensionElements/spiffworkflow:serviceTaskOperator"):
                if operator.get("resultVariable"):
                    flow.defines.setdefault(node_id, set()).add(str(operator.get("resultVariable")))
                for parameter in _xpath(operator, "./spiffworkflow:parameters/spiffworkflow:parameter"):
                    _use(flow, file, parameter, parameter.get("value"), node_id, False,
                         gettext("Tham số «%(parameter)s» của tác vụ dịch vụ %(element)s",
                                 parameter=parameter.get('id'), element=_label_of(element)))
            for script in _xpath(element, "./bpmn:script|./bpmn:extensionElements/spiffworkflow:preScript"
                                          "|./bpmn:extensionElements/spiffworkflow:postScript"):
                kind = _local(script.tag)
                if local != "scriptTask" and kind == "script":
                    continue
                flow.defines.setdefault(node_id, set()).update(assigned_names(script.text or ""))
                names, guarded = read_names(script.text or "")
                if names:  # a post-script runs when its task is done: it reads what the task's form gave too
                    flow.uses.append(ExpressionUse(
                        file, script.sourceline, gettext("Kịch bản %(where)s", where=_script_where(kind, element)),
                        names, guarded, node_id, kind == "postScript"))
            for loop in _xpath(element, "./bpmn:multiInstanceLoopCharacteristics"):
                _multi_instance_flow(flow, file, element, node_id, loop, local in _MANUAL_TAGS)
            for decision in _xpath(element, "./bpmn:extensionElements/spiffworkflow:calledDecisionId"):
                decision_id = _clean(decision.text or "")
                flow.defines.setdefault(node_id, set()).update(decisions.get(decision_id, set()))
                for dmn_file, text in (decision_inputs or {}).get(decision_id, []):  # read when the task runs
                    _use(flow, dmn_file, text, text.text, node_id, False,
                         gettext("Biểu thức đầu vào «%(expression)s» của bảng quyết định «%(decision)s» (gọi từ "
                                 "%(element)s)", expression=_clean(text.text or "")[:60], decision=decision_id,
                                 element=_label_of(element)))
            for timer in _xpath(element, "./bpmn:timerEventDefinition/*"):
                if _local(timer.tag) in ("timeDate", "timeDuration", "timeCycle"):
                    _use(flow, file, timer, timer.text, node_id, False,
                         gettext("Thời gian hẹn giờ của sự kiện %(element)s", element=_label_of(element)))
        incoming: dict[str, int] = {}
        for sequence in process.iter(f"{{{BPMN_NS}}}sequenceFlow"):
            source, target = str(sequence.get("sourceRef") or ""), str(sequence.get("targetRef") or "")
            if source not in by_id or target not in by_id:
                continue
            origin = source + _AFTER if _is_subprocess(by_id[source]) else source
            flow.preds.setdefault(target, []).append((origin, True))
            incoming[target] = incoming.get(target, 0) + 1
            for condition in _xpath(sequence, "./bpmn:conditionExpression"):
                _use(flow, file, condition, condition.text, origin, True,
                     gettext("Điều kiện trên luồng %(element)s", element=_label_of(sequence)))
        flow.union_joins |= {n for n, count in incoming.items()
                             if count > 1 and _local(by_id[n].tag) == "parallelGateway"}
    return flow


def _multi_instance_flow(flow: DataFlow, file: str, element: etree._Element, node_id: str,
                         loop: etree._Element, of_people: bool) -> None:
    """A multi-instance task reads its input collection before it starts, and gives the process its output
    collection, or (none declared, a person's task) the collection the platform fills (app.engine.multi)."""
    for ref in _xpath(loop, "./bpmn:loopDataInputRef"):
        _use(flow, file, ref, ref.text, node_id, False,
             gettext("Danh sách đầu vào (loopDataInputRef) của tác vụ nhiều lần %(element)s",
                     element=_label_of(element)))
    outputs = [str(ref.text).strip() for ref in _xpath(loop, "./bpmn:loopDataOutputRef") if (ref.text or "").strip()]
    if of_people:
        flow.collected.add(node_id)
        flow.defines.setdefault(node_id, set()).update(outputs or [collection_name(node_id)])
    else:
        flow.defines.setdefault(node_id, set()).update(outputs)


def _use(flow: DataFlow, file: str, element: etree._Element, text: str | None, node: str, after: bool,
         what: str) -> None:
    if not text or not text.strip():
        return
    try:
        check_expression(text)
        names, guarded = expression_names(text)
    except (ExpressionError, SyntaxError, ValueError, RecursionError, MemoryError):
        return  # the expression check reports it
    if names:
        flow.uses.append(ExpressionUse(file, element.sourceline, what, names, guarded, node, after))


def _propagate(flow: DataFlow, defines: Mapping[str, set[str]], initial: frozenset[str]
               ) -> tuple[dict[str, frozenset[str] | None], dict[str, frozenset[str] | None]]:
    """Names certainly in the data before (IN) and after (OUT) each node, on every path from the start.

    None means "not known" (a node no path from the start reaches): it never narrows what its successors
    hold. Joins keep what every incoming path brings, except parallel joins, which wait for all of them.
    """
    nodes = list(flow.preds)
    before: dict[str, frozenset[str] | None] = dict.fromkeys(nodes)
    after: dict[str, frozenset[str] | None] = dict.fromkeys(nodes)
    successors: dict[str, list[str]] = {}
    for node, preds in flow.preds.items():
        for pred, _ in preds:
            successors.setdefault(pred, []).append(node)
    # A worklist: each node's sets only shrink, so it settles after a few visits per name; the budget keeps
    # a hostile diagram from turning the check into a long computation (what is left unknown is not flagged).
    pending = list(nodes)
    queued = set(pending)
    budget = 50 * len(nodes) + 1000
    while pending and budget > 0:
        budget -= 1
        node = pending.pop(0)
        queued.discard(node)
        value: frozenset[str] | None
        if node in flow.starts:
            value = initial
        else:
            incoming = [after.get(p) if out else before.get(p) for p, out in flow.preds.get(node, [])]
            known = [v for v in incoming if v is not None]
            if node in flow.union_joins:
                value = frozenset().union(*known) if known and len(known) == len(incoming) else None
            else:
                value = frozenset.intersection(*known) if known else None
        out = None if value is None else value | defines.get(node, set())
        if value != before[node] or out != after[node]:
            before[node], after[node] = value, out
            for successor in successors.get(node, []):
                if successor not in queued:
                    queued.add(successor)
                    pending.append(successor)
    if pending:  # out of budget: forget what did not settle rather than warn about it
        for node in pending:
            before[node] = after[node] = None
    return before, after


def _upstream(flow: DataFlow, node: str) -> set[str]:
    """Every node some path from the start passes before reaching `node` (loops included)."""
    seen: set[str] = set()
    pending = [pred for pred, _ in flow.preds.get(node, [])]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        pending.extend(pred for pred, _ in flow.preds.get(current, []) if pred not in seen)
    return seen


def check_variables(analysis: BpmnAnalysis, task_fields: Mapping[str, set[str]], start_fields: set[str] | None,
                    start_form: str = "", unknown_tasks: Iterable[str] = ()) -> list[Problem]:
    """Names read by conditions, service-task parameters and timers that no step can have put in the data.

    A name that no form field, service-task result, decision output or system name in the package defines
    is an error: the expression would stop the dossier on every path. A name that is defined somewhere,
    but not on every path before the expression (a later step, one branch only), is a warning.

    The fields of a form that could not be read are not known: `start_fields` None (the start form) skips
    the check, and an expression some task of `unknown_tasks` may run before is not judged (its form's own
    problem is reported; a name it lacks here may well be in it).
    """
    flow = analysis.data_flow
    if flow is None or start_fields is None:
        return []
    unknown = {name.removesuffix(" [child]") for name in unknown_tasks}
    defines: dict[str, set[str]] = {node: set(names) for node, names in flow.defines.items()}
    for node, names in task_fields.items():
        # A looped or multi-instance task's own spec is its "[child]"; the flow node is the task's id.
        if node.removesuffix(" [child]") not in flow.collected:
            defines.setdefault(node.removesuffix(" [child]"), set()).update(names)
    initial = frozenset(start_fields) | SYSTEM_NAMES
    anywhere = set(initial).union(*defines.values()) if defines else set(initial)
    if len(flow.preds) <= MAX_FLOW_NODES:
        before, after = _propagate(flow, defines, initial)
    else:  # a diagram this large only gets the "defined nowhere" check
        before, after = {}, {}
    problems = []
    for use in flow.uses:
        if unknown and (use.node in unknown and use.after or unknown & _upstream(flow, use.node)):
            continue
        available = after.get(use.node) if use.after else before.get(use.node)
        for name in sorted(use.names):
            if name not in anywhere:
                close = difflib.get_close_matches(name, sorted(anywhere - SYSTEM_NAMES), n=3, cutoff=0.6)
                hint = (gettext(" Có phải ý bạn là %(names)s?", names=', '.join(f'«{c}»' for c in close)) if close
                        else "")
                problems.append(Problem(
                    use.file, use.line, None, "expression_name_undefined",
                    gettext("%(what)s dùng biến «%(name)s», nhưng không trường biểu mẫu, kết quả tác vụ dịch vụ hay "
                            "biến hệ thống nào (%(items)s) trong gói tạo ra biến này, nên hồ sơ sẽ dừng tại "
                            "đây.%(hint)s Hãy sửa tên biến cho khớp với một trường của biểu mẫu hoặc thêm trường "
                            "«%(name)s» vào biểu mẫu của một bước trước đó.",
                            what=use.what, name=name, items=', '.join(sorted(SYSTEM_NAMES)), hint=hint)))
            elif available is not None and name not in available and name not in use.guarded:
                definers = [f"«{flow.titles.get(n, n)}»" for n, names in defines.items() if name in names]
                if name in start_fields:
                    definers.insert(0, gettext("biểu mẫu khởi tạo «%(start_form)s»", start_form=start_form))
                problems.append(Problem(
                    use.file, use.line, None, "expression_name_maybe_undefined",
                    gettext("%(what)s dùng biến «%(name)s», nhưng có đường đi tới đây mà chưa bước nào tạo ra biến "
                            "này (biến do %(items)s tạo ra). Khi hồ sơ đi theo đường đó, bước này sẽ dừng lại với "
                            "lỗi; hãy đặt bước tạo ra biến trước chỗ này, hoặc kiểm tra trước bằng '%(name)s' in "
                            "%(DATA_NAME)s.",
                            what=use.what, name=name, items=', '.join(definers), DATA_NAME=DATA_NAME),
                    "warning"))
    return problems


# ---------------------------------------------------------------------------------------------
# The analysis


def _is_model_namespace(namespace: str) -> bool:
    """The BPMN or DMN model namespace (not diagram interchange, not a vendor's)."""
    if namespace == BPMN_NS:
        return True
    return "omg.org/spec/DMN/" in namespace and ("MODEL" in namespace or namespace.endswith("dmn.xsd"))


def _model_elements(root: etree._Element) -> list[etree._Element]:
    """Elements of the BPMN/DMN model that carry an id, outside extensionElements.

    Only these ids form the model's id space. Modelling tools keep their own elements inside
    extensionElements, and Visual Paradigm writes its <Model id="…"> there in the default namespace (which
    is BPMN's), reusing the id of the definition it describes: those are not BPMN ids.
    """
    found = root.xpath("descendant-or-self::*[@id][not(ancestor::*[local-name()='extensionElements'])]")
    return [el for el in found if isinstance(el, etree._Element)
            and _is_model_namespace(etree.QName(el).namespace or "")]


def _dedupe(problems: Iterable[Problem]) -> list[Problem]:
    seen: set[tuple[str, int | None, str]] = set()
    out = []
    for p in problems:
        key = (p.file, p.line, p.code)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?", ".)")) else text + "."


def summarize(
    problems: list[Problem], process_id: str | None, user_tasks: int, subject: str | None = None,
    total_errors: int | None = None,
) -> tuple[str, str]:
    """(verdict, one sentence): the first problem that explains the verdict, and how many more errors follow.

    The count is of every error listed with it (warnings aside), so the headline agrees with the list;
    `total_errors` when the list shown holds more than `problems` (a package's manifest and forms).
    """
    subject = subject or gettext("Sơ đồ")
    errors = [p for p in problems if p.severity == "error"]
    broken = [p for p in errors if not is_not_executable_code(p.code)]
    count = max(total_errors or 0, len(errors))
    more = ngettext(" (và %(num)s lỗi khác)", " (và %(num)s lỗi khác)", count - 1) if count > 1 else ""
    if broken:
        first = broken[0]
        if f"«{first.file}»" in first.message:  # XML errors already say which file and line
            return "invalid", _sentence(gettext("%(subject)s không hợp lệ%(more)s: %(message)s",
                                                subject=subject, more=more, message=first.message))
        where = first.file + (gettext(", dòng %(line)s", line=first.line) if first.line else "")
        return "invalid", _sentence(gettext("%(subject)s không hợp lệ%(more)s — %(where)s: %(message)s",
                                            subject=subject, more=more, where=where, message=first.message))
    if errors:
        first = sorted(errors, key=lambda p: p.code not in _PROCESS_CODES)[0]
        also = ""
        if count > 1:
            also = ngettext(" Ngoài ra còn %(num)s lỗi khác.", " Ngoài ra còn %(num)s lỗi khác.", count - 1)
        return "not_executable", _sentence(first.message) + also
    return "deployable", (
        gettext("%(subject)s hợp lệ: quy trình «%(process_id)s» có thể triển khai (%(user_tasks)s tác vụ người dùng).",
                subject=subject, process_id=process_id, user_tasks=user_tasks)
    )


def _problem_from_load(
    name: str, exc: Exception, elements: Mapping[str, Mapping[str, etree._Element]],
    roots: Mapping[str, etree._Element],
) -> Problem:
    if isinstance(exc, XmlError):
        return Problem(exc.filename, exc.line, None, exc.code, exc.message)
    problem = translate_engine_error(exc, name, elements)
    if problem.code == "diagram_layout_invalid" and name in roots:
        for bounds in roots[name].iter("{*}Bounds"):
            try:
                float(bounds.get("x", 0))
                float(bounds.get("y", 0))
            except ValueError:
                shape = bounds.getparent()
                target = shape.get("bpmnElement") if shape is not None else None
                where = gettext(" của phần tử «%(target)s»", target=target) if target else ""
                return replace(problem, line=bounds.sourceline, message=problem.message.replace(
                    "(bpmndi:BPMNShape, dc:Bounds)", f"(bpmndi:BPMNShape, dc:Bounds){where}"))
    if problem.code == "engine_unsupported":  # a file the engine cannot even index is broken
        return replace(problem, code="bpmn_unreadable")
    return problem


def analyze_bpmn(
    files: Mapping[str, bytes], process_id: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
    external_messages: Iterable[str] = (),
) -> BpmnAnalysis:
    """Check every BPMN/DMN file of one package and decide whether it can be deployed. Never raises.

    `external_messages`: names of messages delivered to dossiers from outside (procedure.json `messages`, the
    API's POST /dossiers/<code>/messages), which a diagram may wait for like the ones its own pools send."""
    try:
        return _analyze(files, process_id, max_bytes, frozenset(external_messages))
    except Exception:  # a last resort: the analysis itself must not take the request down
        _log.exception("analysis of a diagram failed")
        problem = Problem(next(iter(sorted(files)), "process.bpmn"), None, None, "analysis_failed",
                          gettext("Hệ thống không phân tích được sơ đồ này (lỗi của bộ kiểm tra, không phải của sơ "
                                  "đồ). Hãy thử lại; nếu vẫn lỗi, gửi tệp cho quản trị viên."))
        return BpmnAnalysis("invalid", _sentence(problem.message), [problem], [], [], None, [], [], [])


def _analyze(files: Mapping[str, bytes], process_id: str | None, max_bytes: int,
             external_messages: frozenset[str] = frozenset()) -> BpmnAnalysis:
    problems: list[Problem] = []
    ids: dict[str, dict[str, etree._Element]] = {}
    load_failures: list[tuple[str, Exception]] = []
    parser, roots = _build(files, max_bytes, lambda name, exc: load_failures.append((name, exc)))
    for name, root in roots.items():
        ids[name] = {}
        for el in _model_elements(root):
            element_id = str(el.get("id"))
            first = ids[name].get(element_id)
            if first is None:
                ids[name][element_id] = el
            else:
                problems.append(Problem(name, el.sourceline, None, "duplicate_id",
                                        gettext("Mã phần tử (id) «%(element_id)s» bị trùng; đã dùng ở dòng "
                                                "%(line)s. Mỗi phần tử phải có mã riêng: hãy đổi mã của một "
                                                "trong hai phần tử.",
                                                element_id=element_id, line=first.sourceline)))
    for name, exc in load_failures:
        problem = _problem_from_load(name, exc, ids, roots)
        if problem.line is None and name in roots:
            problem = replace(problem, line=_guess_line(roots[name], str(exc)))
        problems.append(problem)
    xml_broken = any(isinstance(exc, XmlError) for _, exc in load_failures)

    # Processes, by file; only BPMN files declare them.
    processes: dict[str, tuple[str, etree._Element]] = {}
    for name, root in roots.items():
        if _kind(name) != "bpmn":
            continue
        for element in _xpath(root, "./bpmn:process"):
            pid = element.get("id") or ""
            processes.setdefault(pid, (name, element))
    process_ids = list(processes)
    executable = [pid for pid, (_, el) in processes.items() if el.get("isExecutable") == "true"]
    bpmn_roots = [root for name, root in roots.items() if _kind(name) == "bpmn"]
    collaborations = {cid: members for cid, members in collaborations_of(bpmn_roots).items()
                      if any(pid in executable for _, pid in members)}
    if process_id is None and len(executable) > 1:
        # Several executable processes, all of them participants of one collaboration: it is what runs.
        whole = [cid for cid, members in collaborations.items() if set(executable) <= {pid for _, pid in members}]
        if len(whole) == 1:
            process_id = whole[0]

    chosen: str | None = None
    candidates: list[str] = []
    bpmn_files = [n for n in files if _kind(n) == "bpmn"]
    if xml_broken:
        pass  # the XML errors say it all; guessing about processes in unread files would mislead
    elif not processes:
        if not load_failures:
            first_file = bpmn_files[0] if bpmn_files else next(iter(sorted(files)), "process.bpmn")
            problems.append(Problem(first_file, None, None, "no_process",
                                    gettext("Gói không có quy trình (bpmn:process) nào để thực thi.")))
    elif process_id is not None and process_id in collaborations:
        chosen = process_id
    elif process_id is not None:
        if process_id not in processes:
            problems.append(Problem(bpmn_files[0] if bpmn_files else "process.bpmn", None, None, "process_not_found",
                                    gettext("Không tìm thấy quy trình có mã «%(process_id)s» trong các tệp BPMN của "
                                            "gói.",
                                            process_id=process_id)))
        elif process_id not in executable:
            file, element = processes[process_id]
            problems.append(Problem(file, element.sourceline, None, "process_not_executable",
                                    gettext("Quy trình «%(process_id)s» không được đánh dấu có thể thực thi "
                                            "(isExecutable=\"true\").",
                                            process_id=process_id)))
        else:
            chosen = process_id
    elif not executable:
        file, element = next(iter(processes.values()))
        problems.append(Problem(file, element.sourceline, None, "no_executable_process",
                                gettext("Không có quy trình nào được đánh dấu có thể thực thi "
                                        "(isExecutable=\"true\").")))
    elif len(executable) == 1:
        chosen = executable[0]
    else:
        file, element = processes[executable[1]]
        candidates = executable
        problems.append(Problem(file, element.sourceline, None, "process_ambiguous",
                                gettext("Gói có nhiều quy trình có thể thực thi (%(items)s); hãy chỉ rõ quy trình "
                                        "cần chạy (process_id trong procedure.json).",
                                        items=', '.join(executable))))

    # Static checks on the processes that would run (and everything they call), and on DMN files.
    to_check = [chosen] if chosen else candidates
    participants = {pid: name for name, pid in collaborations.get(chosen or "", []) if pid in executable}
    # The processes the chosen id starts from: itself, or a collaboration's executable participants.
    run_from = list(participants) if participants else [chosen] if chosen else candidates
    checker = _Checker()
    checker.thrown_messages = thrown_messages(bpmn_roots) | external_messages
    for pid in _reachable(run_from, processes):
        file, element = processes[pid]
        checker.process(file, element)
    if to_check:
        for name, root in roots.items():
            if _kind(name) == "dmn":
                checker.dmn(name, root)
    problems += checker.problems

    user_tasks: list[UserTaskInfo] = []
    end_events: list[tuple[str, dict[str, str]]] = []
    service_tasks: list[ServiceTaskInfo] = []
    task_files: dict[str, str] = {}
    task_lines: dict[str, int | None] = {}
    lanes: list[str] = []
    # The engine's spec is what runs, so the tasks are read from it, unless it could not be built: a file
    # it refused, a process it failed on, or an id it reserves (its spec then silently loses every task).
    # Then they are read from the XML, so the checks on forms, lanes, service tasks and variables still run.
    engine_read = bool(chosen) and not load_failures and not any(
        p.code == "id_reserved" for p in checker.problems)
    if not load_failures:
        for pid in to_check:
            default_file = processes[pid][0] if pid in processes else ""
            try:
                if pid in collaborations:
                    default_file = processes[participants_first(collaborations[pid], processes)][0]
                    collab_spec, called = parser.get_collaboration(pid)
                    specs = {pid: collab_spec, **called}
                else:
                    specs = {pid: parser.get_spec(pid), **parser.get_subprocess_specs(pid)}
            except Exception as exc:
                problems.append(translate_engine_error(exc, default_file, ids))
                engine_read = False
                continue
            if pid != chosen or not engine_read:
                continue
            for spec in specs.values():
                if spec is None:
                    continue
                spec_file = getattr(spec, "file", None) or default_file
                for task_spec in spec.task_specs.values():
                    bpmn_id = getattr(task_spec, "bpmn_id", None)
                    if not bpmn_id:
                        continue
                    element = ids.get(spec_file, {}).get(bpmn_id)
                    properties = {str(k): str(v) for k, v in
                                  ((getattr(task_spec, "extensions", None) or {}).get("properties") or {}).items()}
                    title = getattr(task_spec, "bpmn_name", None) or bpmn_id
                    located = False
                    if getattr(task_spec, "manual", False):
                        user_tasks.append(UserTaskInfo(
                            process_id=spec.name, spec_name=task_spec.name, title=title, lane=task_spec.lane,
                            form=properties.get(FORM_PROPERTY) or None,
                            ui_form=properties.get(UI_FORM_PROPERTY) or None, properties=properties,
                            documentation=_documentation(element)))
                        located = True
                        if task_spec.lane and task_spec.lane not in lanes:
                            lanes.append(task_spec.lane)
                    elif isinstance(task_spec, _EndEvent):
                        end_events.append((task_spec.name, properties))
                        located = True
                    elif getattr(task_spec, "operation_name", None):
                        service_tasks.append(ServiceTaskInfo(
                            process_id=spec.name, spec_name=task_spec.name, title=title,
                            operation=str(task_spec.operation_name), result_variable=str(task_spec.result_variable),
                            parameters={str(k): {str(a): str(b) for a, b in v.items()}
                                        for k, v in (task_spec.operation_params or {}).items()},
                            properties=properties))
                        located = True
                    if located:
                        task_files[task_spec.name] = spec_file
                        task_lines[task_spec.name] = element.sourceline if element is not None else None
    problems += _shared_task_ids(user_tasks, task_files, task_lines)
    if chosen and not engine_read:
        reading = _read_tasks([processes[pid] for pid in _reachable(run_from, processes)])
        user_tasks, service_tasks, end_events = reading.user_tasks, reading.service_tasks, reading.end_events
        task_files, task_lines = reading.task_files, reading.task_lines
        lanes = [t.lane for t in user_tasks if t.lane]
        lanes = list(dict.fromkeys(lanes))
    if chosen:
        for pid in _reachable(run_from, processes):
            for lane in _xpath(processes[pid][1], ".//bpmn:lane/@name"):
                if str(lane) and str(lane) not in lanes:
                    lanes.append(str(lane))

    data_flow: DataFlow | None = None
    start_event: str | None = None
    start_documentation = ""
    if chosen:  # read from the XML: needs no engine spec
        file, process = processes[participants_first(collaborations[chosen], processes) if participants else chosen]
        decisions = {str(d.get("id")): {str(o.get("name")) for o in d.iter("{*}output") if o.get("name")}
                     for name, root in roots.items() if _kind(name) == "dmn" for d in root.iter("{*}decision")}
        inputs = {str(d.get("id")): [(name, text) for text in d.iter("{*}text") if _local(
            getattr(text.getparent(), "tag", "")) == "inputExpression"]
            for name, root in roots.items() if _kind(name) == "dmn" for d in root.iter("{*}decision")}
        data_flow = _data_flow([processes[pid] for pid in _reachable(run_from, processes)], process, decisions,
                               inputs)
        starts = [el for el in _xpath(process, "./bpmn:startEvent")]
        start_event = str(starts[0].get("id")) if starts else None
        start_documentation = "\n\n".join(
            text for text in (_documentation(process), _documentation(starts[0]) if starts else "") if text)

    # The engine's own refusal of a gateway whose targets were explained above says nothing more.
    gateway_lines = {p.line for p in problems if p.code == "event_gateway_target_invalid"}
    if gateway_lines:
        gateways = {el.sourceline for root in roots.values() for el in root.iter(f"{{{BPMN_NS}}}eventBasedGateway")}
        problems = [p for p in problems if not (p.code == "engine_unsupported" and p.line in gateways)]
    problems = _dedupe(foreign_problems(roots, problems))  # other tools' extensions (app/engine/foreign.py)
    verdict, reason = summarize(problems, chosen, len(user_tasks))
    return BpmnAnalysis(
        verdict=verdict,
        reason=reason,
        problems=problems,
        process_ids=process_ids,
        executable_process_ids=executable,
        process_id=chosen,
        user_tasks=user_tasks,
        lanes=lanes,
        end_events=end_events,
        service_tasks=service_tasks,
        task_files=task_files,
        task_lines=task_lines,
        data_flow=data_flow,
        start_event=start_event,
        start_documentation=start_documentation,
        start_timer=checker.start_timer,
        engine_read=engine_read,
        participants=participants,
    )


def _shared_task_ids(user_tasks: list[UserTaskInfo], task_files: Mapping[str, str],
                     task_lines: Mapping[str, int | None]) -> list[Problem]:
    """Two processes of a package (a procedure and a sub-process it calls) with a user task of the same id: the
    platform knows a step by its id (its lane, role and form), so one would take the other's."""
    first: dict[str, UserTaskInfo] = {}
    problems = []
    for task in user_tasks:
        seen = first.setdefault(task.spec_name, task)
        if seen.process_id != task.process_id:
            problems.append(Problem(
                task_files.get(task.spec_name, "process.bpmn"), task_lines.get(task.spec_name), None, "task_id_shared",
                gettext("Tác vụ người dùng có mã «%(id)s» có ở cả quy trình «%(first)s» và quy trình «%(second)s»; hệ "
                        "thống nhận biết mỗi bước theo mã của nó, nên hãy đặt cho tác vụ ở một trong hai quy trình "
                        "một mã khác.", id=task.spec_name.removesuffix(" [child]"), first=seen.process_id,
                        second=task.process_id)))
    return problems


def _documentation(element: etree._Element | None) -> str:
    """The element's own bpmn:documentation (not a nested element's), as plain text with its line breaks."""
    if element is None:
        return ""
    parts = ["".join(doc.itertext()).strip() for doc in _xpath(element, "./bpmn:documentation")]
    return "\n\n".join(part.replace("\r\n", "\n") for part in parts if part)


@dataclass
class _TaskReading:
    user_tasks: list[UserTaskInfo] = field(default_factory=list)
    service_tasks: list[ServiceTaskInfo] = field(default_factory=list)
    end_events: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    task_files: dict[str, str] = field(default_factory=dict)
    task_lines: dict[str, int | None] = field(default_factory=dict)


# Elements the engine makes into tasks a person completes (its specs with `manual` set).
_MANUAL_TAGS = ("userTask", "manualTask", "task")


def _properties(element: etree._Element) -> dict[str, str]:
    """An element's spiffworkflow:property name → value, as the engine reads them into its extensions."""
    return {str(prop.get("name")): str(prop.get("value") or "") for prop in _xpath(
        element, "./bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property") if prop.get("name")}


def _read_tasks(processes: list[tuple[str, etree._Element]]) -> _TaskReading:
    """The user tasks, service tasks and end events of the processes, read from the XML as the engine would.

    Only for the checks of a diagram the engine could not build: names, lanes (flowNodeRef → lane name over
    the whole file), properties and service operators follow the engine's parser, and a looped task is known
    by its "[child]" spec as in the engine. Nothing read here is deployed.
    """
    reading = _TaskReading()
    lanes_by_file: dict[int, dict[str, str | None]] = {}
    for file, process in processes:
        root = process.getroottree().getroot()
        lanes = lanes_by_file.get(id(root))
        if lanes is None:
            lanes = {str(ref.text): ref.getparent().get("name") for ref in _xpath(root, ".//bpmn:flowNodeRef")
                     if ref.text is not None and ref.getparent() is not None}
            lanes_by_file[id(root)] = lanes
        for element in process.iter(f"{{{BPMN_NS}}}*"):
            local = _local(element.tag)
            bpmn_id = element.get("id")
            if not bpmn_id or local not in _TASK_SPEC_TAGS:
                continue
            properties = _properties(element)
            title = element.get("name") or bpmn_id
            spec_name = bpmn_id
            if local in _MANUAL_TAGS:
                if _xpath(element, "./bpmn:standardLoopCharacteristics|./bpmn:multiInstanceLoopCharacteristics"):
                    spec_name = f"{bpmn_id} [child]"
                reading.user_tasks.append(UserTaskInfo(
                    process_id=str(process.get("id") or ""), spec_name=spec_name, title=title,
                    lane=lanes.get(bpmn_id), form=properties.get(FORM_PROPERTY) or None,
                    ui_form=properties.get(UI_FORM_PROPERTY) or None, properties=properties,
                    documentation=_documentation(element)))
            elif local == "endEvent":
                reading.end_events.append((spec_name, properties))
            elif local == "serviceTask":
                operators = _xpath(element, "./bpmn:extensionElements/spiffworkflow:serviceTaskOperator")
                if not operators:
                    continue
                operator = operators[0]
                reading.service_tasks.append(ServiceTaskInfo(
                    process_id=str(process.get("id") or ""), spec_name=spec_name, title=title,
                    operation=str(operator.get("id") or ""), result_variable=str(operator.get("resultVariable") or ""),
                    parameters={str(param.get("id")): {"type": str(param.get("type") or ""),
                                                       "value": str(param.get("value") or "")}
                                for param in _xpath(operator, "./spiffworkflow:parameters/spiffworkflow:parameter")
                                if param.get("id")},
                    properties=properties))
            else:
                continue
            reading.task_files[spec_name] = file
            reading.task_lines[spec_name] = element.sourceline
    return reading


def _guess_line(root: etree._Element, message: str) -> int | None:
    """The line of the data store an engine message names (the engine gives no node for these)."""
    if "Data Store" not in message:
        return None
    stores = _xpath(root, ".//bpmn:dataStore")
    text = _clean(message)
    for store in stores:
        if store.get("name") and _clean(store.get("name")) in text:
            return int(store.sourceline or 0) or None
    return int(stores[0].sourceline or 0) or None if stores else None


def _message_name(element: etree._Element) -> str | None:
    """The name of the message a messageEventDefinition (or a send/receive task) refers to, by its messageRef."""
    ref = element.get("messageRef")
    if not ref:
        return None
    found = element.getroottree().getroot().xpath("./bpmn:message[@id=$ref]/@name", namespaces=_NS, ref=ref)
    return str(found[0]) if found else ref


def thrown_messages(roots: Iterable[etree._Element]) -> set[str]:
    """The names of the messages the BPMN files send: throw and end events, send tasks."""
    names: set[str] = set()
    for root in roots:
        for element in root.xpath(".//bpmn:intermediateThrowEvent/bpmn:messageEventDefinition"
                                  "|.//bpmn:endEvent/bpmn:messageEventDefinition|.//bpmn:sendTask", namespaces=_NS):
            name = _message_name(element)
            if name:
                names.add(name)
    return names


def participants_first(members: list[tuple[str, str]], processes: Mapping[str, tuple[str, etree._Element]]) -> str:
    """The participant a dossier starts in: the first executable one whose start event waits for nothing (the
    others start when a message reaches them)."""
    runnable = [pid for _, pid in members if pid in processes and processes[pid][1].get("isExecutable") == "true"]
    for pid in runnable:
        for start in _xpath(processes[pid][1], "./bpmn:startEvent"):
            if not _xpath(start, "./bpmn:*[contains(local-name(), 'EventDefinition')]"):
                return pid
    return runnable[0]


def collaborations_of(roots: Iterable[etree._Element]) -> dict[str, list[tuple[str, str]]]:
    """Each collaboration's participants, as (participant name, process id), in the order drawn."""
    found: dict[str, list[tuple[str, str]]] = {}
    for root in roots:
        for collab in root.xpath("./bpmn:collaboration", namespaces=_NS):
            found[str(collab.get("id"))] = [
                (str(p.get("name") or p.get("id") or ""), str(p.get("processRef")))
                for p in collab.xpath("./bpmn:participant[@processRef]", namespaces=_NS)]
    return found


def _reachable(start: list[str], processes: Mapping[str, tuple[str, etree._Element]]) -> list[str]:
    """The given processes plus every process they reach through call activities."""
    seen: list[str] = []
    pending = [pid for pid in start if pid in processes]
    while pending:
        pid = pending.pop(0)
        if pid in seen:
            continue
        seen.append(pid)
        for called in _xpath(processes[pid][1], ".//bpmn:callActivity/@calledElement"):
            if str(called) in processes and str(called) not in seen:
                pending.append(str(called))
    return seen
