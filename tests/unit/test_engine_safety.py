"""The engine's safety layer: hardened XML, the expression sandbox, and the script environment."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from app.engine.analysis import analyze_bpmn, build_parser_for
from app.engine.environment import EngineTaskError, SafeScriptEngine, SafeScriptEnvironment
from app.engine.expressions import MAX_EXPRESSION_LENGTH, ExpressionError, check_expression, evaluate
from app.engine.xmlsafe import XmlError, parse_xml

PASSWD = Path("/etc/passwd")

XXE = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE definitions [
  <!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">
  <process id="p" name="&xxe;" isExecutable="true"/>
</definitions>
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>
"""


def _passwd_markers() -> list[str]:
    if not PASSWD.exists():
        return ["root:x:0:0"]
    return [line.split(":", 1)[0] + ":x:" for line in PASSWD.read_text().splitlines()[:3] if ":" in line]


# --- XML -------------------------------------------------------------------------------------


def test_parse_xml_returns_root_with_source_lines() -> None:
    root = parse_xml(b'<?xml version="1.0"?>\n<a>\n  <b id="x"/>\n</a>', "ok.bpmn")
    assert root.tag == "a"
    assert root[0].sourceline == 3


def test_external_entity_is_refused_and_file_never_read() -> None:
    with pytest.raises(XmlError) as info:
        parse_xml(XXE, "xxe.bpmn")
    err = info.value
    assert err.code == "xml_doctype_forbidden"
    assert err.filename == "xxe.bpmn"
    assert err.line == 2
    for marker in _passwd_markers():
        assert marker not in str(err)


def test_external_entity_never_reaches_the_analysis_output() -> None:
    analysis = analyze_bpmn({"xxe.bpmn": XXE})
    assert analysis.verdict == "invalid"
    text = analysis.reason + " ".join(p.message for p in analysis.problems)
    for marker in _passwd_markers():
        assert marker not in text
    assert [p.code for p in analysis.problems] == ["xml_doctype_forbidden"]


def test_doctype_is_refused_in_any_encoding() -> None:
    utf16 = XXE.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    with pytest.raises(XmlError) as info:
        parse_xml(utf16, "utf16.bpmn")
    assert info.value.code == "xml_doctype_forbidden"


@pytest.mark.parametrize(
    "document",
    [
        b'<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd"><r/>',
        b'<!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><r/>',
        b"<!DOCTYPE r><r/>",
    ],
    ids=["external-dtd", "parameter-entity", "bare-doctype"],
)
def test_every_doctype_is_refused(document: bytes) -> None:
    with pytest.raises(XmlError) as info:
        parse_xml(document, "d.bpmn")
    assert info.value.code == "xml_doctype_forbidden"


def test_billion_laughs_is_refused_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(XmlError) as info:
        parse_xml(BILLION_LAUGHS, "lol.bpmn")
    assert info.value.code == "xml_doctype_forbidden"
    assert time.perf_counter() - started < 1.0


def test_oversized_file_is_refused_before_parsing() -> None:
    # Not even XML: the size check must come first, so the code is xml_too_large, not xml_malformed.
    with pytest.raises(XmlError) as info:
        parse_xml(b"x" * 2001, "big.bpmn", max_bytes=2000)
    assert info.value.code == "xml_too_large"
    assert "big.bpmn" in info.value.message
    parse_xml(b"<a/>" + b" " * 1996, "fits.bpmn", max_bytes=2000)


def test_malformed_xml_reports_the_line() -> None:
    with pytest.raises(XmlError) as info:
        parse_xml(b"<a>\n  <b>\n</a>\n", "bad.bpmn")
    assert info.value.code == "xml_malformed"
    assert info.value.line == 3
    assert "dòng 3" in info.value.message


@pytest.mark.parametrize("data", [b"", b"   \n\t "])
def test_empty_file_is_refused(data: bytes) -> None:
    with pytest.raises(XmlError) as info:
        parse_xml(data, "empty.bpmn")
    assert info.value.code == "xml_empty"


# --- Expressions -----------------------------------------------------------------------------

