"""Validation of eForm data: one Vietnamese message per field, named by its title, placed on the field."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import lxml.html

from app.eforms.render import render_form
from app.eforms.validate import validate_data
from tests.hang import hang_guard as guard
from tests.unit.test_eforms_schema import BIRTH_SCHEMA, BIRTH_UI, VALID_BIRTH_DATA


def birth(**changes: Any) -> dict[str, Any]:
    """VALID_BIRTH_DATA with dotted paths changed (None removes the key)."""
    data = copy.deepcopy(VALID_BIRTH_DATA)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for part in parents:
            node = node[part]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return data


def only(schema: dict[str, Any], data: Any) -> str:
    errors = validate_data(schema, data)
    assert len(errors) == 1, errors
    return next(iter(errors.values()))


def field(node: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": {"x": {"title": "Trường X", **node}}, **extra}


def test_valid_data_has_no_errors():
    assert validate_data(BIRTH_SCHEMA, VALID_BIRTH_DATA) == {}


def test_required_message_goes_on_the_missing_field_with_its_title():
    errors = validate_data(BIRTH_SCHEMA, birth(tre__ho_ten=None, nguoi_yeu_cau__dien_thoai=None))
    assert errors == {
        "nguoi_yeu_cau.dien_thoai": "Vui lòng nhập Số điện thoại.",
        "tre.ho_ten": "Vui lòng nhập Họ, chữ đệm và tên.",
    }


def test_required_verb_follows_how_the_field_is_filled_in():
    errors = validate_data(BIRTH_SCHEMA, birth(tre__gioi_tinh=None, giay_chung_sinh=None, tre=None))
    assert errors == {
        "tre": "Vui lòng nhập Người được khai sinh.",
        "giay_chung_sinh": "Vui lòng đính kèm Giấy chứng sinh.",
    }
    assert validate_data(BIRTH_SCHEMA, birth(tre__gioi_tinh=None)) == {"tre.gioi_tinh": "Vui lòng chọn Giới tính."}


def test_required_inside_a_referenced_definition_uses_the_definitions_title():
    errors = validate_data(BIRTH_SCHEMA, birth(me={"quoc_tich": "Việt Nam"}))
    assert errors == {"me.ho_ten": "Vui lòng nhập Họ, chữ đệm và tên."}


def test_required_inside_array_items_uses_the_item_path():
    errors = validate_data(BIRTH_SCHEMA, birth(nguoi_lam_chung=[{"ho_ten": "A"}, {}]))
    assert errors == {"nguoi_lam_chung[1].ho_ten": "Vui lòng nhập Họ và tên."}


def test_type_messages():
    assert only(field({"type": "integer"}), {"x": "ba"}) == "Trường X: phải là số nguyên."
    assert only(field({"type": "number"}), {"x": "ba"}) == "Trường X: phải là số."
    assert only(field({"type": "string"}), {"x": 3}) == "Trường X: phải là chuỗi ký tự."
    assert only(field({"type": "boolean"}), {"x": "có"}) == "Trường X: phải là giá trị có/không."
    assert only(field({"type": ["string", "integer"]}), {"x": []}) == "Trường X: phải là chuỗi ký tự hoặc số nguyên."
    assert only(field({"type": "string"}), {"x": None}) == "Vui lòng nhập Trường X."


def test_number_bounds():
    assert only(field({"type": "integer", "minimum": 1}), {"x": 0}) == "Trường X: phải lớn hơn hoặc bằng 1."
    assert only(field({"type": "integer", "maximum": 10}), {"x": 11}) == "Trường X: phải nhỏ hơn hoặc bằng 10."
    assert only(field({"type": "number", "exclusiveMinimum": 0}), {"x": 0}) == "Trường X: phải lớn hơn 0."
    assert only(field({"type": "number", "exclusiveMaximum": 2.5}), {"x": 3}) == "Trường X: phải nhỏ hơn 2,5."
    assert only(field({"type": "number", "multipleOf": 0.5}), {"x": 0.7}) == "Trường X: phải là bội số của 0,5."
    assert validate_data(BIRTH_SCHEMA, birth(so_ban_sao=11)) == {
        "so_ban_sao": "Số bản sao trích lục: phải nhỏ hơn hoặc bằng 10."
    }


def test_string_lengths():
    assert only(field({"type": "string", "minLength": 2}), {"x": "a"}) == "Trường X: cần ít nhất 2 ký tự."
    assert only(field({"type": "string", "minLength": 1}), {"x": ""}) == "Vui lòng nhập Trường X."
    assert only(field({"type": "string", "maxLength": 3}), {"x": "abcd"}) == "Trường X: tối đa 3 ký tự."


def test_pattern_uses_the_forms_own_message_then_a_generic_one():
    errors = validate_data(BIRTH_SCHEMA, birth(nguoi_yeu_cau__so_dinh_danh="12345"))
    assert errors == {"nguoi_yeu_cau.so_dinh_danh": "Số định danh cá nhân phải gồm đúng 12 chữ số."}
    assert only(field({"type": "string", "pattern": "^[0-9]{12}$"}), {"x": "1"}) == "Trường X: phải gồm đúng 12 chữ số."
    assert only(field({"type": "string", "pattern": "^\\d{9,12}$"}), {"x": "1"}) == (
        "Trường X: phải gồm từ 9 đến 12 chữ số."
    )
    assert only(field({"type": "string", "pattern": "^0[0-9]{9}$"}), {"x": "1"}) == "Trường X: không đúng định dạng."
    with_error_message = field(
        {"type": "string", "pattern": "^[A-Z]+$", "errorMessage": {"pattern": "Chỉ chữ in hoa."}}
    )
    assert only(with_error_message, {"x": "a"}) == "Chỉ chữ in hoa."
    assert only(field({"type": "string", "maxLength": 2, "errorMessage": "Mã sai."}), {"x": "abc"}) == "Mã sai."


def test_formats_are_checked_with_vietnamese_messages():
    errors = validate_data(BIRTH_SCHEMA, birth(tre__ngay_sinh="2026-02-30", nguoi_yeu_cau__email="an@"))
    assert errors == {
        "nguoi_yeu_cau.email": "Thư điện tử: Địa chỉ email không hợp lệ.",
        "tre.ngay_sinh": "Ngày sinh: Ngày không hợp lệ (định dạng YYYY-MM-DD).",
    }
    assert only(field({"type": "string", "format": "date"}), {"x": "20/11/2026"}).startswith(
        "Trường X: Ngày không hợp lệ"
    )
    assert only(field({"type": "string", "format": "email"}), {"x": "an @example.vn"}).endswith("email không hợp lệ.")
    assert only(field({"type": "string", "format": "date-time"}), {"x": "2026-11-23T08:00"}).startswith(
        "Trường X: Ngày giờ không hợp lệ"
    )
    assert validate_data(field({"type": "string", "format": "date-time"}), {"x": "2026-11-23T08:00:00+07:00"}) == {}


def test_enum_oneof_and_const():
    errors = validate_data(BIRTH_SCHEMA, birth(nguoi_yeu_cau__quan_he="hang_xom", tre__gioi_tinh="khac"))
    assert errors == {
        "nguoi_yeu_cau.quan_he": "Quan hệ với người được khai sinh: vui lòng chọn một giá trị trong danh sách.",
        "tre.gioi_tinh": "Giới tính: vui lòng chọn một giá trị trong danh sách.",
    }
    assert validate_data(BIRTH_SCHEMA, birth(cam_doan=False)) == {
        "cam_doan": "Vui lòng đánh dấu Tôi cam đoan những nội dung khai trên đây là đúng sự thật."
    }
    assert only(field({"const": "nam", "oneOf": [{"const": "nam", "title": "Nam"}]}), {"x": "nu"}).startswith(
        "Trường X:"
    )
    assert only(field({"type": "string", "const": "VN"}), {"x": "LA"}) == "Trường X: phải là “VN”."


def test_arrays():
    assert only(field({"type": "array", "minItems": 1, "items": {"type": "string"}}), {"x": []}) == (
        "Trường X: cần ít nhất 1 mục."
    )
    assert only(field({"type": "array", "maxItems": 1, "items": {"type": "string"}}), {"x": ["a", "b"]}) == (
        "Trường X: tối đa 1 mục."
    )
    errors = validate_data(BIRTH_SCHEMA, birth(giay_to_kem_theo=["ket_hon", "ket_hon"]))
    assert errors == {"giay_to_kem_theo": "Giấy tờ nộp kèm: có mục bị trùng lặp."}
    errors = validate_data(BIRTH_SCHEMA, birth(giay_to_kem_theo=["ket_hon", "khac"]))
    assert errors == {"giay_to_kem_theo[1]": "Giấy tờ nộp kèm: vui lòng chọn một giá trị trong danh sách."}
    errors = validate_data(BIRTH_SCHEMA, birth(nguoi_lam_chung=[{"ho_ten": "A"}] * 3))
    assert errors == {"nguoi_lam_chung": "Người làm chứng: tối đa 2 mục."}


def test_additional_properties_are_named():
    errors = validate_data(BIRTH_SCHEMA, birth(la="x", ma_doc="y"))
    assert errors == {"": "Tờ khai đăng ký khai sinh: có trường không thuộc biểu mẫu (la, ma_doc)."}
    nested = field({"type": "object", "additionalProperties": False, "properties": {"a": {"type": "string"}}})
    assert only(nested, {"x": {"b": 1}}) == "Trường X: có trường không thuộc biểu mẫu (b)."


def test_root_that_is_not_an_object():
    assert validate_data(BIRTH_SCHEMA, [1]) == {"": "Tờ khai đăng ký khai sinh: phải là nhóm thông tin."}


def test_conditional_and_dependent_requirements_land_on_the_field():
    schema = {
        "type": "object",
        "properties": {
            "cach_nhan": {"type": "string", "title": "Cách nhận", "enum": ["truc_tiep", "buu_chinh"]},
            "dia_chi": {"type": "string", "title": "Địa chỉ nhận"},
            "so_nha": {"type": "string", "title": "Số nhà"},
            "duong": {"type": "string", "title": "Đường"},
        },
        "if": {"properties": {"cach_nhan": {"const": "buu_chinh"}}, "required": ["cach_nhan"]},
        "then": {"required": ["dia_chi"]},
        "dependentRequired": {"so_nha": ["duong"]},
    }
    assert validate_data(schema, {"cach_nhan": "buu_chinh", "so_nha": "12"}) == {
        "dia_chi": "Vui lòng nhập Địa chỉ nhận.",
        "duong": "Vui lòng nhập Đường.",
    }
    assert validate_data(schema, {"cach_nhan": "truc_tiep"}) == {}


def test_custom_required_message_from_the_parent():
    schema = {
        "type": "object",
        "required": ["a"],
        "errorMessage": {"required": {"a": "Hãy khai mục A."}},
        "properties": {"a": {"type": "string", "title": "A"}},
    }
    assert validate_data(schema, {}) == {"a": "Hãy khai mục A."}


def test_one_message_per_field_the_first_one():
    schema = field({"type": "string", "minLength": 5, "pattern": "^[0-9]+$"})
    errors = validate_data(schema, {"x": "ab"})
    assert errors == {"x": "Trường X: cần ít nhất 5 ký tự."}


def test_messages_follow_the_order_of_the_form():
    data = birth(cam_doan=False, nguoi_yeu_cau__ho_ten=None, tre__ngay_sinh="x", so_ban_sao=-1)
    assert list(validate_data(BIRTH_SCHEMA, data)) == [
        "nguoi_yeu_cau.ho_ten",
        "tre.ngay_sinh",
        "so_ban_sao",
        "cam_doan",
    ]


def test_messages_are_placed_on_the_rendered_fields():
    data = birth(nguoi_yeu_cau__so_dinh_danh="0010", tre__ho_ten=None)
    errors = validate_data(BIRTH_SCHEMA, data)
    tree = lxml.html.fromstring(f"<form>{render_form(BIRTH_SCHEMA, BIRTH_UI, data, errors)}</form>")
    for element_id in ("f-nguoi_yeu_cau-so_dinh_danh", "f-tre-ho_ten"):
        element = tree.get_element_by_id(element_id)
        assert element.get("aria-invalid") == "true"
        message = tree.get_element_by_id(f"{element_id}-error")
        assert message.get("role") == "alert" and message.text_content() in errors.values()
    assert tree.get_element_by_id("f-nguoi_yeu_cau-so_dinh_danh").value == "0010"


def test_undeclared_fields_are_refused_at_every_level_by_name():
    schema = {"type": "object", "title": "Tờ khai", "properties": {
        "nguoi": {"type": "object", "title": "Người khai", "properties": {"ten": {"type": "string"}}},
        "con": {"type": "array", "items": {"type": "object", "properties": {"ten": {"type": "string"}}}},
        "ten": {"type": "string"},
    }}
    data = {"ten": "A", "rac": "x" * 100, "nguoi": {"ten": "B", "dem": "y"}, "con": [{"ten": "C"}, {"tuoi": 3}]}
    assert validate_data(schema, data) == {
        "rac": "Trường «rac» không có trong Tờ khai; vui lòng bỏ trường này.",
        "nguoi.dem": "Trường «dem» không có trong Người khai; vui lòng bỏ trường này.",
        "con[1].tuoi": "Trường «tuoi» không có trong con; vui lòng bỏ trường này.",
    }


def test_fields_declared_in_conditions_or_definitions_count_as_declared():
    schema = {"type": "object", "$defs": {"nguoi": {"type": "object", "properties": {"ten": {"type": "string"}}}},
              "properties": {"loai": {"enum": ["a", "b"]}, "nguoi": {"$ref": "#/$defs/nguoi"}},
              "allOf": [{"if": {"properties": {"loai": {"const": "a"}}}, "then": {"properties": {"ly_do": {}}}}],
              "patternProperties": {"^x_": {"type": "string"}}}
    assert validate_data(schema, {"loai": "a", "ly_do": "z", "x_1": "ok", "nguoi": {"ten": "A"}}) == {}
    assert set(validate_data(schema, {"nguoi": {"ten": "A", "khac": 1}, "y_1": 2})) == {"nguoi.khac", "y_1"}


def test_a_schema_that_allows_other_fields_is_respected():
    open_schema = {"type": "object", "additionalProperties": True, "properties": {"a": {"type": "string"}}}
    assert validate_data(open_schema, {"a": "x", "b": 1}) == {}
    typed = {"type": "object", "additionalProperties": {"type": "integer"}, "properties": {"a": {"type": "string"}}}
    assert validate_data(typed, {"a": "x", "b": 1}) == {}
    assert list(validate_data(typed, {"a": "x", "b": "y"})) == ["b"]
    unevaluated = {"type": "object", "unevaluatedProperties": True, "properties": {"a": {"type": "string"}}}
    assert validate_data(unevaluated, {"a": "x", "b": 1}) == {}


def test_a_list_without_max_items_is_bounded_by_the_platform_cap():
    schema = {"type": "object", "properties": {
        "con": {"type": "array", "title": "Con",
                "items": {"type": "object", "properties": {"ten": {"type": "string"}}}},
        "it": {"type": "array", "maxItems": 500, "items": {"type": "integer"}},
    }}
    assert validate_data(schema, {"con": [{}] * 100, "it": [1] * 500}) == {}
    assert validate_data(schema, {"con": [{}] * 101}) == {"con": "Con: tối đa 100 mục."}
    assert validate_data(schema, {"con": [{}] * 6}, max_items=5) == {"con": "Con: tối đa 5 mục."}


def hang_guard(seconds: int = 10) -> contextlib.AbstractContextManager[None]:
    """Fail instead of hanging: a catastrophic regex would otherwise run for hours."""
    return guard(seconds, "still matching")


HOSTILE = "^(a+)+$"


def test_a_catastrophic_pattern_is_matched_in_linear_time():
    with hang_guard():
        assert only(field({"type": "string", "pattern": HOSTILE}), {"x": "a" * 5000 + "!"}) == (
            "Trường X: không đúng định dạng.")
        assert validate_data(field({"type": "string", "pattern": HOSTILE}), {"x": "a" * 5000}) == {}


def test_pattern_property_names_are_matched_in_linear_time():
    name = "a" * 5000 + "!"
    closed = {"type": "object", "properties": {"b": {"type": "string"}}, "patternProperties": {HOSTILE: {}},
              "additionalProperties": False}
    unevaluated = {"type": "object", "properties": {"b": {"type": "string"}}, "patternProperties": {HOSTILE: {}},
                   "unevaluatedProperties": False}
    typed = {"type": "object", "properties": {"b": {"type": "string"}},
             "patternProperties": {HOSTILE: {"type": "integer"}}}
    with hang_guard():
        assert list(validate_data(closed, {name: 1})) == [""]
        assert list(validate_data(unevaluated, {name: 1})) == [""]
        assert list(validate_data(typed, {name: 1})) == [name]
        assert validate_data(closed, {"a" * 5000: 1}) == {}
        assert validate_data(unevaluated, {"a" * 5000: 1}) == {}
        assert validate_data(typed, {"a" * 5000: 1}) == {}


def test_patterns_follow_json_schema_not_python():
    """`$` is the end of the text (no trailing newline slips through), `\\d` is an ASCII digit, and ECMA-262's
    `\\u` escapes are understood, as in a browser."""
    digits = field({"type": "string", "pattern": "^[0-9]{3}$"})
    assert validate_data(digits, {"x": "123"}) == {}
    assert list(validate_data(digits, {"x": "123\n"})) == ["x"]
    assert list(validate_data(field({"type": "string", "pattern": "^\\d+$"}), {"x": "١٢٣"})) == ["x"]
    letters = field({"type": "string", "pattern": "^[A-Za-z\\u00C0-\\u1EF9 ]+$"})
    assert validate_data(letters, {"x": "Nguyễn Văn An"}) == {}
    assert list(validate_data(letters, {"x": "An#"})) == ["x"]
    lone_surrogate = validate_data(field({"type": "string", "pattern": "^a$"}), {"x": "\ud800"})
    assert lone_surrogate == {"x": "Trường X: không đúng định dạng."}


def test_regex_format_values_are_checked_by_the_same_engine():
    schema = field({"type": "string", "format": "regex"})
    assert validate_data(schema, {"x": "^[a-z]+$"}) == {}
    assert list(validate_data(schema, {"x": "(a)\\1"})) == ["x"]


def test_a_keyed_validator_is_built_once_and_answers_as_a_fresh_one() -> None:
    from app.eforms import validate

    bad = copy.deepcopy(VALID_BIRTH_DATA)
    bad["tre"]["ngay_sinh"] = "2026-02-30"
    bad["them"] = "không khai báo"
    key = f"test-version-{id(bad)}:to-khai.schema.json"
    before = validate.builds
    fresh = [validate_data(BIRTH_SCHEMA, d) for d in (VALID_BIRTH_DATA, bad)]
    assert validate.builds == before + 2  # no key: one validator per call
    cached = [validate_data(BIRTH_SCHEMA, d, cache_key=key) for d in (VALID_BIRTH_DATA, bad, bad)]
    assert validate.builds == before + 3  # one more, then reused
    assert cached == [fresh[0], fresh[1], fresh[1]]
    assert fresh[0] == {} and fresh[1]


def test_the_validator_cache_is_bounded() -> None:
    from app.eforms import validate

    size = validate._VALIDATORS._size
    for i in range(size + 5):
        validate_data({"type": "object"}, {}, cache_key=f"bounded-{i}")
    assert len(validate._VALIDATORS._items) <= size
