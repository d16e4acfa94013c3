"""Sample data for form previews (app.eforms.samples): valid for every form the platform ships, by the platform's own
validator, and plausible field by field (formats, patterns, bounds, lists, references, conditions)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from app.eforms import regex
from app.eforms.samples import PERSONAL_ID, PHONE, sample_data
from app.eforms.validate import validate_data
from app.identifiers import validate_personal_id

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 12, 1)
SHIPPED = sorted([*ROOT.glob("forms/*/*.schema.json"), *ROOT.glob("tests/procedures/guide_example/*.schema.json")])


def _ui_for(path: Path) -> dict[str, Any] | None:
    ui = path.with_name(path.name.replace(".schema.json", ".ui.json"))
    return json.loads(ui.read_text("utf-8")) if ui.exists() else None


def one(node: dict[str, Any], **extra: Any) -> Any:
    """The sample of a form with one field `x`, checked valid."""
    schema = {"type": "object", "required": ["x"], "properties": {"x": {"title": "Trường X", **node}}, **extra}
    sample = sample_data(schema, today=TODAY)
    assert sample.valid, sample.problems
    return sample.data["x"]


def test_every_shipped_form_was_found() -> None:
    assert len(SHIPPED) >= 16
    assert {p.parent.name for p in SHIPPED} == {
        "khai-sinh", "thuong-tru", "lien-thong-khai-sinh", "phan-anh-kien-nghi", "guide_example"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_form_gets_a_sample_its_validator_accepts(path: Path) -> None:
    schema = json.loads(path.read_text("utf-8"))
    sample = sample_data(schema, _ui_for(path), today=TODAY)
    assert sample.problems == {}
    assert validate_data(schema, sample.data) == {}  # the same check, said once more in the test's own words
    for name in schema.get("required", []):
        assert name in sample.data
    # The same day and seed give the same sample: a preview does not change between two visits.
    assert sample_data(schema, _ui_for(path), today=TODAY).data == sample.data


def test_the_birth_declaration_sample_is_plausible_field_by_field() -> None:
    path = ROOT / "forms/khai-sinh/to-khai.schema.json"
    data = sample_data(json.loads(path.read_text("utf-8")), _ui_for(path), today=TODAY).data
    applicant = data["nguoi_yeu_cau"]
    assert applicant["so_dinh_danh"] == PERSONAL_ID and applicant["dien_thoai"] == PHONE
    # The personal ID agrees with the declared date of birth and sex, as the population registry would.
    validate_personal_id(applicant["so_dinh_danh"], date.fromisoformat(applicant["ngay_sinh"]), applicant["gioi_tinh"],
                         today=TODAY)
    mother = data["me"]
    assert mother["ho_ten"] != applicant["ho_ten"] and mother["nam_sinh"] == 1992
    validate_personal_id(mother["so_dinh_danh"], date(mother["nam_sinh"], 1, 1), "nu", today=TODAY)
    assert date.fromisoformat(data["tre"]["ngay_sinh"]) < TODAY  # a newborn, not a man of 36
    assert data["tre"]["quoc_tich"] == "Việt Nam"  # its default
    assert data["so_ban_sao"] == 1  # its default
    assert data["giay_chung_sinh"].endswith(".pdf") and "/" in data["giay_chung_sinh"]  # an attachment reference


def test_a_condition_that_does_not_hold_leaves_its_fields_out() -> None:
    path = ROOT / "forms/khai-sinh/tiep-nhan.schema.json"
    data = sample_data(json.loads(path.read_text("utf-8")), _ui_for(path), today=TODAY).data
    assert data["quyet_dinh_tiep_nhan"] == "tiep_nhan" and "ly_do" not in data  # no refusal reason when accepted
    assert data["thanh_phan_da_nhan"] == ["TK", "GCS", "GTTT", "UQ"]  # the components checklist, ticked
    path = ROOT / "forms/khai-sinh/tham-dinh.schema.json"
    data = sample_data(json.loads(path.read_text("utf-8")), _ui_for(path), today=TODAY).data
    assert data["ket_qua_tham_dinh"] == "dat" and data["so_dang_ky"] and data["quyen_so"]
    assert "ly_do_khong_dat" not in data


def test_a_condition_that_holds_is_satisfied() -> None:
    schema = {"type": "object", "required": ["ok"], "properties": {
        "ok": {"type": "boolean", "default": False}, "why": {"type": "string", "maxLength": 50}},
        "if": {"properties": {"ok": {"const": False}}}, "then": {"required": ["why"], "properties": {
            "why": {"minLength": 12}}}}
    sample = sample_data(schema, today=TODAY)
    assert sample.valid, sample.problems
    assert sample.data["ok"] is False and 12 <= len(sample.data["why"]) <= 50
    # On a scalar too: an even number when it is at least 10.
    assert one({"type": "integer", "minimum": 11, "if": {"minimum": 10}, "then": {"multipleOf": 2}}) == 12


def test_default_then_examples_then_const_then_first_choice() -> None:
    assert one({"type": "string", "default": "mặc định", "examples": ["ví dụ"]}) == "mặc định"
    assert one({"type": "string", "examples": ["ví dụ 1", "ví dụ 2"]}) == "ví dụ 1"
    assert one({"type": "string", "examples": ["quá dài"], "maxLength": 3}) != "quá dài"  # an example that fails
    assert one({"const": "co_dinh"}) == "co_dinh"
    assert one({"type": "string", "enum": ["b", "a"]}) == "b"
    assert one({"type": "integer", "oneOf": [{"const": 3, "title": "Ba"}, {"const": 4, "title": "Bốn"}]}) == 3
    assert one({"type": "boolean", "const": True}) is True


@pytest.mark.parametrize(("fmt", "check"), [
    ("date", lambda v: date.fromisoformat(v) == TODAY),
    ("date-time", lambda v: v.startswith("2026-12-01T") and v.endswith("+07:00")),
    ("time", lambda v: v == "09:30:00"),
    ("email", lambda v: "@" in v and "." in v.split("@")[1]),
    ("uri", lambda v: v.startswith("https://")),
    ("uuid", lambda v: len(v) == 36),
    ("ipv4", lambda v: v.count(".") == 3),
])
def test_formats(fmt: str, check: Any) -> None:
    assert check(one({"type": "string", "format": fmt}))


def test_names_and_titles_suggest_vietnamese_values() -> None:
    assert one({"type": "string", "title": "Số điện thoại"}) == PHONE
    assert one({"type": "string", "title": "Số CCCD", "pattern": "^[0-9]{12}$"}) == PERSONAL_ID
    assert one({"type": "string", "title": "Mã số thuế"}) == "0100109106"
    assert one({"type": "string", "title": "Ngày sinh", "format": "date"}) == "1990-05-15"
    assert one({"type": "integer", "title": "Năm sinh", "minimum": 1900, "maximum": 2100}) == 1990
    # A suggestion that the field's own pattern refuses gives way to the pattern.
    phone = one({"type": "string", "title": "Điện thoại", "pattern": "^\\+84[0-9]{9}$"})
    assert phone.startswith("+84") and len(phone) == 12


@pytest.mark.parametrize("pattern", [
    "^[0-9]{12}$", "^0[0-9]{9}$", "^[A-Z]{2}-\\d+$", "^\\d{3}\\.\\d{2}\\.\\d{2}\\.H\\d{2}$", "^(CT|TT)[0-9]{4}$",
    "^[a-z]+(_[a-z]+)*$", "[0-9]", "^\\u0110[a-z]{3}$", "^[^ ]{4,8}$",
])
def test_patterns_are_generated_and_match(pattern: str) -> None:
    value = one({"type": "string", "pattern": pattern, "maxLength": 30})
    assert regex.search(pattern, value), value


def test_pattern_and_length_together() -> None:
    value = one({"type": "string", "pattern": "^[a-z]+$", "minLength": 5, "maxLength": 7})
    assert 5 <= len(value) <= 7 and value.isalpha()


def test_string_lengths() -> None:
    assert len(one({"type": "string", "minLength": 120})) >= 120
    assert len(one({"type": "string", "maxLength": 4})) <= 4
    assert 3 <= len(one({"type": "string", "minLength": 3, "maxLength": 3})) <= 3


@pytest.mark.parametrize(("node", "check"), [
    ({"type": "integer", "minimum": 5, "maximum": 9}, lambda v: 5 <= v <= 9 and isinstance(v, int)),
    ({"type": "integer", "exclusiveMinimum": 5}, lambda v: v > 5),
    ({"type": "integer", "maximum": -3}, lambda v: v <= -3),
    ({"type": "integer", "minimum": 7, "multipleOf": 5}, lambda v: v >= 7 and v % 5 == 0),
    ({"type": "number", "minimum": 0.5, "maximum": 0.9}, lambda v: 0.5 <= v <= 0.9),
    ({"type": "number", "multipleOf": 0.25, "minimum": 1.1}, lambda v: v >= 1.1 and (v / 0.25).is_integer()),
])
def test_numbers_within_bounds(node: dict[str, Any], check: Any) -> None:
    assert check(one(node))


def test_lists_nested_objects_and_references() -> None:
    schema = {
        "type": "object", "required": ["nguoi", "con"],
        "$defs": {"nguoi": {"type": "object", "required": ["ho_ten", "so_dinh_danh"], "properties": {
            "ho_ten": {"type": "string", "title": "Họ và tên", "minLength": 2},
            "so_dinh_danh": {"$ref": "#/$defs/cccd"}}},
            "cccd": {"type": "string", "pattern": "^[0-9]{12}$"}},
        "properties": {
            "nguoi": {"$ref": "#/$defs/nguoi", "title": "Người khai"},
            "con": {"type": "array", "minItems": 2, "maxItems": 3, "items": {"$ref": "#/$defs/nguoi"}},
            "nhan": {"type": "array", "items": {"type": "string", "enum": ["a", "b", "c"]}, "maxItems": 2,
                     "uniqueItems": True},
            "ghi_chu": {"type": "array", "items": {"type": "string", "maxLength": 10}},
            "rong": {"type": "array", "items": {"type": "string"}, "maxItems": 0},
            "diem": {"type": "object", "properties": {"tong": {"type": "integer", "minimum": 3}}},
        },
    }
    sample = sample_data(schema, today=TODAY)
    assert sample.valid, sample.problems
    data = sample.data
    assert data["nguoi"]["so_dinh_danh"] == PERSONAL_ID
    assert len(data["con"]) == 2 and all(len(c["so_dinh_danh"]) == 12 for c in data["con"])
    assert data["nhan"] == ["a", "b"]  # ticked up to maxItems
    assert len(data["ghi_chu"]) == 1  # an optional group still shows one item
    assert data["rong"] == [] and data["diem"] == {"tong": 3}


def test_one_of_and_any_of_take_their_first_branch() -> None:
    assert one({"oneOf": [{"type": "string", "pattern": "^[0-9]{9}$"}, {"type": "string", "pattern": "^[0-9]{12}$"}]
                }) .isdigit()
    assert len(one({"anyOf": [{"type": "integer", "minimum": 40}, {"type": "string"}]}).__str__()) == 2


def test_what_cannot_be_valid_is_returned_with_the_validators_messages() -> None:
    impossible = {"type": "object", "required": ["x"], "properties": {
        "x": {"type": "string", "title": "Mã", "minLength": 5, "maxLength": 2}}}
    sample = sample_data(impossible, today=TODAY)
    assert not sample.valid and "x" in sample.problems and "x" in sample.data
    # An unreadable schema, an external reference, a pattern rstr cannot generate: no exception, a message.
    assert sample_data(["not", "a", "schema"]).problems  # type: ignore[arg-type]
    broken = sample_data({"type": "object", "properties": {"x": {"$ref": "https://example.org/x.json"}}})
    assert broken.problems
    odd = sample_data({"type": "object", "required": ["x"], "properties": {
        "x": {"type": "string", "pattern": "^\\p{Lu}{3}$"}}})  # RE2 reads it, Python's parser does not
    assert odd.problems == {"x": odd.problems["x"]}
    recursive = sample_data({"type": "object", "$defs": {"n": {"type": "object", "required": ["n"], "properties": {
        "n": {"$ref": "#/$defs/n"}}}}, "properties": {"n": {"$ref": "#/$defs/n"}}, "required": ["n"]})
    assert recursive.problems
