"""analyze_bpmn: problems with file and line, and the three verdicts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from app.engine.analysis import VERDICTS, BpmnAnalysis, analyze_bpmn, build_parser_for
from app.engine.environment import SafeScriptEngine
from app.engine.xmlsafe import XmlError

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance"

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="Defs" targetNamespace="http://motcua.example/bpmn">
"""
TAIL = "</bpmn:definitions>\n"


def _line_of(text: str, fragment: str) -> int:
    """1-based line of the first occurrence of `fragment`, so tests do not hard-code line numbers."""
    return text[: text.index(fragment)].count("\n") + 1


def _props(**values: str) -> str:
    items = "".join(f'<spiffworkflow:property name="{k}" value="{v}"/>' for k, v in values.items())
    properties = f"<spiffworkflow:properties>{items}</spiffworkflow:properties>"
    return f"<bpmn:extensionElements>{properties}</bpmn:extensionElements>"


def _linear(task_xml: str, process_attrs: str = 'isExecutable="true"', end_xml: str = "") -> str:
    """start → <one element with id "t"> → end."""
    return HEAD + f"""  <bpmn:process id="thu_tuc" {process_attrs}>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
{task_xml}
    <bpmn:endEvent id="end">{end_xml}<bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="t"/>
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="end"/>
  </bpmn:process>
""" + TAIL


VALID = HEAD + f"""  <bpmn:collaboration id="collab">
    <bpmn:participant id="pool" name="UBND xã" processRef="khai_sinh"/>
  </bpmn:collaboration>
  <bpmn:process id="khai_sinh" name="Đăng ký khai sinh" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_tn" name="Tiếp nhận">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>tiep_nhan</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="lane_ld" name="Lãnh đạo">
        <bpmn:flowNodeRef>ky_duyet</bpmn:flowNodeRef><bpmn:flowNodeRef>gw</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end_ok</bpmn:flowNodeRef><bpmn:flowNodeRef>end_no</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="tiep_nhan" name="Tiếp nhận hồ sơ">
      {_props(formJsonSchemaFilename="tiep-nhan.schema.json", formUiSchemaFilename="tiep-nhan.ui.json",
              dossierStatus="2", allottedTime="0.5")}
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:userTask id="ky_duyet">
      {_props(formJsonSchemaFilename="ky-duyet.schema.json", dossierStatus="4", allottedTime="1")}
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="gw" default="f_no">
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f_ok</bpmn:outgoing><bpmn:outgoing>f_no</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="end_ok" name="Đã xử lý xong">{_props(dossierStatus="9")}<bpmn:incoming>f_ok</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:endEvent id="end_no" name="Dừng xử lý">{_props(dossierStatus="8")}<bpmn:incoming>f_no</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="tiep_nhan"/>
    <bpmn:sequenceFlow id="f2" sourceRef="tiep_nhan" targetRef="ky_duyet"/>
    <bpmn:sequenceFlow id="f3" sourceRef="ky_duyet" targetRef="gw"/>
    <bpmn:sequenceFlow id="f_ok" name="Đồng ý" sourceRef="gw" targetRef="end_ok">
      <bpmn:conditionExpression>ket_qua == 'dong_y'</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_no" sourceRef="gw" targetRef="end_no"/>
  </bpmn:process>
""" + TAIL


def _codes(analysis: BpmnAnalysis) -> list[str]:
    return [p.code for p in analysis.problems]


def test_valid_process_is_deployable_with_user_tasks() -> None:
    analysis = analyze_bpmn({"khai-sinh.bpmn": VALID.encode()})
    assert analysis.problems == []
    assert analysis.verdict == "deployable"
    assert "khai_sinh" in analysis.reason
    assert analysis.process_ids == ["khai_sinh"]
    assert analysis.executable_process_ids == ["khai_sinh"]
    assert analysis.process_id == "khai_sinh"
    first, second = analysis.user_tasks
    assert (first.spec_name, first.title, first.lane) == ("tiep_nhan", "Tiếp nhận hồ sơ", "Tiếp nhận")
    assert (first.form, first.ui_form) == ("tiep-nhan.schema.json", "tiep-nhan.ui.json")
    assert first.properties["dossierStatus"] == "2"
    assert first.properties["allottedTime"] == "0.5"
    assert first.process_id == "khai_sinh"
    assert (second.spec_name, second.title, second.lane) == ("ky_duyet", "ky_duyet", "Lãnh đạo")
    assert (second.form, second.ui_form) == ("ky-duyet.schema.json", None)
    assert analysis.lanes == ["Tiếp nhận", "Lãnh đạo"]
    assert sorted(analysis.end_events) == [("end_no", {"dossierStatus": "8"}), ("end_ok", {"dossierStatus": "9"})]
    assert analysis.task_files["ky_duyet"] == "khai-sinh.bpmn"
    assert analysis.task_lines["ky_duyet"] == _line_of(VALID, '<bpmn:userTask id="ky_duyet"')


def test_deployable_analysis_runs_with_the_same_parser() -> None:
    files = {"khai-sinh.bpmn": VALID.encode()}
    analysis = analyze_bpmn(files)
    assert analysis.process_id is not None
    parser = build_parser_for(files)
    workflow = BpmnWorkflow(parser.get_spec(analysis.process_id), script_engine=SafeScriptEngine())
    workflow.do_engine_steps()
    for answer in ({}, {"ket_qua": "dong_y"}):
        task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
        task.data.update(answer)
        task.run()
        workflow.do_engine_steps()
    assert workflow.is_completed()
    assert workflow.get_tasks(spec_name="end_ok")[0].state == TaskState.COMPLETED


def test_script_task_in_the_script_language_is_deployable() -> None:
    text = _linear('    <bpmn:scriptTask id="t" name="Tính phí"><bpmn:incoming>f1</bpmn:incoming>'
                   "<bpmn:outgoing>f2</bpmn:outgoing><bpmn:script>phi = 1</bpmn:script></bpmn:scriptTask>")
    analysis = analyze_bpmn({"p.bpmn": text.encode()})
    assert analysis.verdict == "deployable", analysis.problems


