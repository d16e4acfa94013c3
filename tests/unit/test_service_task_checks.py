"""A package whose service task names an operation that does not exist, or gives it the wrong parameters,
is refused at upload with the file and line of the task."""

from __future__ import annotations

from pathlib import Path

from app.procedures.package import check_package, load_directory

ROOT = Path(__file__).resolve().parents[2]


def _with_bpmn(slug: str, old: bytes, new: bytes):
    pkg = load_directory(ROOT / "bpmn" / slug)
    [name] = pkg.bpmn
    assert old in pkg.bpmn[name]
    pkg.bpmn[name] = pkg.bpmn[name].replace(old, new)
    return check_package(pkg)


def codes(report):
    return {(p.code, p.file, p.line is not None) for p in report.problems}


def test_shipped_procedures_name_real_operations_with_their_parameters():
    for slug in ("khai-sinh", "thuong-tru"):
        report = check_package(load_directory(ROOT / "bpmn" / slug))
        assert report.problems == [], [p.message for p in report.problems]


def test_unknown_operation_is_refused_with_the_list_of_known_ones():
    report = _with_bpmn("thuong-tru", b'id="payment.collect"', b'id="payment.colect"')
    [problem] = [p for p in report.problems if p.code == "operation_unknown"]
    assert problem.line and "payment.colect" in problem.message and "payment.collect" in problem.message
    assert "population.lookup_citizen" in problem.message


def test_unknown_and_missing_parameters_are_named():
    report = _with_bpmn("thuong-tru", b'parameter id="so_tien"', b'parameter id="so_tien_phi"')
    messages = {p.code: p.message for p in report.problems}
    assert "so_tien_phi" in messages["operation_params_unknown"]
    report = _with_bpmn("khai-sinh", b'<spiffworkflow:parameter id="so_dinh_danh" type="str" '
                                     b'value="me[\'so_dinh_danh\']"/>', b"")
    assert "so_dinh_danh" in {p.code: p.message for p in report.problems}["operation_params_missing"]


def test_one_of_the_alternative_parameters_is_required():
    report = _with_bpmn("khai-sinh", b'<spiffworkflow:parameter id="nam_sinh" type="int" value="me[\'nam_sinh\']"/>',
                        b"")
    [problem] = [p for p in report.problems if p.code == "operation_params_missing"]
    assert "nam_sinh" in problem.message and "ngay_sinh" in problem.message
