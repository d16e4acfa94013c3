"""check_package on whole packages: lanes, variables conditions read, hostile zips and schemas, task info."""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
from pathlib import Path

import pytest

from app.procedures.package import (
    MANIFEST,
    PackageError,
    PackageFiles,
    check_package,
    load_directory,
    load_upload,
    task_table,
)

ROOT = Path(__file__).resolve().parents[2]


def khai_sinh() -> PackageFiles:
    return load_directory(ROOT / "bpmn" / "khai-sinh")


def with_bpmn(pkg: PackageFiles, old: str, new: str, count: int = 1) -> PackageFiles:
    text = pkg.bpmn["process.bpmn"].decode()
    assert old in text, old
    pkg.bpmn["process.bpmn"] = text.replace(old, new, count).encode()
    return pkg


def codes(report: object, severity: str | None = None) -> list[str]:
    return [p.code for p in report.problems if severity is None or p.severity == severity]  # type: ignore[attr-defined]


def test_shipped_package_has_no_problems() -> None:
    report = check_package(khai_sinh())
    assert report.ok, report.problems
    assert report.problems == []


# ------------------------------------------------------------------ lanes


def test_task_outside_every_lane_is_reported_as_such() -> None:
    pkg = with_bpmn(khai_sinh(), "<bpmn:flowNodeRef>Task_ThamDinh</bpmn:flowNodeRef>", "")
    report = check_package(pkg)
    assert not report.ok
    (problem,) = [p for p in report.problems if p.code == "task_outside_lanes"]
    assert "lane_unmapped" not in codes(report)
    assert "«Thẩm định, ghi sổ hộ tịch»" in problem.message
    assert "không nằm trong làn nào" in problem.message
    assert "Công chức hộ tịch" in problem.message  # the lanes it could be dragged into
    assert "(không có làn)" not in problem.message


def test_lane_without_a_role_is_still_an_unmapped_lane() -> None:
    pkg = khai_sinh()
    manifest = json.loads(pkg.manifest or b"")
    del manifest["lanes"]["Trả kết quả"]
    pkg.manifest = json.dumps(manifest).encode()
    report = check_package(pkg)
    (problem,) = [p for p in report.problems if p.code == "lane_unmapped"]
    assert "«Trả kết quả»" in problem.message


# ------------------------------------------------------------------ the headline


def test_report_headline_counts_every_error_of_the_package() -> None:
    pkg = with_bpmn(khai_sinh(), 'ket_qua_tham_dinh == "dat"', "ket_qua_tham_dinh ==")
    pkg.forms["tham-dinh.schema.json"] = b"{not json"
    manifest = json.loads(pkg.manifest or b"")
    manifest["code"] = "khong-hop-le"
    pkg.manifest = json.dumps(manifest).encode()
    report = check_package(pkg)
    errors = [p for p in report.problems if p.severity == "error"]
    assert len(errors) >= 3
    assert f"{len(errors) - 1} lỗi khác" in report.reason


# ------------------------------------------------------------------ variables in expressions


def test_condition_on_a_variable_defined_nowhere_is_refused() -> None:
    pkg = with_bpmn(khai_sinh(), 'ket_qua_tham_dinh == "dat"', 'ket_qua_tham_dinhh == "dat"')
    report = check_package(pkg)
    assert not report.ok
    (problem,) = [p for p in report.problems if p.code == "expression_name_undefined"]
    assert problem.severity == "error"
    assert "«ket_qua_tham_dinhh»" in problem.message
    assert "«ket_qua_tham_dinh»" in problem.message  # the close match it probably meant
    assert problem.line is not None and problem.file == "process.bpmn"


def test_condition_on_a_variable_only_a_later_step_defines_is_a_warning() -> None:
    # phe_duyet comes from the signing form, which is filled after the assessment gateway.
    pkg = with_bpmn(khai_sinh(), 'ket_qua_tham_dinh == "dat"', 'ket_qua_tham_dinh == "dat" and phe_duyet')
    report = check_package(pkg)
    assert report.ok, report.problems
    (problem,) = [p for p in report.problems if p.code == "expression_name_maybe_undefined"]
    assert problem.severity == "warning"
    assert "«phe_duyet»" in problem.message and "«Ký giấy khai sinh»" in problem.message


def test_service_parameter_on_an_undefined_variable_is_refused() -> None:
    pkg = with_bpmn(khai_sinh(), "value=\"me['so_dinh_danh']\"", "value=\"nguoi_me['so_dinh_danh']\"")
    report = check_package(pkg)
    problem = next(p for p in report.problems if p.code == "expression_name_undefined")
    assert "«nguoi_me»" in problem.message and "«so_dinh_danh»" in problem.message