def test_bad_script_is_refused_with_its_bpmn_line() -> None:
    script = "tong = 0\nfor x in [1, 2]:\n    tong += x\nloai = ().__class__.__bases__\nimport os\n"
    text = _linear('    <bpmn:scriptTask id="t" name="Tính phí"><bpmn:incoming>f1</bpmn:incoming>'
                   f"<bpmn:outgoing>f2</bpmn:outgoing><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>")
    analysis = analyze_bpmn({"p.bpmn": text.encode()})
    assert analysis.verdict == "not_executable"
    problems = [p for p in analysis.problems if p.code == "script_construct_forbidden"]
    assert [p.file for p in problems] == ["p.bpmn", "p.bpmn"]
    first_line = _line_of(text, "<bpmn:script>")
    assert [p.line for p in problems] == [first_line + 3, first_line + 4]
    assert "«__class__»" in problems[0].message and "dòng 4 của kịch bản" in problems[0].message
    assert "import os" in problems[1].message
    assert analysis.reason


def test_script_syntax_error_is_refused_with_its_line() -> None:
    text = _linear('    <bpmn:scriptTask id="t" name="Tính phí"><bpmn:incoming>f1</bpmn:incoming>'
                   "<bpmn:outgoing>f2</bpmn:outgoing><bpmn:script>\nphi = (1 +\n</bpmn:script></bpmn:scriptTask>")
    analysis = analyze_bpmn({"p.bpmn": text.encode()})
    problem = next(p for p in analysis.problems if p.code == "script_syntax")
    assert analysis.verdict == "not_executable"
    assert problem.line is not None and problem.line >= _line_of(text, "<bpmn:script>") + 1
    assert "cú pháp" in problem.message


def test_script_in_another_language_is_refused() -> None:
    text = _linear('    <bpmn:scriptTask id="t" name="Tính phí" scriptFormat="groovy"><bpmn:incoming>f1</bpmn:incoming>'
                   "<bpmn:outgoing>f2</bpmn:outgoing><bpmn:script>def x = 1</bpmn:script></bpmn:scriptTask>")
    analysis = analyze_bpmn({"p.bpmn": text.encode()})
    assert analysis.verdict == "not_executable"
    assert "script_language_unsupported" in _codes(analysis)


def test_pre_and_post_scripts_are_checked() -> None:
    text = _linear('    <bpmn:userTask id="t"><bpmn:extensionElements>'
                   "<spiffworkflow:preScript>x = open('/etc/passwd')</spiffworkflow:preScript></bpmn:extensionElements>"
                   "<bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>")
    analysis = analyze_bpmn({"p.bpmn": text.encode()})
    assert analysis.verdict == "not_executable"
    problem = next(p for p in analysis.problems if p.code == "script_construct_forbidden")
    assert "«open»" in problem.message and "preScript" in problem.message


def test_bad_condition_is_reported_with_its_line() -> None:
    text = VALID.replace("ket_qua == 'dong_y'", "ket_qua.__class__ == 'dong_y'")
    analysis = analyze_bpmn({"khai-sinh.bpmn": text.encode()})
    assert analysis.verdict != "deployable"
    problem = next(p for p in analysis.problems if p.code == "expression_private_name")
    assert problem.severity == "error"
    assert problem.file == "khai-sinh.bpmn"
    assert problem.line == _line_of(text, "<bpmn:conditionExpression>")
    assert "«Đồng ý»" in problem.message


@pytest.mark.parametrize(
    ("condition", "code"),
    [("ket_qua ==", "expression_syntax"), ("${approved}", "expression_language_unsupported"),
     ("open('x').read()", "expression_function_forbidden")],
)
def test_conditions_that_cannot_run_here(condition: str, code: str) -> None:
    text = VALID.replace("ket_qua == 'dong_y'", condition)
    analysis = analyze_bpmn({"khai-sinh.bpmn": text.encode()})
    assert analysis.verdict == "not_executable"
    assert code in _codes(analysis)


def test_malformed_xml_is_invalid_with_its_line() -> None:
    text = VALID.replace("</bpmn:userTask>", "</bpmn:task>", 1)
    analysis = analyze_bpmn({"khai-sinh.bpmn": text.encode()})
    assert analysis.verdict == "invalid"
    (problem,) = analysis.problems
    assert problem.code == "xml_malformed"
    assert problem.line == _line_of(text, "</bpmn:task>")
    assert "khai-sinh.bpmn" in analysis.reason
    assert analysis.process_id is None


def test_xxe_is_invalid() -> None:
    text = VALID.replace(
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n',
    ).replace('name="Đăng ký khai sinh"', 'name="&xxe;"')
    analysis = analyze_bpmn({"khai-sinh.bpmn": text.encode()})
    assert analysis.verdict == "invalid"
    assert _codes(analysis) == ["xml_doctype_forbidden"]
    assert analysis.problems[0].line == 2
    with pytest.raises(XmlError):
        build_parser_for({"khai-sinh.bpmn": text.encode()})


@pytest.mark.parametrize("attrs", ['isExecutable="false"', ""], ids=["false", "absent"])
def test_no_executable_process_is_not_executable(attrs: str) -> None:
    text = VALID.replace('isExecutable="true"', attrs)
    analysis = analyze_bpmn({"khai-sinh.bpmn": text.encode()})
    assert analysis.verdict == "not_executable"
    marking = attrs or "không khai báo isExecutable"
    assert analysis.reason == (f'Quy trình «Đăng ký khai sinh» (id «khai_sinh») đang {marking} nên không chạy được; '
                               'đây là quy trình duy nhất có các bước trong gói. Hãy đặt isExecutable="true" trên '
                               'quy trình «khai_sinh».')
    assert analysis.process_ids == ["khai_sinh"]
    assert analysis.executable_process_ids == []
    assert analysis.process_id is None
    assert _codes(analysis) == ["no_executable_process"]
    assert analysis.problems[0].line == _line_of(text, "<bpmn:process ")


