"""Each problem of a manifest names its own field, once."""

from __future__ import annotations

from app.procedures.package import check_manifest


def test_each_missing_required_field_is_named_once() -> None:
    problems = [p for p in check_manifest({"code": "1.000001"}) if p.code == "manifest_required"]
    pointers = [p.pointer for p in problems]
    assert len(problems) > 1
    assert len(set(pointers)) == len(pointers), pointers
    for problem in problems:
        assert f"«{problem.pointer.rsplit('/', 1)[-1]}»" in problem.message


MINIMAL = {"code": "1.000001", "name": "Thủ tục thử", "level": "xa", "agency": "000.00.01.H26",
           "processing_time": {"amount": 3, "unit": "working_days"}, "fee": {}, "start_form": "to-khai.schema.json",
           "lanes": {"Bộ phận một cửa": "tiep_nhan"}}


def test_a_misspelled_optional_field_is_refused_with_the_field_it_was_meant_to_be(app) -> None:
    with app.test_request_context():
        assert check_manifest(MINIMAL) == []
        (problem,) = check_manifest({**MINIMAL, "component": []})
    assert problem.code == "manifest_additionalProperties" and problem.pointer == "/component"
    assert "«components»" in problem.message


def test_a_fraction_of_a_calendar_day_is_refused_at_upload(app) -> None:
    with app.test_request_context():
        assert check_manifest({**MINIMAL, "processing_time": {"amount": 0.5, "unit": "working_days"}}) == []
        problems = check_manifest({**MINIMAL, "processing_time": {"amount": 0.5, "unit": "days"}})
    assert [(p.code, p.pointer) for p in problems] == [("manifest_type", "/processing_time/amount")]