def test_timer_expression_on_an_undefined_variable_is_refused() -> None:
    timer = ('<bpmn:boundaryEvent id="Event_QuaHan" name="Quá hạn" cancelActivity="false" '
             'attachedToRef="Task_ThamDinh"><bpmn:timerEventDefinition id="Timer_1"><bpmn:timeDuration>'
             "thoi_han_tham_dinh</bpmn:timeDuration></bpmn:timerEventDefinition><bpmn:outgoing>Flow_QuaHan"
             '</bpmn:outgoing></bpmn:boundaryEvent><bpmn:endEvent id="End_QuaHan"><bpmn:incoming>Flow_QuaHan'
             '</bpmn:incoming></bpmn:endEvent><bpmn:sequenceFlow id="Flow_QuaHan" sourceRef="Event_QuaHan" '
             'targetRef="End_QuaHan"/>\n    <bpmn:userTask id="Task_ThamDinh"')
    pkg = with_bpmn(khai_sinh(), '<bpmn:userTask id="Task_ThamDinh"', timer)
    pkg = with_bpmn(pkg, "<bpmn:flowNodeRef>Task_ThamDinh</bpmn:flowNodeRef>",
                    "<bpmn:flowNodeRef>Task_ThamDinh</bpmn:flowNodeRef><bpmn:flowNodeRef>Event_QuaHan"
                    "</bpmn:flowNodeRef><bpmn:flowNodeRef>End_QuaHan</bpmn:flowNodeRef>")
    report = check_package(pkg)
    problem = next(p for p in report.problems if p.code == "expression_name_undefined")
    assert "«thoi_han_tham_dinh»" in problem.message
    fixed = check_package(with_bpmn(pkg, "thoi_han_tham_dinh</bpmn:timeDuration>", "P2D</bpmn:timeDuration>"))
    assert fixed.ok, fixed.problems


@pytest.mark.parametrize(
    "condition",
    ['any(x == "dat" for x in [ket_qua_tham_dinh])', 'len([k for k in du_lieu if k]) > 0 and ket_qua_tham_dinh',
     'thong_tin_ho_so["kenh"] == 2 and ket_qua_tham_dinh == "dat"', "True and ket_qua_tham_dinh == str(1)",
     "{k: v for k, v in du_lieu.items()}.get('ket_qua_tham_dinh') == 'dat'"],
)
def test_comprehension_variables_functions_and_system_names_are_not_free(condition: str) -> None:
    report = check_package(with_bpmn(khai_sinh(), 'ket_qua_tham_dinh == "dat"', condition.replace('"', "&quot;")))
    assert report.ok, report.problems
    assert not [p for p in report.problems if p.code.startswith("expression_name")]


def test_result_variable_of_a_service_task_on_one_branch_is_a_warning() -> None:
    # tra_cuu_me is set only on the path where the mother was looked up: a warning, not a refusal.
    pkg = with_bpmn(khai_sinh(), 'ket_qua_tham_dinh == "dat"', "ket_qua_tham_dinh == 'dat' and tra_cuu_me")
    report = check_package(pkg)
    assert report.ok
    assert [p.code for p in report.problems] == ["expression_name_maybe_undefined"]
    assert "«Tra cứu thông tin người mẹ»" in report.problems[0].message


# ------------------------------------------------------------------ hostile schemas and zips


def _nested_schema(depth: int) -> bytes:
    inner = '{"type": "string"}'
    for _ in range(depth):
        inner = '{"type": "object", "properties": {"a": ' + inner + "}}"
    return inner.encode()


@pytest.mark.parametrize("depth", [500, 3000])
def test_deeply_nested_form_schema_is_a_checker_error_not_a_crash(depth: int) -> None:
    pkg = khai_sinh()
    pkg.forms["tham-dinh.schema.json"] = _nested_schema(depth)
    report = check_package(pkg)
    (problem,) = [p for p in report.problems if p.file == "tham-dinh.schema.json"]
    assert problem.code == "json_too_deep"
    assert "lồng nhau" in problem.message


def test_deeply_nested_manifest_is_a_checker_error() -> None:
    pkg = khai_sinh()
    pkg.manifest = b"[" * 3000 + b"]" * 3000
    report = check_package(pkg)
    assert [p.code for p in report.problems if p.file == MANIFEST] == ["json_too_deep"]


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _package_zip(**extra: bytes) -> dict[str, bytes]:
    pkg = khai_sinh()
    members = {"procedure.json": pkg.manifest or b"", **{f"bpmn/{k}": v for k, v in pkg.bpmn.items()},
               **{f"forms/{k}": v for k, v in pkg.forms.items()}}
    members.update(extra)
    return members


def test_a_valid_zip_still_loads() -> None:
    pkg = load_upload([("goi.zip", _zip(_package_zip()))])
    assert check_package(pkg).ok