def test_not_a_bpmn_document_is_invalid() -> None:
    analysis = analyze_bpmn({"p.bpmn": b'<?xml version="1.0"?>\n<definitions xmlns="urn:other"/>'})
    assert analysis.verdict == "invalid"
    assert _codes(analysis) == ["not_bpmn"]
    assert analysis.problems[0].line == 2


def test_several_executable_processes_need_a_process_id() -> None:
    second = _linear('    <bpmn:userTask id="t"><bpmn:incoming>f1</bpmn:incoming>'
                     "<bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>")
    files = {"khai-sinh.bpmn": VALID.encode(), "phu.bpmn": second.encode()}
    ambiguous = analyze_bpmn(files)
    assert ambiguous.verdict == "not_executable"
    assert "process_ambiguous" in _codes(ambiguous)
    assert ambiguous.process_id is None
    assert sorted(ambiguous.executable_process_ids) == ["khai_sinh", "thu_tuc"]

    chosen = analyze_bpmn(files, process_id="khai_sinh")
    assert chosen.verdict == "deployable"
    assert chosen.process_id == "khai_sinh"
    assert [t.spec_name for t in chosen.user_tasks] == ["tiep_nhan", "ky_duyet"]

    missing = analyze_bpmn(files, process_id="khong_co")
    assert missing.verdict == "invalid"
    assert _codes(missing) == ["process_not_found"]


@pytest.mark.parametrize(
    ("status", "ok"), [("1", True), ("10", True), ("0", False), ("11", False), ("hai", False), ("2.5", False)]
)
def test_dossier_status_must_be_in_the_table(status: str, ok: bool) -> None:
    text = VALID.replace('name="dossierStatus" value="9"', f'name="dossierStatus" value="{status}"')
    analysis = analyze_bpmn({"khai-sinh.bpmn": text.encode()})
    if ok:
        assert analysis.verdict == "deployable"
        return
    assert analysis.verdict == "invalid"
    (problem,) = analysis.problems
    assert problem.code == "status_out_of_range"
    assert problem.line == _line_of(text, f'name="dossierStatus" value="{status}"')


@pytest.mark.parametrize(
    ("value", "ok"), [("3", True), ("0.25", True), ("0", False), ("-1", False), ("1,5", False), ("ba", False),
                      ("NaN", False), ("1e3", False)]
)
def test_allotted_time_must_be_positive_working_days(value: str, ok: bool) -> None:
    text = VALID.replace('name="allottedTime" value="1"', f'name="allottedTime" value="{value}"')
    analysis = analyze_bpmn({"khai-sinh.bpmn": text.encode()})
    assert (analysis.verdict == "deployable") is ok
    if not ok:
        assert _codes(analysis) == ["allotted_time_invalid"]


def test_service_task_needs_an_operator() -> None:
    bare = _linear('    <bpmn:serviceTask id="t" name="Gọi dịch vụ"><bpmn:incoming>f1</bpmn:incoming>'
                   "<bpmn:outgoing>f2</bpmn:outgoing></bpmn:serviceTask>")
    analysis = analyze_bpmn({"p.bpmn": bare.encode()})
    assert analysis.verdict == "not_executable"
    problem = next(p for p in analysis.problems if p.code == "service_task_unsupported")
    assert problem.line == _line_of(bare, "<bpmn:serviceTask")

    with_operator = _linear(
        '    <bpmn:serviceTask id="t" name="Tra cứu"><bpmn:extensionElements>'
        '<spiffworkflow:serviceTaskOperator id="population.lookup_citizen" resultVariable="cong_dan">'
        '<spiffworkflow:parameters><spiffworkflow:parameter id="so_dinh_danh" type="str" value="cccd"/>'
        "</spiffworkflow:parameters></spiffworkflow:serviceTaskOperator></bpmn:extensionElements>"
        "<bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:serviceTask>"
    )
    analysis = analyze_bpmn({"p.bpmn": with_operator.encode()})
    assert analysis.verdict == "deployable"
    (service,) = analysis.service_tasks
    assert (service.spec_name, service.operation, service.result_variable) == (
        "t", "population.lookup_citizen", "cong_dan")
    assert service.parameters == {"so_dinh_danh": {"value": "cccd", "type": "str"}}

    bad_param = with_operator.replace('value="cccd"', 'value="__import__(\'os\')"')
    assert "expression_private_name" in _codes(analyze_bpmn({"p.bpmn": bad_param.encode()}))


def test_unsupported_element_is_not_executable_with_engine_detail() -> None:
    text = _linear('    <bpmn:complexGateway id="t" name="Phức hợp"><bpmn:incoming>f1</bpmn:incoming>'
                   "<bpmn:outgoing>f2</bpmn:outgoing></bpmn:complexGateway>")
    analysis = analyze_bpmn({"p.bpmn": text.encode()})
    assert analysis.verdict == "not_executable"
    (problem,) = analysis.problems
    assert problem.code == "element_unsupported"
    assert problem.line == _line_of(text, "<bpmn:complexGateway")
    assert "cổng phức hợp" in problem.message and "«Phức hợp» (id «t»)" in problem.message
    assert "There is no support implemented" not in problem.message


def test_waiting_for_a_message_is_not_executable() -> None:
    text = _linear('    <bpmn:intermediateCatchEvent id="t" name="Chờ kết quả"><bpmn:incoming>f1</bpmn:incoming>'
                   "<bpmn:outgoing>f2</bpmn:outgoing><bpmn:messageEventDefinition id=\"m\"/>"
                   "</bpmn:intermediateCatchEvent>")
    analysis = analyze_bpmn({"p.bpmn": text.encode()})
    assert analysis.verdict == "not_executable"
    assert _codes(analysis) == ["message_wait_unsupported"]


