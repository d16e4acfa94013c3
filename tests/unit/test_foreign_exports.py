"""Other modellers' exports: each Camunda (7 and 8), Signavio and Bizagi extension is one problem on its element's
line, saying what the platform reads instead and what to write; non-executable markings say which process to mark.
The analysis is the upload's (app.engine.analysis.analyze_bpmn); the extensions are read by app/engine/foreign.py."""

from __future__ import annotations

import pytest

from app.engine.analysis import BpmnAnalysis, Problem, analyze_bpmn

NAMESPACES = (
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:activiti="http://activiti.org/bpmn" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" xmlns:signavio="http://www.signavio.com" '
    'xmlns:bizagi="http://www.bizagi.com/bpmn20"'
)
SPIFF_FORM = ('<spiffworkflow:properties><spiffworkflow:property name="formJsonSchemaFilename" '
              'value="tham-dinh.schema.json"/></spiffworkflow:properties>')


def diagram(task_attrs: str = "", task_ext: str = "", *, spiff_form: bool = True, in_lane: bool = True,
            process_attrs: str = "", start_attrs: str = "", start_ext: str = "", extra: str = "",
            executable: str = 'isExecutable="true"') -> str:
    lane_refs = "<bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>end</bpmn:flowNodeRef>"
    if in_lane:
        lane_refs += "<bpmn:flowNodeRef>task</bpmn:flowNodeRef>"
    ext = (SPIFF_FORM if spiff_form else "") + task_ext
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NAMESPACES} id="defs" targetNamespace="http://example.org/motcua">
  <bpmn:process id="thu_tuc" name="Thủ tục mẫu" {executable}{process_attrs}>
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_cv" name="Chuyên viên">{lane_refs}</bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" name="Nộp hồ sơ"{start_attrs}>
      {f"<bpmn:extensionElements>{start_ext}</bpmn:extensionElements>" if start_ext else ""}
      <bpmn:outgoing>f1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="task" name="Thẩm định"{task_attrs}>
      {f"<bpmn:extensionElements>{ext}</bpmn:extensionElements>" if ext else ""}
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
{extra}
    <bpmn:endEvent id="end" name="Xong">
      <bpmn:incoming>f2</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>
    <bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def analyze(text: str) -> BpmnAnalysis:
    return analyze_bpmn({"process.bpmn": text.encode()})


def line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


def foreign(analysis: BpmnAnalysis) -> list[Problem]:
    return [p for p in analysis.problems if p.code.startswith("foreign_")]


def only(analysis: BpmnAnalysis, code: str) -> Problem:
    found = [p for p in analysis.problems if p.code == code]
    assert len(found) == 1, analysis.problems
    return found[0]