def test_bad_crc_member_is_refused_clearly() -> None:
    data = bytearray(_zip({"procedure.json": b"x" * 1000}, zipfile.ZIP_STORED))
    offset = data.index(b"x" * 1000)
    data[offset] = ord("y")  # content changed, CRC kept
    with pytest.raises(PackageError) as caught:
        load_upload([("goi.zip", bytes(data))])
    assert caught.value.code == "zip_member_corrupt"
    assert "procedure.json" in caught.value.message


def test_truncated_member_is_refused_clearly() -> None:
    data = bytearray(_zip({"process.bpmn": bytes(range(256)) * 200}))
    local = data.index(b"PK\x03\x04")
    compressed = struct.unpack_from("<I", data, local + 18)[0]
    start = local + 30 + struct.unpack_from("<H", data, local + 26)[0]
    # Garble the deflate stream in the middle: it ends early or fails to inflate.
    data[start + compressed // 3: start + compressed // 3 + 64] = b"\xff" * 64
    with pytest.raises(PackageError) as caught:
        load_upload([("goi.zip", bytes(data))])
    assert caught.value.code == "zip_member_corrupt"


def test_encrypted_member_is_refused_clearly() -> None:
    data = bytearray(_zip({"procedure.json": b"{}"}))
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature)
        flags = struct.unpack_from("<H", data, at + flag_offset)[0]
        struct.pack_into("<H", data, at + flag_offset, flags | 0x1)
    with pytest.raises(PackageError) as caught:
        load_upload([("goi.zip", bytes(data))])
    assert caught.value.code == "zip_encrypted"


def test_zip_bomb_ratio_is_refused() -> None:
    with pytest.raises(PackageError) as caught:
        load_upload([("goi.zip", _zip({"process.bpmn": b"\0" * (15 * 1024 * 1024)}))])
    assert caught.value.code == "zip_bomb"


def test_member_larger_than_it_declares_is_refused() -> None:
    data = bytearray(_zip({"process.bpmn": b"<a/>" * 50_000}))
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 100)  # declared uncompressed size
    local = data.index(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, 100)
    with pytest.raises(PackageError) as caught:
        load_upload([("goi.zip", bytes(data))])
    assert caught.value.code in ("zip_member_corrupt", "package_too_large")


def test_many_large_members_are_bounded_in_total() -> None:
    members = {f"forms/{i}.schema.json": bytes([65 + i % 26]) * (6 * 1024 * 1024) for i in range(5)}
    data = _zip(members, zipfile.ZIP_STORED)
    with pytest.raises(PackageError) as caught:
        load_upload([("goi.zip", data)])
    assert caught.value.code == "package_too_large"


# ------------------------------------------------------------------ documentation for the people doing the work


def test_task_table_carries_each_user_tasks_documentation_and_the_start() -> None:
    pkg = with_bpmn(khai_sinh(), '<bpmn:startEvent id="StartEvent_NopHoSo" name="Nộp hồ sơ">',
                    '<bpmn:startEvent id="StartEvent_NopHoSo" name="Nộp hồ sơ"><bpmn:documentation>'
                    "Người yêu cầu khai tờ khai.\nĐính kèm giấy chứng sinh.</bpmn:documentation>")
    report = check_package(pkg)
    assert report.ok and report.analysis is not None and report.manifest is not None
    table = task_table(report.analysis, report.manifest)
    assert table["Task_TiepNhan"]["documentation"].startswith("Kiểm tra thành phần hồ sơ")
    assert table["Task_TiepNhan"]["role"] == "tiep_nhan"
    (start,) = [info for info in table.values() if info.get("kind") == "start"]
    assert start["documentation"] == "Người yêu cầu khai tờ khai.\nĐính kèm giấy chứng sinh."
    assert re.match(r"^Task_", next(iter(k for k, v in table.items() if v.get("kind") != "start")))


# ------------------------------------------------------------------ the manifest and JSON files in the designer's words

ENGLISH = re.compile(r"does not match|is not one of|is not of type|is a required property|Additional properties|"
                     r"Expecting|delimiter|Unterminated|Extra data|was unexpected|is less than|is greater than")


def _manifest_problems(**changes: object) -> list:
    pkg = khai_sinh()
    manifest = json.loads(pkg.manifest or b"")
    for key, value in changes.items():
        if value is None:
            del manifest[key]
        else:
            manifest[key] = value
    pkg.manifest = json.dumps(manifest).encode()
    return [p for p in check_package(pkg).problems if p.file == MANIFEST]