def test_timer_needs_a_value() -> None:
    text = _linear('    <bpmn:intermediateCatchEvent id="t" name="Chờ"><bpmn:incoming>f1</bpmn:incoming>'
                   '<bpmn:outgoing>f2</bpmn:outgoing><bpmn:timerEventDefinition id="tm">'
                   "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>")
    analysis = analyze_bpmn({"p.bpmn": text.encode()})
    assert analysis.verdict == "not_executable"
    assert "timer_unspecified" in _codes(analysis)


def test_modelling_error_from_the_engine_is_invalid() -> None:
    text = VALID.replace('targetRef="ky_duyet"', 'targetRef="khong_ton_tai"')
    analysis = analyze_bpmn({"khai-sinh.bpmn": text.encode()})
    assert analysis.verdict == "invalid"
    problem = analysis.problems[0]
    assert problem.code == "flow_target_missing"
    assert problem.line == _line_of(text, '<bpmn:userTask id="tiep_nhan"')


def test_gateway_without_conditions_is_not_executable() -> None:
    text = VALID.replace(' default="f_no"', "")
    text = text.replace("<bpmn:conditionExpression>ket_qua == 'dong_y'</bpmn:conditionExpression>", "")
    analysis = analyze_bpmn({"khai-sinh.bpmn": text.encode()})
    assert analysis.verdict == "not_executable"
    assert _codes(analysis) == ["condition_missing"]
    assert analysis.problems[0].line is not None


DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="dmn" name="Phí" namespace="x">
  <decision id="muc_phi" name="Mức phí">
    <decisionTable id="bang">
      <input id="i1" label="Kênh"><inputExpression id="ie" typeRef="string"><text>kenh</text></inputExpression></input>
      <output id="o1" name="phi" typeRef="number"/>
      <rule id="r1"><inputEntry id="e1"><text>"truc_tuyen"</text></inputEntry>
        <outputEntry id="o1r1"><text>10000</text></outputEntry></rule>
      <rule id="r2"><inputEntry id="e2"><text>-</text></inputEntry>
        <outputEntry id="o1r2"><text>20000</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>
"""

BUSINESS_RULE = _linear(
    '    <bpmn:businessRuleTask id="t" name="Tính phí"><bpmn:extensionElements>'
    "<spiffworkflow:calledDecisionId>muc_phi</spiffworkflow:calledDecisionId></bpmn:extensionElements>"
    "<bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:businessRuleTask>"
)


def test_dmn_decision_is_checked_and_runs_on_the_safe_engine() -> None:
    files = {"p.bpmn": BUSINESS_RULE.encode(), "phi.dmn": DMN.encode()}
    analysis = analyze_bpmn(files)
    assert analysis.verdict == "deployable", analysis.problems
    parser = build_parser_for(files)
    for channel, fee in (("truc_tuyen", 10000), ("truc_tiep", 20000)):
        workflow = BpmnWorkflow(parser.get_spec("thu_tuc"), script_engine=SafeScriptEngine())
        workflow.task_tree.data["kenh"] = channel
        workflow.do_engine_steps()
        assert workflow.is_completed()
        assert workflow.data["phi"] == fee

    evil = DMN.replace("<text>20000</text>", "<text>().__class__</text>")
    analysis = analyze_bpmn({"p.bpmn": BUSINESS_RULE.encode(), "phi.dmn": evil.encode()})
    assert analysis.verdict == "not_executable"
    problem = next(p for p in analysis.problems if p.code == "expression_private_name")
    assert (problem.file, problem.line) == ("phi.dmn", _line_of(evil, "().__class__"))

    missing = analyze_bpmn({"p.bpmn": BUSINESS_RULE.encode()})
    assert missing.verdict == "invalid"
    assert _codes(missing) == ["decision_missing"]


@pytest.mark.parametrize(
    "data",
    [b"\x00\xff\xfe garbage", b"<bpmn:definitions xmlns:bpmn='x'>", b"<a/>", VALID.encode("utf-16"),
     VALID.replace('id="khai_sinh"', 'id="x\'y"').encode(), VALID.replace('id="f2"', 'id="f1"').encode()],
    ids=["binary", "unclosed", "other-root", "utf16", "quote-in-id", "duplicate-id"],
)
def test_odd_files_never_crash(data: bytes) -> None:
    analysis = analyze_bpmn({"odd.bpmn": data, "odd.dmn": data})
    assert analysis.verdict in VERDICTS
    assert analysis.reason
    assert all(p.file and p.code and p.message for p in analysis.problems)


def test_empty_package_is_not_deployable() -> None:
    analysis = analyze_bpmn({})
    assert analysis.verdict == "not_executable"
    assert _codes(analysis) == ["no_process"]


def _deployable_conformance_models() -> list[Path]:
    folder = CONFORMANCE / "miwg"
    if not folder.is_dir():
        return []
    return [f for f in sorted(folder.rglob("*.bpmn")) if analyze_bpmn({f.name: f.read_bytes()}).verdict == "deployable"]


@pytest.mark.skipif(not (CONFORMANCE / "miwg").is_dir(), reason="conformance corpus (../shared/conformance) absent")
def test_deployable_conformance_models_run_to_completion() -> None:
    models = _deployable_conformance_models()
    assert models, "the corpus holds models this platform can deploy"
    for model in models:
        files = {model.name: model.read_bytes()}
        analysis = analyze_bpmn(files)
        assert analysis.process_id is not None
        parser = build_parser_for(files)
        workflow = BpmnWorkflow(
            parser.get_spec(analysis.process_id), parser.get_subprocess_specs(analysis.process_id),
            script_engine=SafeScriptEngine(),
        )
        workflow.do_engine_steps()
        for _ in range(100):
            ready = workflow.get_tasks(state=TaskState.READY, manual=True)
            if not ready:
                break
            assert {t.task_spec.name for t in ready} <= {t.spec_name for t in analysis.user_tasks}
            ready[0].run()
            workflow.do_engine_steps()
        assert workflow.is_completed(), model


# ---------------------------------------------------------------------------------------------
# What the designer reads: counts, engine errors in their words, vendor ids, timers, reserved ids

LIBRARY_TEXT = re.compile(
    r"0x[0-9a-f]{4,}|<Element|Traceback|[A-Za-z]+(Error|Exception)\(|unexpected keyword|raise_validation|"
    r"Chi tiết|SubWorkflow|has no implementation|is missing from"
)


def _in_designer_words(message: str) -> bool:
    return not LIBRARY_TEXT.search(message)


def test_headline_counts_every_error_listed() -> None:
    # One broken file error (a duplicate id) and two that only stop it running here (a script task, a
    # FEEL condition): the headline must say "and 2 other errors", as the list below it shows three.
    text = VALID.replace('id="f2"', 'id="f1"', 1).replace(
        '<bpmn:userTask id="ky_duyet">', '<bpmn:scriptTask id="ky_duyet"><bpmn:script>import os</bpmn:script>', 1
    )
    text = text.replace("</bpmn:userTask>\n    <bpmn:exclusiveGateway",
                        "</bpmn:scriptTask>\n    <bpmn:exclusiveGateway")
    text = text.replace("ket_qua == 'dong_y'", "${approved}")
    analysis = analyze_bpmn({"khai-sinh.bpmn": text.encode()})
    errors = [p for p in analysis.problems if p.severity == "error"]
    assert len(errors) == 3, analysis.problems
    assert analysis.verdict == "invalid"
    assert "(và 2 lỗi khác)" in analysis.reason


def _boundary(definition: str, declarations: str = "") -> str:
    """start → user task "t" with a boundary event carrying `definition` → end; the boundary leads to end2."""
    return HEAD + declarations + f"""  <bpmn:process id="thu_tuc" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="t" name="Thẩm định"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="b" name="Khi lỗi" attachedToRef="t">{definition}<bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end2"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="t"/>
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="end"/>
    <bpmn:sequenceFlow id="f3" sourceRef="b" targetRef="end2"/>
  </bpmn:process>
