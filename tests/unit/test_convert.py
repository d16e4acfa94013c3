"""The studio's conversion of another modeller's export (app.procedures.convert): each unambiguous mapping is made
and listed with its line, each ambiguous case is left as it was, and nothing changes without being listed."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from lxml import etree

from app.procedures.convert import convert_package, package_zip
from app.procedures.package import PackageFiles, check_package, load_upload
from tests.unit.test_foreign_exports import diagram, line_of

ROOT = Path(__file__).resolve().parents[2]
CAMUNDA = ROOT / "tests" / "unit" / "data" / "camunda-khai-sinh"
MANIFEST = {"process_id": "thu_tuc", "lanes": {}}


def camunda_khai_sinh() -> PackageFiles:
    """bpmn/khai-sinh as a Camunda Modeler export: form keys, Camunda properties, isExecutable="false", a candidate
    group for the signing step whose lane procedure.json leaves unmapped, an assignee and an async flag."""
    pkg = PackageFiles(slug="khai-sinh-camunda", manifest=(CAMUNDA / "procedure.json").read_bytes())
    pkg.bpmn["process.bpmn"] = (CAMUNDA / "process.bpmn").read_bytes()
    pkg.forms = {p.name: p.read_bytes() for p in sorted((ROOT / "forms" / "khai-sinh").iterdir())}
    return pkg


def package(text: str, manifest: dict | None = None,
            forms: tuple[str, ...] = ("tham-dinh.schema.json",)) -> PackageFiles:
    pkg = PackageFiles(slug="mau", manifest=None if manifest is None else json.dumps(manifest).encode())
    pkg.bpmn["process.bpmn"] = text.encode()
    pkg.forms = {name: b'{"type": "object", "properties": {}}' for name in forms}
    return pkg


def converted_text(pkg: PackageFiles) -> str:
    return convert_package(pkg).package.bpmn["process.bpmn"].decode()


def test_camunda_khai_sinh_converts_to_a_deployable_package() -> None:
    pkg = camunda_khai_sinh()
    original = dict(pkg.bpmn), pkg.manifest
    before = check_package(pkg)
    assert before.verdict == "not_executable"

    conversion = convert_package(pkg)
    text = (CAMUNDA / "process.bpmn").read_text("utf-8")

    def at(element: str, fragment: str | None = None) -> int:
        """The line of `fragment` inside the element whose start tag begins with `element` (or of that tag)."""
        start = text.index(element)
        return text[: text.index(fragment, start) if fragment else start].count("\n") + 1

    task, end = '<bpmn:userTask id="Task_', '<bpmn:endEvent id="EndEvent_'
    assert [(c.file, c.line, c.code) for c in conversion.changes] == [
        ("process.bpmn", at('<bpmn:process id="dang_ky_khai_sinh"'), "no_executable_process"),
        ("process.bpmn", at(task + 'TiepNhan"'), "foreign_form"),
        ("process.bpmn", at(task + 'TiepNhan"', 'name="dossierStatus"'), "foreign_properties"),
        ("process.bpmn", at(task + 'TiepNhan"', 'name="receivesDossier"'), "foreign_properties"),
        ("process.bpmn", at(end + 'TuChoiTiepNhan"', 'name="dossierStatus"'), "foreign_properties"),
        ("process.bpmn", at(task + 'ThamDinh"'), "foreign_form"),
        ("process.bpmn", at(task + 'ThamDinh"', 'name="dossierStatus"'), "foreign_properties"),
        ("process.bpmn", at(task + 'ThamDinh"', 'name="allottedTime"'), "foreign_properties"),
        ("process.bpmn", at(end + 'KhongDuDieuKien"', 'name="dossierStatus"'), "foreign_properties"),
        ("process.bpmn", at(task + 'KyGiayKhaiSinh"'), "foreign_form"),
        ("process.bpmn", at(task + 'KyGiayKhaiSinh"'), "foreign_candidate_groups"),
        ("process.bpmn", at(task + 'KyGiayKhaiSinh"', 'name="dossierStatus"'), "foreign_properties"),
        ("process.bpmn", at(task + 'KyGiayKhaiSinh"', 'name="allottedTime"'), "foreign_properties"),
        ("process.bpmn", at(task + 'TraKetQua"'), "foreign_form"),
        ("process.bpmn", at(task + 'TraKetQua"', 'name="dossierStatus"'), "foreign_properties"),
        ("process.bpmn", at(task + 'TraKetQua"', 'name="allottedTime"'), "foreign_properties"),
        ("process.bpmn", at(end + 'DaTraKetQua"', 'name="dossierStatus"'), "foreign_properties"),
        ("procedure.json", None, "foreign_candidate_groups"),
    ]
    messages = [c.message for c in conversion.changes]
    assert ('Tác vụ «Thẩm định, ghi sổ hộ tịch» (id «Task_ThamDinh»): camunda:formKey="embedded:app:forms/'
            'tham-dinh.html" → spiffworkflow:property formJsonSchemaFilename="tham-dinh.schema.json".') in messages
    assert ('procedure.json, mục lanes: thêm "Lãnh đạo UBND": "lanh_dao_ky" (làn chứa «Ký giấy khai sinh» (id '
            '«Task_KyGiayKhaiSinh»), giao cho nhóm «lanh_dao_ky» theo candidateGroups).') in messages

    after = check_package(conversion.package)
    assert after.verdict == "deployable", after.reason
    # Not mapped: the assignee (a person) and the async flag stay, reported as warnings.
    assert sorted(p.code for p in after.problems) == ["foreign_assignee", "foreign_async"]
    assert json.loads(conversion.package.manifest)["lanes"]["Lãnh đạo UBND"] == "lanh_dao_ky"
    # A pure function: the package given is untouched, and converting the result finds nothing more.
    assert (dict(pkg.bpmn), pkg.manifest) == original
    assert convert_package(conversion.package).changes == []


def test_converted_file_declares_the_spiff_namespace_once_and_keeps_the_rest() -> None:
    text = diagram(' camunda:formKey="tham-dinh"', spiff_form=False).replace(
        ' xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"', "")
    out = converted_text(package(text, MANIFEST))
    root = etree.fromstring(out.encode())
    assert root.nsmap["spiffworkflow"] == "http://spiffworkflow.org/bpmn/schema/1.0/core"
    assert out.count("xmlns:spiffworkflow") == 1
    assert '<spiffworkflow:property name="formJsonSchemaFilename" value="tham-dinh.schema.json"/>' in out
    assert "camunda:formKey" not in out
    # Everything else is byte for byte what it was, line for line up to the task.
    assert out.splitlines()[3:8] == text.splitlines()[3:8]


# ---------------------------------------------------------------------------------------------- isExecutable


def test_the_one_runnable_process_is_made_executable() -> None:
    text = diagram(executable='isExecutable="false"')
    conversion = convert_package(package(text, {"lanes": {}}))
    assert [c.code for c in conversion.changes] == ["no_executable_process"]
    assert conversion.changes[0].message == ('Quy trình «Thủ tục mẫu» (id «thu_tuc»): isExecutable="false" → '
                                             'isExecutable="true" (quy trình duy nhất có các bước).')
    assert 'id="thu_tuc" name="Thủ tục mẫu" isExecutable="true"' in converted_text(package(text))


def test_the_process_procedure_json_names_is_made_executable() -> None:
    text = diagram(executable="")
    conversion = convert_package(package(text, MANIFEST))
    assert "(không khai báo isExecutable) → isExecutable=\"true\"" in conversion.changes[0].message


def test_two_candidates_are_left_to_the_designer() -> None:
    text = diagram(executable='isExecutable="false"')
    twin = text.split("<bpmn:process", 1)[1].split("</bpmn:process>")[0].replace('id="thu_tuc"', 'id="ban_sao"')
    text = text.replace("</bpmn:definitions>", f"<bpmn:process{twin}</bpmn:process></bpmn:definitions>")
    assert convert_package(package(text)).changes == []


def test_an_executable_process_is_left_alone() -> None:
    assert convert_package(package(diagram(), MANIFEST)).changes == []


# ---------------------------------------------------------------------------------------------- forms


def test_form_key_of_a_form_in_the_package() -> None:
    text = diagram(' camunda:formKey="embedded:app:forms/tham-dinh.html"', spiff_form=False)
    conversion = convert_package(package(text, MANIFEST))
    assert [(c.code, c.line) for c in conversion.changes] == [("foreign_form", line_of(text, '<bpmn:userTask'))]


def test_zeebe_form_id_of_a_form_in_the_package() -> None:
    text = diagram(task_ext='<zeebe:formDefinition formId="tham-dinh"/>', spiff_form=False)
    conversion = convert_package(package(text, MANIFEST))
    assert [c.code for c in conversion.changes] == ["foreign_form"]
    out = conversion.package.bpmn["process.bpmn"].decode()
    assert "zeebe:formDefinition" not in out and 'value="tham-dinh.schema.json"' in out


def test_form_key_left_when_the_form_is_missing_or_the_task_has_its_own() -> None:
    missing = diagram(' camunda:formKey="app:approve.jsf"', spiff_form=False)
    assert convert_package(package(missing, MANIFEST)).changes == []
    own = diagram(' camunda:formKey="tham-dinh"')
    assert convert_package(package(own, MANIFEST)).changes == []


# ---------------------------------------------------------------------------------------------- properties


def test_platform_properties_move_and_others_stay() -> None:
    text = diagram(task_ext='<camunda:properties><camunda:property name="allottedTime" value="1"/>'
                            '<camunda:property name="mau" value="do"/></camunda:properties>')
    conversion = convert_package(package(text, MANIFEST))
    assert [c.code for c in conversion.changes] == ["foreign_properties"]
    out = conversion.package.bpmn["process.bpmn"].decode()
    assert '<spiffworkflow:property name="allottedTime" value="1"/>' in out
    assert '<camunda:property name="mau" value="do"/>' in out


def test_a_property_the_task_already_sets_is_left() -> None:
    text = diagram(task_ext='<camunda:properties><camunda:property name="formJsonSchemaFilename" '
                            'value="khac.schema.json"/></camunda:properties>')
    assert convert_package(package(text, MANIFEST)).changes == []


# ---------------------------------------------------------------------------------------------- lanes


def test_single_role_group_maps_the_unmapped_lane() -> None:
    text = diagram(' camunda:candidateGroups="chuyen_vien"')
    conversion = convert_package(package(text, MANIFEST))
    assert [(c.file, c.code) for c in conversion.changes] == [("process.bpmn", "foreign_candidate_groups"),
                                                              ("procedure.json", "foreign_candidate_groups")]
    assert json.loads(conversion.package.manifest)["lanes"] == {"Chuyên viên": "chuyen_vien"}
    assert "candidateGroups" not in conversion.package.bpmn["process.bpmn"].decode()


def test_zeebe_single_role_group_maps_the_lane() -> None:
    text = diagram(task_ext='<zeebe:assignmentDefinition candidateGroups="=[&quot;chuyen_vien&quot;]"/>')
    conversion = convert_package(package(text, MANIFEST))
    assert json.loads(conversion.package.manifest)["lanes"] == {"Chuyên viên": "chuyen_vien"}
    assert "assignmentDefinition" not in conversion.package.bpmn["process.bpmn"].decode()


def test_ambiguous_groups_are_left() -> None:
    cases = [
        (diagram(' camunda:candidateGroups="lanh_dao"'), MANIFEST),  # not a role of the platform
        (diagram(' camunda:candidateGroups="chuyen_vien, lanh_dao_ky"'), MANIFEST),  # two groups
        (diagram(' camunda:candidateGroups="chuyen_vien"'), {"lanes": {"Chuyên viên": "tiep_nhan"}}),  # mapped
        (diagram(' camunda:candidateGroups="chuyen_vien"', in_lane=False), MANIFEST),  # in no lane
        (diagram(' camunda:candidateGroups="chuyen_vien"').replace(' name="Chuyên viên"', ""), MANIFEST),  # nameless
        (diagram(' camunda:candidateGroups="chuyen_vien"'), None),  # no manifest to write into
    ]
    for text, manifest in cases:
        assert convert_package(package(text, manifest)).changes == [], manifest
    # Two tasks of one lane asking for different roles.
    other = ('    <bpmn:userTask id="task_b" name="Ký" camunda:candidateGroups="lanh_dao_ky"/>\n')
    text = diagram(' camunda:candidateGroups="chuyen_vien"', extra=other).replace(
        "<bpmn:flowNodeRef>task</bpmn:flowNodeRef>", "<bpmn:flowNodeRef>task</bpmn:flowNodeRef>"
        "<bpmn:flowNodeRef>task_b</bpmn:flowNodeRef>")
    assert convert_package(package(text, MANIFEST)).changes == []


def test_an_assignee_is_never_converted() -> None:
    text = diagram(' camunda:assignee="chuyen_vien"', in_lane=True)
    assert convert_package(package(text, MANIFEST)).changes == []
    text = diagram(task_ext='<zeebe:assignmentDefinition assignee="chuyen_vien"/>')
    assert convert_package(package(text, MANIFEST)).changes == []


def test_package_zip_reads_back_as_the_same_package() -> None:
    pkg = camunda_khai_sinh()
    data = package_zip(pkg)
    assert zipfile.ZipFile(io.BytesIO(data)).namelist()[0] == "bpmn/khai-sinh-camunda/procedure.json"
    again = load_upload([("goi.zip", data)], slug=pkg.slug)
    assert (again.bpmn, again.forms, again.manifest) == (pkg.bpmn, pkg.forms, pkg.manifest)
    assert package_zip(again) == data


def test_unreadable_or_hostile_files_are_not_converted() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&b;</bpmn:definitions>')
    for data in (b"", b"<bpmn:definitions", bomb, b'{"not": "xml"}', b"<definitions>not bpmn</definitions>"):
        pkg = PackageFiles(slug="mau", manifest=b"{not json", bpmn={"process.bpmn": data})
        assert convert_package(pkg).changes == [], data