# (id, diagram arguments, where the problem must be: a fragment of the element's start tag, code, severity,
#  fragments the message must hold)
CASES = [
    ("camunda-formKey", dict(task_attrs=' camunda:formKey="embedded:app:forms/tham-dinh.html"', spiff_form=False),
     '<bpmn:userTask id="task"', "foreign_form", "error",
     ['«camunda:formKey="embedded:app:forms/tham-dinh.html"» → spiffworkflow:property '
      'formJsonSchemaFilename="tham-dinh.schema.json"']),
    ("camunda-formKey-beside-own-form", dict(task_attrs=' camunda:formKey="tham-dinh"'),
     '<bpmn:userTask id="task"', "foreign_form", "warning", ["bỏ qua", 'camunda:formKey="tham-dinh"']),
    ("camunda-formRef", dict(task_attrs=' camunda:formRef="tham-dinh" camunda:formRefBinding="latest"',
                             spiff_form=False),
     '<bpmn:userTask id="task"', "foreign_form", "error", ['formJsonSchemaFilename="tham-dinh.schema.json"']),
    ("activiti-formKey", dict(task_attrs=' activiti:formKey="app:thamDinh.jsf"', spiff_form=False),
     '<bpmn:userTask id="task"', "foreign_form", "error", ["Camunda/Activiti", "thamDinh.schema.json"]),
    ("camunda-formKey-start", dict(start_attrs=' camunda:formKey="app:to-khai.html"'),
     '<bpmn:startEvent id="start"', "foreign_form", "warning", ['"start_form": "to-khai.schema.json"']),
    ("camunda-formData", dict(task_ext='<camunda:formData><camunda:formField id="y_kien" type="string"/>'
                                       '<camunda:formField id="dong_y" type="boolean"/></camunda:formData>',
                              spiff_form=False),
     '<bpmn:userTask id="task"', "foreign_form", "error", ["y_kien, dong_y", ".schema.json"]),
    ("camunda-candidateGroups-in-lane", dict(task_attrs=' camunda:candidateGroups="lanh_dao"'),
     '<bpmn:userTask id="task"', "foreign_candidate_groups", "warning",
     ['«lanh_dao»', '«camunda:candidateGroups="lanh_dao"» → đặt tác vụ vào một làn được gán vai trò trong '
      'procedure.json lanes', '"Chuyên viên": "chuyen_vien"']),
    ("camunda-candidateGroups-no-lane", dict(task_attrs=' camunda:candidateGroups="lanh_dao"', in_lane=False),
     '<bpmn:userTask id="task"', "foreign_candidate_groups", "error", ["chưa nằm trong làn nào"]),
    ("camunda-candidateUsers", dict(task_attrs=' camunda:candidateUsers="an,binh"'),
     '<bpmn:userTask id="task"', "foreign_candidate_users", "warning", ['camunda:candidateUsers="an,binh"']),
    ("camunda-assignee-in-lane", dict(task_attrs=' camunda:assignee="${approver}"'),
     '<bpmn:userTask id="task"', "foreign_assignee", "warning",
     ["không chuyển đổi", "làn «Chuyên viên»", 'camunda:assignee="${approver}"']),
    ("camunda-assignee-no-lane", dict(task_attrs=' camunda:assignee="demo"', in_lane=False),
     '<bpmn:userTask id="task"', "foreign_assignee", "error", ["không ai nhận được bước này"]),
    ("camunda-dueDate", dict(task_attrs=' camunda:dueDate="${ngay_hen}"'),
     '<bpmn:userTask id="task"', "foreign_due_date", "warning", ["allottedTime"]),
    ("camunda-async", dict(task_attrs=' camunda:asyncBefore="true" camunda:exclusive="false"'),
     '<bpmn:userTask id="task"', "foreign_async", "warning",
     ['«camunda:asyncBefore="true"», «camunda:exclusive="false"»']),
    ("camunda-inputOutput", dict(task_ext='<camunda:inputOutput><camunda:inputParameter name="a">${b}'
                                          '</camunda:inputParameter></camunda:inputOutput>'),
     '<bpmn:userTask id="task"', "foreign_io_mapping", "error", ["camunda:inputOutput"]),
    ("camunda-taskListener", dict(task_ext='<camunda:taskListener class="org.example.Notify" event="create"/>'),
     '<bpmn:userTask id="task"', "foreign_listener", "error", ['camunda:taskListener class="org.example.Notify"']),
    ("camunda-properties-platform", dict(task_ext='<camunda:properties><camunda:property name="allottedTime" '
                                                  'value="1"/></camunda:properties>'),
     '<bpmn:userTask id="task"', "foreign_properties", "warning",
     ["«allottedTime»", '<spiffworkflow:property name="…" value="…"/>']),
    ("camunda-properties-other", dict(task_ext='<camunda:properties><camunda:property name="mau" value="do"/>'
                                               '</camunda:properties>'),
     '<bpmn:userTask id="task"', "foreign_properties", "warning", ["mau=do", "xóa"]),
    ("camunda-class-service", dict(extra='    <bpmn:serviceTask id="svc" name="Lưu trữ" '
                                         'camunda:class="org.example.Archive"/>'),
     '<bpmn:serviceTask id="svc"', "foreign_implementation", "error",
     ['camunda:class="org.example.Archive"', "spiffworkflow:serviceTaskOperator"]),
    ("camunda-external-send", dict(extra='    <bpmn:sendTask id="send" name="Gửi thư" camunda:type="external" '
                                         'camunda:topic="email"/>'),
     '<bpmn:sendTask id="send"', "foreign_implementation", "error",
     ['«camunda:type="external"», «camunda:topic="email"»']),
    ("camunda-decisionRef", dict(extra='    <bpmn:businessRuleTask id="rule" name="Tính phí" '
                                       'camunda:decisionRef="phi"/>'),
     '<bpmn:businessRuleTask id="rule"', "foreign_decision", "error",
     ["<spiffworkflow:calledDecisionId>phi</spiffworkflow:calledDecisionId>"]),
    ("camunda-collection", dict(extra='    <bpmn:userTask id="multi" name="Góp ý">\n'
                                      '      <bpmn:multiInstanceLoopCharacteristics camunda:collection="phong_ban" '
                                      'camunda:elementVariable="phong"/>\n    </bpmn:userTask>'),
     "<bpmn:multiInstanceLoopCharacteristics", "foreign_multi_instance", "error", ["loopDataInputRef"]),
    ("camunda-candidateStarterGroups", dict(process_attrs=' camunda:candidateStarterGroups="mot_cua"'),
     '<bpmn:process id="thu_tuc"', "foreign_starter", "warning", ["thong_tin_ho_so"]),
    ("camunda-unknown-attribute", dict(task_attrs=' camunda:somethingNew="x"'),
     '<bpmn:userTask id="task"', "foreign_extension", "warning", ['camunda:somethingNew="x"']),
    ("zeebe-taskDefinition", dict(extra='    <bpmn:serviceTask id="svc" name="Gửi"><bpmn:extensionElements>'
                                        '<zeebe:taskDefinition type="email"/></bpmn:extensionElements>'
                                        '</bpmn:serviceTask>'),
     '<bpmn:serviceTask id="svc"', "foreign_implementation", "error",
     ['Camunda 8 (Zeebe)', 'zeebe:taskDefinition type="email"']),
    ("zeebe-formDefinition", dict(task_ext='<zeebe:formDefinition formId="tham-dinh"/>', spiff_form=False),
     '<bpmn:userTask id="task"', "foreign_form", "error", ['formJsonSchemaFilename="tham-dinh.schema.json"']),
    ("zeebe-candidateGroups", dict(task_ext='<zeebe:assignmentDefinition candidateGroups="chuyen_vien"/>'),
     '<bpmn:userTask id="task"', "foreign_candidate_groups", "warning", ["«chuyen_vien»"]),
    ("zeebe-assignee", dict(task_ext='<zeebe:assignmentDefinition assignee="=nguoi_duyet"/>'),
     '<bpmn:userTask id="task"', "foreign_assignee", "warning", ['assignee="=nguoi_duyet"']),
    ("zeebe-ioMapping", dict(task_ext='<zeebe:ioMapping><zeebe:input source="=a" target="b"/></zeebe:ioMapping>'),
     '<bpmn:userTask id="task"', "foreign_io_mapping", "error", ["zeebe:ioMapping"]),
    ("zeebe-calledElement", dict(extra='    <bpmn:callActivity id="call" name="Gọi"><bpmn:extensionElements>'
                                       '<zeebe:calledElement processId="con"/></bpmn:extensionElements>'
                                       '</bpmn:callActivity>'),
     '<bpmn:callActivity id="call"', "foreign_call", "error", ['calledElement="con"']),
    ("signavio-userstory", dict(task_ext='<signavio:signavioMetaData metaKey="userstory" '
                                         'metaValue="Cán bộ đối chiếu bản gốc"/>'),
     '<bpmn:userTask id="task"', "foreign_metadata", "warning", ["bpmn:documentation", "Signavio"]),
    ("signavio-adapter", dict(task_ext='<signavio:signavioMetaData metaKey="adapterclassname" '
                                       'metaValue="com.example.Adapter"/>'),
     '<bpmn:userTask id="task"', "foreign_implementation", "error", ["Signavio"]),
    ("bizagi-description", dict(task_ext='<bizagi:BizagiExtensions><bizagi:BizagiProperties>'
                                         '<bizagi:BizagiProperty name="Description" value="Kiểm tra kỹ"/>'
                                         '</bizagi:BizagiProperties></bizagi:BizagiExtensions>'),
     '<bpmn:userTask id="task"', "foreign_metadata", "warning", ["Bizagi", 'name="Description"']),
]