""" + TAIL


@pytest.mark.parametrize(
    ("definition", "ref"),
    [('<bpmn:errorEventDefinition id="ed" errorRef="loi_khong_co"/>', "loi_khong_co"),
     ('<bpmn:escalationEventDefinition id="ed" escalationRef="leo_thang_khong_co"/>', "leo_thang_khong_co"),
     ('<bpmn:signalEventDefinition id="ed" signalRef="tin_hieu_khong_co"/>', "tin_hieu_khong_co"),
     ('<bpmn:messageEventDefinition id="ed" messageRef="thong_diep_khong_co"/>', "thong_diep_khong_co")],
    ids=["error", "escalation", "signal", "message"],
)
def test_missing_event_reference_is_explained_not_leaked(definition: str, ref: str) -> None:
    # SpiffWorkflow 3.2 reports these as "raise_validation_exception() got an unexpected keyword argument 'node'".
    text = _boundary(definition)
    analysis = analyze_bpmn({"p.bpmn": text.encode()})
    assert analysis.verdict != "deployable"
    problem = next(p for p in analysis.problems if p.code == "reference_broken")
    assert problem.line == _line_of(text, "<bpmn:boundaryEvent")
    assert f"«{ref}»" in problem.message and "«Khi lỗi»" in problem.message
    for p in analysis.problems:
        assert _in_designer_words(p.message), p.message
    assert _in_designer_words(analysis.reason)
    declared = {"error": f'<bpmn:error id="{ref}" errorCode="E1"/>',
                "escalation": f'<bpmn:escalation id="{ref}" escalationCode="E1"/>',
                "signal": f'<bpmn:signal id="{ref}" name="S"/>', "message": f'<bpmn:message id="{ref}" name="M"/>'}
    kind = next(k for k in declared if f"{k}Ref" in definition)
    fixed = analyze_bpmn({"p.bpmn": _boundary(definition, declared[kind]).encode()})
    assert "reference_broken" not in _codes(fixed)


def test_unresolved_data_association_names_the_reference_not_an_object() -> None:
    # The engine's message embeds an lxml object: "Cannot resolve dataOutputAssociation <Element … at 0x…>".
    text = _linear('    <bpmn:userTask id="t" name="Ghi sổ"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2'
                   '</bpmn:outgoing><bpmn:dataOutputAssociation id="doa"><bpmn:targetRef>so_khong_co'
                   "</bpmn:targetRef></bpmn:dataOutputAssociation></bpmn:userTask>")
    analysis = analyze_bpmn({"p.bpmn": text.encode()})
    assert analysis.verdict != "deployable"
    problem = next(p for p in analysis.problems if p.code == "data_reference_unsupported")
    assert "«so_khong_co»" in problem.message and "«Ghi sổ»" in problem.message
    assert problem.line == _line_of(text, '<bpmn:userTask id="t"')
    assert all(_in_designer_words(p.message) for p in analysis.problems), analysis.problems


def test_odd_attributes_the_engine_trips_on_are_explained() -> None:
    # A parameter without its value: the engine's KeyError('value'); a shape whose y is not a number: a raw
    # ValueError("could not convert string to float") from SpiffWorkflow's own reading of the drawing.
    no_value = VALID.replace('value="tiep-nhan.ui.json"', "")
    analysis = analyze_bpmn({"khai-sinh.bpmn": no_value.encode()})
    assert analysis.verdict != "deployable"
    assert all(_in_designer_words(p.message) for p in analysis.problems), analysis.problems
    drawing = VALID.replace(TAIL, """  <bpmndi:BPMNDiagram xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
      xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" id="d"><bpmndi:BPMNPlane id="pl" bpmnElement="collab">
    <bpmndi:BPMNShape id="s1" bpmnElement="tiep_nhan"><dc:Bounds x="10" y="giữa" width="1" height="1"/>
    </bpmndi:BPMNShape></bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