@pytest.mark.parametrize(
    ("changes", "pointer", "expected"),
    [({"code": "sai"}, "/code", "«sai»"), ({"level": "vu_tru"}, "/level", "«vu_tru»"),
     ({"name": None}, "/name", "«name»"), ({"processing_time": {"amount": "ba", "unit": "working_days"}},
                                           "/processing_time/amount", "số"),
     ({"processing_time": {"amount": 999, "unit": "working_days"}}, "/processing_time/amount", "365"),
     ({"processing_time": {"amount": 1, "unit": "working_days", "thua": 1}}, "/processing_time/thua", "«thua»")],
)
def test_manifest_problems_say_what_to_change_in_vietnamese(changes: dict, pointer: str, expected: str) -> None:
    problems = _manifest_problems(**changes)
    assert problems, changes
    problem = next(p for p in problems if p.pointer == pointer)
    assert expected in problem.message, problem.message
    assert not ENGLISH.search(problem.message), problem.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [(b'{"a": }', "thiếu giá trị"), (b'{"a" 1}', "dấu hai chấm"), (b'{"a": 1,}', "dấu nháy kép"),
     (b"[1 2]", "dấu phẩy"), (b'{"a": "x', "chưa được đóng"), (b'{"a": 1} x', "nội dung thừa")],
)
def test_json_syntax_errors_are_told_in_vietnamese(text: bytes, expected: str) -> None:
    pkg = khai_sinh()
    pkg.forms["tham-dinh.schema.json"] = text
    (problem,) = [p for p in check_package(pkg).problems if p.file == "tham-dinh.schema.json"]
    assert problem.code == "json_malformed" and problem.line == 1
    assert expected in problem.message and not ENGLISH.search(problem.message), problem.message


# ------------------------------------------------------------------ every problem at once, and no false ones


def test_several_mistakes_are_all_reported_at_once_and_nothing_false() -> None:
    # A start event with an id the engine reserves leaves it no usable spec; every check that reads the XML
    # must still run, and checks of what the manifest declares against the diagram must not guess.
    pkg = with_bpmn(khai_sinh(), "StartEvent_NopHoSo", "Start", count=-1)
    pkg = with_bpmn(pkg, "<bpmn:flowNodeRef>Task_ThamDinh</bpmn:flowNodeRef>", "")
    pkg = with_bpmn(pkg, 'ket_qua_tham_dinh == "dat"', 'ket_qua_tham_dinhh == "dat"')
    del pkg.forms["tra-ket-qua.schema.json"]
    report = check_package(pkg)
    found = codes(report)
    for code in ("id_reserved", "form_missing", "task_outside_lanes", "expression_name_undefined"):
        assert found.count(code) == 1, (code, found)
    by_code = {p.code: p for p in report.problems}
    assert "tra-ket-qua.schema.json" in by_code["form_missing"].message
    assert "«Trả kết quả»" in by_code["form_missing"].message and by_code["form_missing"].line is not None
    assert "«Thẩm định, ghi sổ hộ tịch»" in by_code["task_outside_lanes"].message
    assert "«ket_qua_tham_dinhh»" in by_code["expression_name_undefined"].message
    assert "lookup_result_unknown" not in found
    assert "components_field_unused" not in found
    assert sorted(found) == sorted(["id_reserved", "form_missing", "task_outside_lanes", "expression_name_undefined"])
    assert "3 lỗi khác" in report.reason


def test_a_form_schema_that_is_not_json_is_one_problem_not_a_cascade() -> None:
    pkg = khai_sinh()
    pkg.forms["ky-duyet.schema.json"] = b'{"type": "object", "properties": {"phe_duyet": {"type": "boolean"},'
    report = check_package(pkg)
    (problem,) = report.problems
    assert problem.code == "json_malformed" and problem.file == "ky-duyet.schema.json"
    assert "ui_hint_unknown_field" not in codes(report)  # y_kien, phe_duyet may well be in the broken file
    assert "expression_name_undefined" not in codes(report)  # phe_duyet is read by a condition


def test_a_start_form_that_is_not_json_gives_no_fee_field_problem() -> None:
    pkg = khai_sinh()
    manifest = json.loads(pkg.manifest or b"")
    pkg.forms[manifest["start_form"]] = b"{not json"
    report = check_package(pkg)
    assert codes(report) == ["json_malformed"], report.problems


def test_results_declared_without_a_step_that_returns_them_are_refused() -> None:
    results = [{"title": "Giấy khai sinh", "fields": [{"label": "Họ tên", "value": "tre.ho_ten"}]}]
    assert "results_without_result_step" not in [p.code for p in _manifest_problems(results=results)]
    pkg = with_bpmn(khai_sinh(), '<spiffworkflow:property name="dossierStatus" value="9"/>', "")
    manifest = json.loads(pkg.manifest or b"")
    pkg.manifest = json.dumps({**manifest, "results": results}).encode()
    [problem] = [p for p in check_package(pkg).problems if p.code == "results_without_result_step"]
    assert problem.pointer == "/results" and problem.severity == "error" and "trạng thái 9" in problem.message