ESCAPES = [
    "__import__('os').getuid()",
    "open('/etc/hostname').read()",
    "().__class__.__base__.__subclasses__()",
    "[].__class__",
    "getattr(x, '__class__')",
    "x.__class__",
    "(lambda: 1)()",
    "(y := 1)",
    "eval('1')",
    "'{0.__class__}'.format(x)",
    "'x'.ljust(10**9)",
    "ds.append(1)",
    "f'{x:>1000000000}'",
    "[ds][0].append(1)",
]


@pytest.mark.parametrize("expression", ESCAPES)
def test_escapes_are_refused_statically(expression: str) -> None:
    with pytest.raises(ExpressionError) as info:
        check_expression(expression)
    assert info.value.expression == expression
    assert info.value.code.startswith("expression_")
    assert info.value.message


@pytest.mark.parametrize("expression", ESCAPES)
def test_escapes_are_refused_at_run_time(expression: str) -> None:
    data = {"x": 1, "ds": [1, 2]}
    with pytest.raises(ExpressionError):
        evaluate(expression, data)
    assert data == {"x": 1, "ds": [1, 2]}


def test_refused_escape_has_no_side_effect(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    with pytest.raises(ExpressionError) as info:
        evaluate(f"__import__('pathlib').Path({str(target)!r}).touch()", {})
    assert info.value.code == "expression_private_name"
    assert "__import__" in info.value.message
    assert not target.exists()


def test_printf_formatting_is_refused() -> None:
    started = time.perf_counter()
    with pytest.raises(ExpressionError) as info:
        evaluate("'%999999999d' % 1", {})
    assert info.value.code == "expression_type_error"
    assert time.perf_counter() - started < 1.0
    assert evaluate("so_trang % 2", {"so_trang": 5}) == 1


@pytest.mark.parametrize("expression", ["'a' * 10**9", "9**9**9", "10**10**10", "[0] * 10**6", "'ab' * 5000 + 'c'"])
def test_costly_expressions_stop_quickly(expression: str) -> None:
    # Made of literals only: the upload check evaluates them under the run-time budget and refuses them.
    with pytest.raises(ExpressionError) as refused:
        check_expression(expression)
    assert refused.value.code == "expression_too_costly"
    started = time.perf_counter()
    with pytest.raises(ExpressionError) as info:
        evaluate(expression, {})
    assert info.value.code == "expression_too_costly"
    assert time.perf_counter() - started < 1.0


def test_comprehensions_are_capped() -> None:
    assert evaluate("[v * 2 for v in items]", {"items": list(range(10))}) == [v * 2 for v in range(10)]
    with pytest.raises(ExpressionError) as info:
        evaluate("[[w for w in items] for v in items]", {"items": list(range(100))})
    assert info.value.code == "expression_too_costly"


def test_deep_nesting_and_long_expressions_are_refused() -> None:
    with pytest.raises(ExpressionError) as info:
        check_expression("-" * 500 + "1")
    assert info.value.code == "expression_too_complex"
    with pytest.raises(ExpressionError) as info:
        check_expression("1 + " * (MAX_EXPRESSION_LENGTH // 4) + "1")
    assert info.value.code == "expression_too_long"


@pytest.mark.parametrize(
    ("expression", "data", "expected"),
    [
        ("ket_qua == 'dat'", {"ket_qua": "dat"}, True),
        ("ket_qua == 'dat'", {"ket_qua": "khong_dat"}, False),
        ("so_tien > 0 and not mien_phi", {"so_tien": 20000, "mien_phi": False}, True),
        ("so_tien > 0 and not mien_phi", {"so_tien": 20000, "mien_phi": True}, False),
        ("len(con) >= 1", {"con": [{"ho_ten": "An"}]}, True),
        ("len(con) >= 1", {"con": []}, False),
        ("a.b == 1", {"a": {"b": 1}}, True),
        ("nguoi_nop.dia_chi.tinh == '01'", {"nguoi_nop": {"dia_chi": {"tinh": "01"}}}, True),
        ("ho_so['loai'] in ('A', 'B')", {"ho_so": {"loai": "B"}}, True),
        ("kenh.lower().strip() == 'truc_tuyen'", {"kenh": " Truc_Tuyen "}, True),
        ("ho_so.get('ghi_chu', '') == ''", {"ho_so": {}}, True),
        ("sum(p['so_trang'] for p in ban_sao) > 2", {"ban_sao": [{"so_trang": 2}, {"so_trang": 1}]}, True),
        ("max(1, min(so_trang, 200)) * 2000", {"so_trang": 3}, 6000),
        ("'ok' if diem >= 5 else 'lai'", {"diem": 4}, "lai"),
        ("x is None", {"x": None}, True),
    ],
)
def test_normal_conditions_work(expression: str, data: dict[str, object], expected: object) -> None:
    check_expression(expression)
    assert evaluate(expression, data) == expected


def test_today_is_an_iso_date() -> None:
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", evaluate("today()", {}))
    assert evaluate("ngay_hen >= today()", {"ngay_hen": "9999-12-31"}) is True


def test_unknown_name_is_named_in_vietnamese() -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate("ket_qua == 'dat'", {"ketqua": "dat"})
    assert info.value.code == "expression_unknown_name"
    assert "«ket_qua»" in info.value.message
    assert "Biến" in info.value.message


def test_missing_field_and_type_errors_are_expression_errors() -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate("a.c == 1", {"a": {"b": 1}})
    assert info.value.code == "expression_unknown_field"
    with pytest.raises(ExpressionError) as info:
        evaluate("a > 1", {"a": "chuoi"})
    assert info.value.code == "expression_type_error"
    with pytest.raises(ExpressionError) as info:
        evaluate("1 / a", {"a": 0})
    assert info.value.code == "expression_division_by_zero"


@pytest.mark.parametrize("expression", ["", "   ", "a ==", "a = 1", "import os"])
def test_empty_and_malformed_expressions(expression: str) -> None:
    with pytest.raises(ExpressionError) as info:
        check_expression(expression)
    assert info.value.code in {"expression_empty", "expression_syntax"}


# --- Script environment and engine ----------------------------------------------------------

GATEWAY_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  id="Defs" targetNamespace="http://motcua.example/bpmn">
  <bpmn:process id="xet_duyet" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:exclusiveGateway id="gw" default="f_no">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f_yes</bpmn:outgoing><bpmn:outgoing>f_no</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:userTask id="duyet" name="Duyệt"><bpmn:incoming>f_yes</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:userTask id="tu_choi" name="Từ chối"><bpmn:incoming>f_no</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end_ok"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_no"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw"/>
    <bpmn:sequenceFlow id="f_yes" sourceRef="gw" targetRef="duyet">
      <bpmn:conditionExpression>{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_no" sourceRef="gw" targetRef="tu_choi"/>
    <bpmn:sequenceFlow id="f2" sourceRef="duyet" targetRef="end_ok"/>
    <bpmn:sequenceFlow id="f3" sourceRef="tu_choi" targetRef="end_no"/>
  </bpmn:process>
</bpmn:definitions>
"""


def _gateway(condition: str) -> bytes:
    escaped = condition.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return GATEWAY_BPMN.format(condition=escaped).encode()


def _start(files: dict[str, bytes], process_id: str, data: dict[str, object]) -> BpmnWorkflow:
    parser = build_parser_for(files)
    workflow = BpmnWorkflow(
        parser.get_spec(process_id), parser.get_subprocess_specs(process_id), script_engine=SafeScriptEngine()
    )
    workflow.task_tree.data.update(data)
    return workflow


def _ready(workflow: BpmnWorkflow) -> list[str]:
    return [t.task_spec.name for t in workflow.get_tasks(state=TaskState.READY, manual=True)]


@pytest.mark.parametrize(
    ("data", "expected"),
    [({"so_tien": 20000, "mien_phi": False}, ["duyet"]), ({"so_tien": 20000, "mien_phi": True}, ["tu_choi"])],
)
def test_gateway_takes_the_right_branch(data: dict[str, object], expected: list[str]) -> None:
    files = {"p.bpmn": _gateway("so_tien > 0 and not mien_phi")}
    assert analyze_bpmn(files).verdict == "deployable"
    workflow = _start(files, "xet_duyet", data)
    workflow.do_engine_steps()
    assert _ready(workflow) == expected
    task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
    task.run()
    workflow.do_engine_steps()
    assert workflow.is_completed()


def test_dunder_condition_is_refused_at_check_time_and_never_runs(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    condition = f"__import__('pathlib').Path({str(target)!r}).touch() or __import__('os').getuid() == 0"
    files = {"p.bpmn": _gateway(condition)}

    analysis = analyze_bpmn(files)
    assert analysis.verdict != "deployable"
    problem = next(p for p in analysis.problems if p.code == "expression_private_name")
    assert problem.file == "p.bpmn"
    assert problem.line == GATEWAY_BPMN.splitlines().index(
        next(line for line in GATEWAY_BPMN.splitlines() if "<bpmn:conditionExpression>" in line)
    ) + 1

    # Even if such a diagram reached the engine, the engine would refuse to evaluate it.
    workflow = _start(files, "xet_duyet", {})
    with pytest.raises(WorkflowTaskException) as info:
        workflow.do_engine_steps()
    assert isinstance(info.value, EngineTaskError)
    assert info.value.code == "expression_private_name"
    assert str(info.value) == info.value.message
    assert "gạch dưới" in str(info.value)
    assert isinstance(info.value.__cause__, ExpressionError)
    assert not target.exists()


def test_missing_variable_in_a_gateway_is_a_workflow_error_in_vietnamese() -> None:
    workflow = _start({"p.bpmn": _gateway("ket_qua == 'dat'")}, "xet_duyet", {})
    with pytest.raises(WorkflowTaskException) as info:
        workflow.do_engine_steps()
    assert info.value.code == "expression_unknown_name"
    assert "«ket_qua»" in str(info.value)


SCRIPT_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D" targetNamespace="x">
  <bpmn:process id="kich_ban" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="script" name="Kịch bản"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="script"/>
    <bpmn:sequenceFlow id="f2" sourceRef="script" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_script_tasks_never_execute(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    script = f"import pathlib; pathlib.Path({str(target)!r}).touch()"
    workflow = _start({"s.bpmn": SCRIPT_BPMN.format(script=script).encode()}, "kich_ban", {})
    with pytest.raises(WorkflowTaskException) as info:
        workflow.do_engine_steps()
    assert info.value.code == "script_invalid"
    assert "import pathlib" in str(info.value)
    assert not target.exists()


SERVICE_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="D" targetNamespace="x">
  <bpmn:process id="tra_cuu" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="lookup" name="Tra cứu dân cư">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="population.lookup_citizen" resultVariable="cong_dan">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="so_dinh_danh" type="str" value="cccd"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="lookup"/>
    <bpmn:sequenceFlow id="f2" sourceRef="lookup" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_service_task_never_calls_out_inside_the_engine_step() -> None:
    # Even an environment that would answer is not asked: the task waits for a background job.
    class Answering(SafeScriptEnvironment):
        def call_service(self, context: object, **kwargs: object) -> str:
            raise AssertionError("called inline")

    parser = build_parser_for({"s.bpmn": SERVICE_BPMN.encode()})
    workflow = BpmnWorkflow(parser.get_spec("tra_cuu"), script_engine=SafeScriptEngine(Answering()))
    workflow.task_tree.data.update({"cccd": "001099012345"})
    workflow.do_engine_steps()
    assert not workflow.is_completed()
    [waiting] = [t for t in workflow.get_tasks() if t.task_spec.name == "lookup"]
    assert waiting.state == TaskState.STARTED
    assert waiting.internal_data["motcua_service_params"] == {"so_dinh_danh": "001099012345"}


def test_environment_evaluates_with_external_context_below_task_data() -> None:
    env = SafeScriptEnvironment()
    assert env.evaluate("a + b", {"a": 1}, {"b": 2, "a": 100}) == 3
    data = {"a": 1}
    env.execute("x = a + 1", data)  # in the sandbox process; what it assigned is applied to the task data
    assert data == {"a": 1, "x": 2}