""" + TAIL)
    analysis = analyze_bpmn({"khai-sinh.bpmn": drawing.encode()})
    assert analysis.verdict == "invalid"
    (problem,) = analysis.problems
    assert problem.code == "diagram_layout_invalid"
    assert problem.line == _line_of(drawing, 'y="giữa"') and "«tiep_nhan»" in problem.message
    assert _in_designer_words(problem.message)


def test_unrecognised_engine_error_gets_a_generic_message_with_the_element_id() -> None:
    from lxml import etree as _etree
    from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException

    from app.engine.analysis import translate_engine_error

    root = _etree.fromstring(_linear('    <bpmn:userTask id="t" name="Ký"><bpmn:incoming>f1</bpmn:incoming>'
                                     "<bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>").encode())
    node = root.find(".//{http://www.omg.org/spec/BPMN/20100524/MODEL}userTask")
    for exc in (ValidationException(f"Something new went wrong with {node!r}", node=node, file_name="p.bpmn"),
                ValidationException("KeyError('x')", node=node, file_name="p.bpmn"),
                TypeError("f() got an unexpected keyword argument 'node'"), RecursionError()):
        problem = translate_engine_error(exc, "p.bpmn", {"p.bpmn": {"t": node}})
        assert problem.file == "p.bpmn"
        assert problem.code == "engine_unsupported"
        assert _in_designer_words(problem.message), problem.message
        if isinstance(exc, ValidationException):
            assert "«Ký» (id «t»)" in problem.message and problem.line == node.sourceline


VP_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<definitions exporter="Visual Paradigm" id="Definition" targetNamespace="http://www.omg.org/bpmn20"
  xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:vp="http://www.visual-paradigm.com/bpmn/vpspecificcontent"
  xmlns:other="urn:vendor">
"""


def test_vendor_elements_inside_extension_elements_are_not_bpmn_ids() -> None:
    # Visual Paradigm writes its own <Model id="…"> (in the default, i.e. BPMN, namespace) inside
    # extensionElements, reusing the id of the event definition it describes.
    text = VP_HEAD + """  <process id="thu_tuc" isExecutable="true">
    <startEvent id="start"><outgoing>f1</outgoing></startEvent>
    <userTask id="t" name="Thẩm định">
      <extensionElements><vp:Extensions><ModelExtension><ModelProperties><ModelProperty Name="trigger">
        <Model id="ID_1" name="Timer"/></ModelProperty></ModelProperties></ModelExtension></vp:Extensions>
        <other:thing id="ID_1"/></extensionElements>
      <incoming>f1</incoming><outgoing>f2</outgoing>
    </userTask>
    <boundaryEvent id="b" attachedToRef="t"><outgoing>f3</outgoing>
      <timerEventDefinition id="ID_1"><timeDuration>'P1D'</timeDuration></timerEventDefinition></boundaryEvent>
    <endEvent id="end"><incoming>f2</incoming></endEvent>
    <endEvent id="end2"><incoming>f3</incoming></endEvent>
    <sequenceFlow id="f1" sourceRef="start" targetRef="t"/>
    <sequenceFlow id="f2" sourceRef="t" targetRef="end"/>
    <sequenceFlow id="f3" sourceRef="b" targetRef="end2"/>
  </process>
</definitions>
"""
    analysis = analyze_bpmn({"vp.bpmn": text.encode()})
    assert "duplicate_id" not in _codes(analysis), analysis.problems
    assert analysis.verdict == "deployable", analysis.reason
    # Two BPMN elements sharing an id are still reported, at the second one's line.
    broken = text.replace('<endEvent id="end2">', '<endEvent id="end">')
    problem = next(p for p in analyze_bpmn({"vp.bpmn": broken.encode()}).problems if p.code == "duplicate_id")
    assert problem.line == _line_of(broken, '<endEvent id="end"><incoming>f3')


VISUAL_PARADIGM = Path(__file__).resolve().parent / "data" / "miwg-visual-paradigm-11.1"


@pytest.mark.parametrize("name", sorted(p.name for p in VISUAL_PARADIGM.glob("*.bpmn")))
def test_visual_paradigm_exports_have_no_false_duplicate_ids(name: str) -> None:
    analysis = analyze_bpmn({name: (VISUAL_PARADIGM / name).read_bytes()})
    assert "duplicate_id" not in _codes(analysis), analysis.problems
    assert analysis.verdict == "not_executable"  # descriptive models (isExecutable="false")
    assert all(_in_designer_words(p.message) for p in analysis.problems)


def _timer_process(element: str, value: str) -> str:
    return _linear('    <bpmn:intermediateCatchEvent id="t" name="Chờ"><bpmn:incoming>f1</bpmn:incoming>'
                   '<bpmn:outgoing>f2</bpmn:outgoing><bpmn:timerEventDefinition id="tm">'
                   f"<bpmn:{element}>{value}</bpmn:{element}></bpmn:timerEventDefinition>"
                   "</bpmn:intermediateCatchEvent>")


def _waiting_value(files: dict[str, bytes]) -> Any:
    parser = build_parser_for(files)
    workflow = BpmnWorkflow(parser.get_spec("thu_tuc"), script_engine=SafeScriptEngine())
    workflow.do_engine_steps()
    (event,) = workflow.waiting_events()
    return event.value