@pytest.mark.parametrize(("arguments", "anchor", "code", "severity", "fragments"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_each_extension_is_one_problem_on_its_elements_line(arguments, anchor, code, severity, fragments) -> None:
    text = diagram(**arguments)
    analysis = analyze(text)
    problem = only(analysis, code)
    assert problem.severity == severity
    assert problem.line == line_of(text, anchor)
    assert problem.file == "process.bpmn"
    for fragment in fragments:
        assert fragment in problem.message, problem.message
    if severity == "error":
        assert analysis.verdict == "not_executable"


def test_one_problem_per_kind_per_element() -> None:
    text = diagram(' camunda:formKey="tham-dinh" camunda:candidateGroups="chuyen_vien" camunda:assignee="an"',
                   spiff_form=False)
    codes = sorted(p.code for p in foreign(analyze(text)))
    assert codes == ["foreign_assignee", "foreign_candidate_groups", "foreign_form"]


@pytest.mark.parametrize("arguments", [
    dict(process_attrs=' camunda:versionTag="1.0" camunda:historyTimeToLive="180" '
                       'camunda:isStartableInTasklist="true"'),
    dict(task_ext='<zeebe:userTask/>'),
    dict(task_ext='<camunda:in variables="all"/>'),
    dict(task_ext='<signavio:signavioMetaData metaKey="bgcolor" metaValue="#ffffcc"/>'
                  '<signavio:signavioMetaData metaKey="userstory" metaValue="[]"/>'
                  '<signavio:signavioMetaData metaKey="risklevel" metaValue=""/>'),
    dict(task_ext='<bizagi:BizagiExtensions><bizagi:BizagiProperties><bizagi:BizagiProperty name="bgColor" '
                  'value="White"/><bizagi:BizagiProperty name="borderColor" value="Black"/>'
                  '</bizagi:BizagiProperties></bizagi:BizagiExtensions>'),
], ids=["camunda-bookkeeping", "zeebe-user-task-marker", "camunda-in-all", "signavio-layout-and-empty",
        "bizagi-layout"])
def test_layout_and_bookkeeping_are_nothing(arguments) -> None:
    analysis = analyze(diagram(**arguments))
    assert foreign(analysis) == []
    assert analysis.verdict == "deployable", analysis.reason


def test_warnings_alone_leave_a_diagram_deployable() -> None:
    analysis = analyze(diagram(' camunda:asyncBefore="true" camunda:assignee="an"'))
    assert analysis.verdict == "deployable", analysis.reason
    assert sorted(p.code for p in analysis.problems) == ["foreign_assignee", "foreign_async"]


def test_an_other_pools_extensions_are_not_judged_when_one_process_runs() -> None:
    partner = """  <bpmn:process id="doi_tac" isExecutable="false">
    <bpmn:serviceTask id="partner_svc" camunda:class="org.example.Partner"/>
  </bpmn:process>
"""
    text = diagram().replace("</bpmn:definitions>", partner + "</bpmn:definitions>")
    analysis = analyze(text)
    assert analysis.verdict == "deployable", analysis.reason
    assert foreign(analysis) == []


# ---------------------------------------------------------------------------------------------- isExecutable


def test_the_only_process_with_user_tasks_is_named() -> None:
    machine = """  <bpmn:process id="may" name="Máy" isExecutable="false">
    <bpmn:startEvent id="m_start"/><bpmn:serviceTask id="m_svc"/><bpmn:endEvent id="m_end"/>
  </bpmn:process>
"""
    text = diagram(executable='isExecutable="false"').replace("</bpmn:definitions>", machine + "</bpmn:definitions>")
    analysis = analyze(text)
    problem = only(analysis, "no_executable_process")
    assert problem.line == line_of(text, '<bpmn:process id="thu_tuc"')
    assert problem.message == ('Quy trình «Thủ tục mẫu» (id «thu_tuc») đang isExecutable="false" nên không chạy được; '
                               'đây là quy trình duy nhất có tác vụ người dùng trong gói. Hãy đặt '
                               'isExecutable="true" trên quy trình «thu_tuc».')
    assert analysis.reason == problem.message


def test_an_empty_process_does_not_count() -> None:
    empty = '  <bpmn:process id="Id_participant" isExecutable="false"/>\n'
    text = diagram(executable="").replace("</bpmn:definitions>", empty + "</bpmn:definitions>")
    problem = only(analyze(text), "no_executable_process")
    assert "«thu_tuc»" in problem.message and "không khai báo isExecutable" in problem.message


def test_several_candidates_get_one_problem_each_on_their_lines() -> None:
    second = diagram(executable='isExecutable="false"').split("<bpmn:process", 1)[1].split("</bpmn:process>")[0]
    second = second.replace('id="thu_tuc" name="Thủ tục mẫu"', 'id="thu_tuc_2" name="Bản sao"')
    for ident in ("lanes", "lane_cv", "start", "task", "end", "f1", "f2"):
        second = second.replace(f'"{ident}"', f'"{ident}_2"').replace(f">{ident}<", f">{ident}_2<")
    text = diagram(executable='isExecutable="false"').replace(
        "</bpmn:definitions>", f"  <bpmn:process{second}</bpmn:process>\n</bpmn:definitions>")
    problems = [p for p in analyze(text).problems if p.code == "no_executable_process"]
    assert [p.line for p in problems] == [line_of(text, '<bpmn:process id="thu_tuc"'),
                                          line_of(text, '<bpmn:process id="thu_tuc_2"')]
    for problem in problems:
        assert "2 quy trình" in problem.message and "«thu_tuc», «thu_tuc_2»" in problem.message


def test_a_lane_without_a_name_is_no_lane() -> None:
    """The platform maps lanes by name (the engine's task_spec.lane): a nameless lane holds no one's steps."""
    text = diagram(' camunda:candidateGroups="chuyen_vien"').replace(' name="Chuyên viên"', "")
    problem = only(analyze(text), "foreign_candidate_groups")
    assert problem.severity == "error" and "chưa nằm trong làn nào" in problem.message