@pytest.mark.parametrize(
    ("element", "value"),
    [("timeDuration", "PT5M"), ("timeDuration", " P7DT0H "), ("timeDuration", "P1Y2M10DT2H30M"),
     ("timeDate", "2099-12-01T08:00:00+07:00")],
)
def test_bare_iso_8601_timer_values_are_accepted_and_evaluate_as_strings(element: str, value: str) -> None:
    import datetime as dt

    files = {"p.bpmn": _timer_process(element, value).encode()}
    analysis = analyze_bpmn(files)
    assert analysis.verdict == "deployable", analysis.problems
    before = dt.datetime.now(dt.UTC)
    due = _waiting_value(files)
    if value == "PT5M":
        assert before + dt.timedelta(minutes=5) <= dt.datetime.fromisoformat(due) <= (
            dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))
    elif element == "timeDate":
        assert dt.datetime.fromisoformat(due) == dt.datetime(2099, 12, 1, 1, 0, tzinfo=dt.UTC)
    elif element == "timeCycle":  # the first of three hourly repetitions
        assert before + dt.timedelta(hours=1) <= dt.datetime.fromisoformat(due) <= (
            dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    else:
        assert dt.datetime.fromisoformat(due) > before + dt.timedelta(days=7)


@pytest.mark.parametrize("value", ["'PT' + str(2) + 'H'", "'PT5M' if True else 'PT1H'"])
def test_real_timer_expressions_are_kept(value: str) -> None:
    files = {"p.bpmn": _timer_process("timeDuration", value).encode()}
    assert analyze_bpmn(files).verdict == "deployable"
    assert _waiting_value(files)


def test_timer_literal_that_is_not_iso_8601_is_refused() -> None:
    analysis = analyze_bpmn({"p.bpmn": _timer_process("timeDuration", "'PT5X'").encode()})
    assert analysis.verdict != "deployable"
    problem = next(p for p in analysis.problems if p.code == "timer_invalid")
    assert "PT5X" in problem.message and _in_designer_words(problem.message)


@pytest.mark.parametrize(
    ("old", "new"),
    [('id="start"', 'id="Start"'), ('id="end_ok"', 'id="End"'), ('id="gw"', 'id="Root"'),
     ('id="ky_duyet"', 'id="StartEventSplit"'), ('id="ky_duyet"', 'id="StartEventJoin"'),
     ('id="ky_duyet"', 'id="khai_sinh.EndJoin"'), ('id="ky_duyet"', 'id="x.BoundaryEventSplit"'),
     ('id="ky_duyet"', 'id="x.BoundaryEventJoin"')],
)
def test_ids_the_engine_reserves_are_refused(old: str, new: str) -> None:
    name = new.split('"')[1]
    text = VALID.replace(old, new)
    reference = old.split('"')[1]
    text = re.sub(rf">{reference}<", f">{name}<", text)
    text = re.sub(rf'(sourceRef|targetRef|default)="{reference}"', rf'\1="{name}"', text)
    analysis = analyze_bpmn({"khai-sinh.bpmn": text.encode()})
    assert analysis.verdict != "deployable"
    problem = next(p for p in analysis.problems if p.code == "id_reserved")
    assert f"«{name}»" in problem.message
    assert problem.line == _line_of(text, new)


def _flow(body: str) -> BpmnAnalysis:
    text = HEAD + f'  <bpmn:process id="thu_tuc" isExecutable="true">\n{body}\n  </bpmn:process>\n' + TAIL
    analysis = analyze_bpmn({"p.bpmn": text.encode()})
    assert analysis.verdict == "deployable", analysis.problems
    return analysis


def _task(task_id: str, incoming: str, outgoing: str) -> str:
    return (f'<bpmn:userTask id="{task_id}"><bpmn:incoming>{incoming}</bpmn:incoming>'
            f"<bpmn:outgoing>{outgoing}</bpmn:outgoing></bpmn:userTask>")


def _flows(*edges: str) -> str:
    out = []
    for edge in edges:
        flow_id, source, target, *condition = edge.split()
        cond = f"<bpmn:conditionExpression>{' '.join(condition)}</bpmn:conditionExpression>" if condition else ""
        out.append(f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">{cond}'
                   "</bpmn:sequenceFlow>")
    return "\n".join(out)


def test_names_from_both_parallel_branches_are_there_after_the_join() -> None:
    from app.engine.analysis import check_variables

    analysis = _flow(
        '<bpmn:startEvent id="s"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>'
        '<bpmn:parallelGateway id="split"/><bpmn:parallelGateway id="join"/>'
        + _task("a", "f1", "f3") + _task("b", "f2", "f4")
        + '<bpmn:exclusiveGateway id="gw" default="f6"/><bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>'
        + _flows("f0 s split", "f1 split a", "f2 split b", "f3 a join", "f4 b join", "f5 join gw",
                 "f7 gw e1 x == 1 and y == 2", "f6 gw e2"))
    assert check_variables(analysis, {"a": {"x"}, "b": {"y"}}, set()) == []
    # On an exclusive split only one branch runs: what one branch defines may be missing after the merge.
    exclusive = _flow(
        '<bpmn:startEvent id="s"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>'
        '<bpmn:exclusiveGateway id="split" default="f2"/><bpmn:exclusiveGateway id="join"/>'
        + _task("a", "f1", "f3") + _task("b", "f2", "f4")
        + '<bpmn:exclusiveGateway id="gw" default="f6"/><bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>'
        + _flows("f0 s split", "f1 split a chon == 1", "f2 split b", "f3 a join", "f4 b join", "f5 join gw",
                 "f7 gw e1 x == 1", "f6 gw e2"))
    (problem,) = check_variables(exclusive, {"a": {"x"}, "b": {"y"}}, {"chon"})
    assert (problem.code, problem.severity) == ("expression_name_maybe_undefined", "warning")
    assert "«x»" in problem.message and "«a»" in problem.message
    guarded = check_variables(exclusive, {"a": {"x"}, "b": {"x"}}, {"chon"})
    assert guarded == []  # defined on both branches


def test_a_loop_back_to_the_step_that_defines_a_name_is_fine() -> None:
    from app.engine.analysis import check_variables

    analysis = _flow(
        '<bpmn:startEvent id="s"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>'
        '<bpmn:exclusiveGateway id="merge"/>' + _task("a", "f1", "f2")
        + '<bpmn:exclusiveGateway id="gw" default="f4"/><bpmn:endEvent id="e"/>'
        + _flows("f0 s merge", "f1 merge a", "f2 a gw", "f3 gw merge lam_lai == True", "f4 gw e"))
    assert check_variables(analysis, {"a": {"lam_lai"}}, set()) == []
    (problem,) = check_variables(analysis, {"a": set()}, set())
    assert problem.code == "expression_name_undefined" and "«lam_lai»" in problem.message


def test_a_caught_service_error_defines_its_variable() -> None:
    from app.engine.analysis import check_variables

    analysis = _flow(
        '<bpmn:startEvent id="s"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>'
        '<bpmn:serviceTask id="t"><bpmn:extensionElements><spiffworkflow:serviceTaskOperator '
        'id="population.lookup_citizen" resultVariable="kq"><spiffworkflow:parameters><spiffworkflow:parameter '
        'id="so_dinh_danh" type="str" value="cccd"/></spiffworkflow:parameters></spiffworkflow:serviceTaskOperator>'
        "</bpmn:extensionElements></bpmn:serviceTask>"
        '<bpmn:boundaryEvent id="b" attachedToRef="t"><bpmn:errorEventDefinition id="ed"/></bpmn:boundaryEvent>'
        '<bpmn:exclusiveGateway id="gw" default="f4"/><bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>'
        '<bpmn:endEvent id="e3"/>'
        + _flows("f0 s t", "f1 t e1", "f2 b gw", "f3 gw e2 loi_dich_vu['ma'] == 'x' and kq", "f4 gw e3"))
    (problem,) = check_variables(analysis, {}, {"cccd"})
    # kq is the result of the call that failed on this path: a warning; loi_dich_vu is there.
    assert problem.code == "expression_name_maybe_undefined" and "«kq»" in problem.message
    (missing,) = [p for p in check_variables(analysis, {}, set()) if p.severity == "error"]
    assert missing.code == "expression_name_undefined" and "«cccd»" in missing.message


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"<a><b></c></a>", "«</c>»"), (b"<a><b>", "«<b>»"), (b"<a/><b/>", "sau phần tử gốc"),
     (b"hello", "không bắt đầu bằng thẻ XML"), (b"<x:a/>", "«x»"), (b"<a>" * 300 + b"</a>" * 300, "256"),
     (b"<a b=c/>", "dấu nháy"), (b'<a b="1" b="2"/>', "«b»"), (b"<a>&</a>", "&amp;"), (b'<a b="<"/>', "&lt;"),
     (b"<1a/>", "tên thẻ"), (b"<a><!-- x </a>", "chú thích"), (b"<a>\xff\xfe</a>", "UTF-8"),
     (b"<a>\x00</a>", "ký tự không hợp lệ")],
)
def test_xml_syntax_errors_are_told_in_the_designers_words(data: bytes, expected: str) -> None:
    from lxml import etree as _etree

    with pytest.raises(_etree.XMLSyntaxError) as raw:
        _etree.fromstring(data)
    analysis = analyze_bpmn({"p.bpmn": b"\n" + data})
    (problem,) = analysis.problems
    assert problem.code == "xml_malformed"
    assert problem.line == 2
    assert expected in problem.message, problem.message
    english = raw.value.msg.split(",")[0]
    assert english not in problem.message and "line" not in problem.message, problem.message
    assert "«p.bpmn»" in problem.message and "dòng 2" in problem.message


def test_a_multi_instance_task_gives_its_collection_not_its_instances_fields() -> None:
    # Each instance's form data is collected (app.engine.multi) in ket_qua_<task id>: its fields stay in it.
    from app.engine.analysis import check_variables

    def flow(condition: str) -> Any:
        return _flow(
            '<bpmn:startEvent id="s"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>'
            '<bpmn:userTask id="a"><bpmn:multiInstanceLoopCharacteristics isSequential="true">'
            "<bpmn:loopCardinality>2</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>"
            '<bpmn:exclusiveGateway id="gw" default="f3"/><bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>'
            + _flows("f0 s a", "f1 a gw", f"f2 gw e1 {condition}", "f3 gw e2"))

    collected = flow("len(ket_qua_a) == 2")
    (task,) = collected.user_tasks
    assert check_variables(collected, {task.spec_name: {"y"}}, set()) == []
    leaked = flow("y == 1")
    assert [p.code for p in check_variables(leaked, {task.spec_name: {"y"}}, set())] == ["expression_name_undefined"]


def test_the_tasks_are_read_from_the_xml_when_the_engine_cannot_build_the_process() -> None:
    # With a start event called "Start" the engine's spec silently loses every task; the checks that work on
    # the diagram itself (forms, lanes, service tasks, variables) still need to know the tasks.
    root = Path(__file__).resolve().parents[2]
    text = (root / "bpmn" / "khai-sinh" / "process.bpmn").read_text(encoding="utf-8")
    text = text.replace("StartEvent_NopHoSo", "Start").replace(
        "<bpmn:flowNodeRef>Task_ThamDinh</bpmn:flowNodeRef>", "")
    analysis = analyze_bpmn({"process.bpmn": text.encode()})
    assert analysis.verdict != "deployable"
    assert not analysis.engine_read
    tasks = {t.spec_name: t for t in analysis.user_tasks}
    assert set(tasks) == {"Task_TiepNhan", "Task_ThamDinh", "Task_KyGiayKhaiSinh", "Task_TraKetQua"}
    assert tasks["Task_ThamDinh"].lane is None and tasks["Task_TiepNhan"].lane == "Bộ phận một cửa"
    assert tasks["Task_TraKetQua"].form == "tra-ket-qua.schema.json"
    assert tasks["Task_TiepNhan"].properties.get("receivesDossier") == "true"
    assert analysis.task_lines["Task_TraKetQua"] == _line_of(text, '<bpmn:userTask id="Task_TraKetQua"')
    assert {t.result_variable for t in analysis.service_tasks} == {"tra_cuu_me", "tra_cuu_cha"}
    assert analysis.service_tasks[0].parameters["so_dinh_danh"]["value"] in ("me['so_dinh_danh']",
                                                                            "cha['so_dinh_danh']")
    assert analysis.data_flow is not None and analysis.start_event == "Start"


def test_the_engine_reading_is_kept_when_the_engine_builds_the_process() -> None:
    root = Path(__file__).resolve().parents[2]
    analysis = analyze_bpmn({"process.bpmn": (root / "bpmn" / "khai-sinh" / "process.bpmn").read_bytes()})
    assert analysis.verdict == "deployable" and analysis.engine_read
    assert len(analysis.user_tasks) == 4 and len(analysis.service_tasks) == 2
